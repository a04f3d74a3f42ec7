"""The operator's side: setting up an endpoint (its secret made here and shown once), listing
endpoints and deliveries, and sending a failed delivery again. City admins only: an endpoint
receives a committee's events, personal data among them (sealed), so who gets them is the
city's decision, and the bridge's API shows every committee's deliveries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.webhooks.adapters import store
from services.webhooks.adapters.sender import url_refusal_now
from services.webhooks.domain import COMMITTEE_CODE, MODES, new_secret
from sotay.kit.auth import Principal
from sotay.kit.egress import EgressPolicy
from sotay.kit.http import Problem, invalid
from sotay.kit.keys import seal

STATUSES = ("pending", "delivered", "failed")


def require_city_admin(user: Principal) -> None:
    if "city" not in user.units_for("city_admin"):
        raise Problem(403, "Forbidden", "Only city admins manage webhooks.")


def secret_context(endpoint_id: uuid.UUID | str) -> str:
    """What a sealed secret is bound to: its endpoint (a sealed value moved to another row does not open)."""
    return f"webhook-secret:{endpoint_id}"


async def add(engine: AsyncEngine, kek: bytes, policy: EgressPolicy, *, actor: str, committee: str, url: str,
              mode: str = "structured", description: str = "") -> dict[str, Any]:
    """A new endpoint, and its secret (the only time it is shown)."""
    problems = []
    if not COMMITTEE_CODE.match(committee or ""):
        problems.append(("committee", "must be a committee code (lowercase letters, digits, dashes) or city"))
    refusal = await url_refusal_now(url, policy) if isinstance(url, str) else "is not a URL"
    if refusal is not None:
        problems.append(("url", refusal))
    if mode not in MODES:
        problems.append(("mode", f"must be one of {', '.join(MODES)}"))
    if problems:
        raise invalid(problems)
    endpoint_id = uuid.uuid4()
    secret = new_secret()
    async with engine.begin() as db:
        if not await store.committee_known(db, committee):
            raise invalid([("committee", "is not a committee directly under the city, nor the city")])
        if not await store.insert_endpoint(db, endpoint_id=endpoint_id, committee=committee, url=url, mode=mode,
                                           secret_sealed=seal(kek, secret.encode(), context=secret_context(endpoint_id)),
                                           description=description, created_by=actor):
            raise Problem(409, "Conflict", "This committee already has an endpoint at this URL.",
                          errors=[{"field": "url", "reason": "already set up for this committee"}])
        created = await store.endpoint(db, endpoint_id)
    return {**shown(created), "secret": secret}


def shown(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {**endpoint, "id": str(endpoint["id"]), "created_at": store.as_time(endpoint["created_at"]),
            "last_delivered_at": store.as_time(endpoint["last_delivered_at"])}


def shown_delivery(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("endpoint_id", "event_id"):
        out[key] = str(out[key])
    for key in ("next_attempt_at", "last_attempt_at", "created_at", "delivered_at", "failed_at"):
        out[key] = store.as_time(out[key])
    if out["status"] != "pending":
        out["next_attempt_at"] = None
    return out


async def list_endpoints(engine: AsyncEngine, committee: str | None = None) -> list[dict[str, Any]]:
    async with engine.connect() as db:
        return [shown(e) for e in await store.endpoints(db, committee=committee)]


async def set_enabled(engine: AsyncEngine, endpoint_id: uuid.UUID, enabled: bool) -> dict[str, Any]:
    async with engine.begin() as db:
        if not await store.set_enabled(db, endpoint_id, enabled):
            raise Problem(404, "Not found", "No such endpoint.")
        return shown(await store.endpoint(db, endpoint_id))


async def list_deliveries(engine: AsyncEngine, *, status: str | None = None, endpoint_id: uuid.UUID | None = None,
                          committee: str | None = None, after: int | None = None,
                          limit: int = 50) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise invalid([("status", f"must be one of {', '.join(STATUSES)}")])
    async with engine.connect() as db:
        rows = await store.deliveries(db, status=status, endpoint_id=endpoint_id, committee=committee, after=after,
                                      limit=limit)
    return [shown_delivery(r) for r in rows]


async def get_delivery(engine: AsyncEngine, delivery_id: int) -> dict[str, Any]:
    async with engine.connect() as db:
        row = await store.delivery(db, delivery_id)
    if row is None:
        raise Problem(404, "Not found", "No such delivery.")
    return shown_delivery(row)


async def retry(engine: AsyncEngine, delivery_ids: list[int]) -> list[int]:
    """Send failed deliveries again (the dispatcher picks them up as the oldest pending of their
    endpoint); the ids that were failed and are pending now."""
    async with engine.begin() as db:
        return await store.retry(db, delivery_ids)


async def retry_one(engine: AsyncEngine, delivery_id: int) -> dict[str, Any]:
    current = await get_delivery(engine, delivery_id)
    if current["status"] != "failed":
        raise Problem(409, "Conflict", f"The delivery is {current['status']}: only a failed one is sent again.")
    await retry(engine, [delivery_id])
    return await get_delivery(engine, delivery_id)


async def retry_failed(engine: AsyncEngine, endpoint_id: uuid.UUID | None) -> list[int]:
    async with engine.begin() as db:
        return await store.retry(db, await store.failed_ids(db, endpoint_id))
