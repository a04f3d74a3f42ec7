"""The request and response bodies of webhooks' HTTP API. The routes answer with
json_response: these models document what they send (they do not filter it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# --- requests ---------------------------------------------------------------------------------


class EndpointBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    committee: str = Field(max_length=40, description="the committee code (or city) whose events it receives")
    url: str = Field(max_length=2000, description="https; never a loopback, private, link-local or cluster address")
    mode: Literal["structured", "binary"] = Field("structured", description="CloudEvents HTTP content mode")
    description: str = Field("", max_length=300)


class EnabledBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str | None = Field(None, max_length=40, description="only this endpoint's failed deliveries")


# --- responses --------------------------------------------------------------------------------


class Endpoint(BaseModel):
    id: str
    committee: str
    url: str
    mode: str
    description: str
    enabled: bool
    created_by: str
    created_at: str
    pending: int
    failed: int
    last_delivered_at: str | None


class NewEndpoint(Endpoint):
    secret: str = Field(description="the signing secret, shown this once only")


class Endpoints(BaseModel):
    items: list[Endpoint]


class Delivery(BaseModel):
    id: int
    endpoint_id: str
    committee: str
    event_id: str
    event_type: str
    subject: str
    stream: str
    stream_seq: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    failed_at: str | None


class Deliveries(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class Retried(BaseModel):
    retried: list[int]
