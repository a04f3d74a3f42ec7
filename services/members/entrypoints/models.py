"""The registry API's request and response models (pydantic): what a route takes, and what
it answers (documented in its OpenAPI document; the routes shape their JSON themselves)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- requests -------------------------------------------------------------------------


class OrgUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=2, max_length=200)
    kind: Literal["city", "committee", "grassroots", "cell"]
    parent: str | None = None
    wave: int | None = Field(default=None, ge=1, le=20)


class OrgUnitChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    wave: int | None = Field(default=None, ge=1, le=20)
    closed: bool | None = None


Text = str | None


class MemberCreate(BaseModel):
    """Member fields as in the import columns; rules are the registry's (domain.parse_member)."""
    model_config = ConfigDict(extra="forbid")
    party_card_no: str
    full_name: str
    date_of_birth: str
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    unit: str
    admitted_on: Text = None
    official_on: Text = None
    status: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None


class MemberSearch(BaseModel):
    """A search in a body: a phone number in a URL would be written down by every proxy on the way."""
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=40)
    cursor: str | None = Field(default=None, max_length=1000)
    limit: int = Field(default=50, ge=1, le=500)


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: Text = None
    date_of_birth: Text = None
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    admitted_on: Text = None
    official_on: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None
    reason: str | None = Field(default=None, max_length=1000)


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_unit: str
    kind: Literal["official", "temporary"] = "official"
    reason: str | None = Field(default=None, max_length=1000)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "probationary", "exempt", "transferred_out", "deceased", "removed"]
    eligible: bool | None = None
    ineligible_reason: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=1000)


class CorrectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any]
    note: str | None = Field(default=None, max_length=2000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


# --- responses ------------------------------------------------------------------------


class OrgUnit(BaseModel):
    id: str
    code: str
    name: str
    kind: Literal["city", "committee", "grassroots", "cell"]
    committee: str
    path: list[str] = Field(description="The unit codes from the city down to this unit.")
    wave: int | None
    parent: str | None
    closed: bool
    version: int


class OrgUnitPage(BaseModel):
    items: list[OrgUnit]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page.")


class MemberSummary(BaseModel):
    """A member as a list, a transfer or a status change shows them."""
    id: str
    party_card_no: str
    full_name: str
    date_of_birth: date
    gender: str | None
    unit: str
    unit_name: str | None = Field(None, description="The unit's name (Chi bộ số 2), to tell namesakes apart")
    committee: str
    status: str
    eligible: bool
    ineligible_reason: str | None
    has_account: bool
    temporary_unit: str | None
    version: int
    admitted_on: date | None
    official_on: date | None


class MemberRecord(MemberSummary):
    """A member's full record: their identifiers (masked for readers who are not registry
    writers) and the record's times."""
    citizen_id: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime


class MemberPage(BaseModel):
    items: list[MemberSummary]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page.")


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]
    reason: str | None


class MemberHistory(BaseModel):
    items: list[HistoryEntry]


class CorrectionRequest(BaseModel):
    id: str
    member_id: str
    requested_by: str
    changes: dict[str, Any]
    note: str | None
    status: Literal["pending", "accepted", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    # In a list of requests only:
    party_card_no: str | None = None
    full_name: str | None = None
    masked: bool | None = Field(default=None, description="Whether the proposed values are shown masked.")
    can_decide: bool | None = Field(default=None, description="Whether the caller may accept or reject it.")
    current: dict[str, Any] | None = Field(default=None, description="In a list of requests: what the record "
                                           "says now of each field the request would change (masked as `changes`).")


class CorrectionRequests(BaseModel):
    items: list[CorrectionRequest]


class ImportStarted(BaseModel):
    id: str
    status: Literal["running"]


class RowError(BaseModel):
    row: int
    field: str
    column: str | None = Field(None, description="The field's column as the file heads it (Số thẻ đảng viên, …)")
    reason: str


class ImportStatus(BaseModel):
    id: str
    filename: str
    status: Literal["running", "done", "failed"]
    total_rows: int
    imported: int
    rejected: int
    errors: list[RowError]
    created_by: str
    started_at: datetime
    finished_at: datetime | None
