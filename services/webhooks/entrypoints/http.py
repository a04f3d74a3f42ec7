"""HTTP API of webhooks (/api/webhooks/v1/...): the endpoints outside systems receive their
committee's events at, and the deliveries to them, for city admins. Thin: each route calls a
handler (handlers/endpoints.py)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Path, Query

from services.webhooks.adapters.sender import policy_from_settings
from services.webhooks.entrypoints import models
from services.webhooks.handlers import endpoints as handling
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import decode_cursor, encode_cursor, invalid, json_response
from sotay.kit.keys import webhooks_kek
from sotay.kit.service import ServiceContext


def _uuid(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid([(field, "is not an endpoint id")]) from None


def build_router(ctx: ServiceContext) -> APIRouter:
    router = service_router(ctx, tags=["webhooks"])
    engine, reader = ctx.engine, ctx.reader
    policy = policy_from_settings(ctx.settings)

    @router.get("/endpoints", summary="The webhook endpoints, each with its pending and failed deliveries "
                "(never its secret)", response_model=models.Endpoints)
    async def list_endpoints(user: CurrentUser, committee: str | None = Query(None, max_length=40)):
        handling.require_city_admin(user)
        return json_response({"items": await handling.list_endpoints(reader, committee)})

    @router.post("/endpoints", status_code=201, summary="Set up an endpoint for a committee's events; its signing "
                 "secret is in this answer only", responses={201: {"model": models.NewEndpoint}})
    async def add_endpoint(body: models.EndpointBody, user: CurrentUser):
        # Not through the Idempotency-Key store: the answer holds the secret, which is kept sealed
        # only. A repeated POST is refused instead (409: the committee has an endpoint at this URL).
        handling.require_city_admin(user)
        created = await handling.add(engine, webhooks_kek(ctx.settings), policy, actor=user.subject,
                                     committee=body.committee, url=body.url, mode=body.mode,
                                     description=body.description)
        return json_response(created, 201, headers={"Cache-Control": "no-store"})

    @router.put("/endpoints/{endpoint_id}/enabled", summary="Turn an endpoint on or off (off: its committee's "
                "events are no longer queued for it; what is queued waits)", response_model=models.Endpoint)
    async def set_enabled(body: models.EnabledBody, user: CurrentUser, endpoint_id: str = Path(max_length=40)):
        handling.require_city_admin(user)
        return json_response(await handling.set_enabled(engine, _uuid(endpoint_id, "endpoint_id"), body.enabled))

    @router.get("/deliveries", summary="Deliveries, newest first (status pending, delivered or failed)",
                response_model=models.Deliveries)
    async def deliveries(user: CurrentUser, status: Literal["pending", "delivered", "failed"] | None = None,
                         endpoint: str | None = Query(None, max_length=40),
                         committee: str | None = Query(None, max_length=40),
                         cursor: str | None = Query(None, max_length=200), limit: int = Query(50, ge=1, le=500)):
        handling.require_city_admin(user)
        after = None
        if cursor:
            (last,) = decode_cursor(cursor, 1)
            if not last.isdigit():
                raise invalid([("cursor", "is not a cursor this service issued")])
            after = int(last)
        items = await handling.list_deliveries(reader, status=status, endpoint_id=_uuid(endpoint, "endpoint"),
                                               committee=committee, after=after, limit=limit)
        next_cursor = encode_cursor(str(items[-1]["id"])) if len(items) == limit else None
        return json_response({"items": items, "next_cursor": next_cursor})

    @router.get("/deliveries/{delivery_id}", summary="One delivery: its tries and what the endpoint answered",
                response_model=models.Delivery)
    async def delivery(user: CurrentUser, delivery_id: int = Path(ge=1, le=2**62)):
        handling.require_city_admin(user)
        return json_response(await handling.get_delivery(reader, delivery_id))

    @router.post("/deliveries/{delivery_id}/retry", summary="Send a failed delivery again (from its first try)",
                 response_model=models.Delivery)
    async def retry(user: CurrentUser, delivery_id: int = Path(ge=1, le=2**62)):
        handling.require_city_admin(user)
        return json_response(await handling.retry_one(engine, delivery_id))

    @router.post("/deliveries/retry", summary="Send every failed delivery again (of one endpoint, if given)",
                 response_model=models.Retried)
    async def retry_all(body: models.RetryBody, user: CurrentUser):
        handling.require_city_admin(user)
        return json_response({"retried": await handling.retry_failed(engine, _uuid(body.endpoint, "endpoint"))})

    return router
