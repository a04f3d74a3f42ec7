"""HTTP API of metrics (/api/metrics/v1/...): the rollout figures of a unit
(its whole subtree), its child units side by side, their history, and
training sessions."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from services.metrics import figures
from services.metrics.events import TrainingRecorded
from services.metrics.projection import add_counts
from sotay.auth import Principal
from sotay.clock import hanoi_day
from sotay.events import make_message, uuid7
from sotay.http import Problem, bearer_principal, invalid, json_response
from sotay.outbox import add_events
from sotay.service import ServiceContext

TRAINERS = ("unit_admin", "city_admin")


class TrainingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(max_length=40)
    held_on: date
    topic: str = Field(min_length=2, max_length=300)
    people: int = Field(ge=1, le=100_000)


async def _scoped_unit(db, user: Principal, code: str, roles: tuple[str, ...] | None = None) -> dict:
    """The unit, if the caller's roles cover it; otherwise 404 or 403 alike to outsiders."""
    u = await figures.unit(db, code)
    if u is None:
        raise Problem(404, "Not found", f"No unit {code}.")
    grants = [g.unit for g in user.grants if roles is None or g.role in roles]
    paths = list((await db.execute(text("SELECT path FROM units WHERE code = ANY(:c)"), {"c": grants})).scalars())
    if not any(u["path"].startswith(p) for p in paths):
        raise Problem(403, "Forbidden", "This unit is outside the units your roles cover.")
    return u


def build_router(ctx: ServiceContext, publisher) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    CurrentUser = Annotated[Principal, Depends(bearer_principal(ctx.verifier))]
    engine, reader = ctx.engine, ctx.reader

    @router.get("/rollout", summary="A unit's rollout figures (its whole subtree); as_of for an earlier day")
    async def rollout(user: CurrentUser, unit: str = Query("city", max_length=40), as_of: date | None = None):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            today = hanoi_day()
            if as_of is None or as_of == today:
                return json_response(await figures.of_unit(db, u, today))
            if as_of > today:
                raise invalid([("as_of", "is in the future")])
            kept = (await db.execute(text(
                "SELECT figures FROM unit_daily WHERE unit = :u AND day <= :d ORDER BY day DESC LIMIT 1"),
                {"u": u["code"], "d": as_of})).scalar()
        if kept is None:
            raise Problem(404, "No figures", f"No figures were kept for {u['code']} on or before {as_of}.")
        return json_response({**kept, "as_of": as_of.isoformat()})

    @router.get("/rollout/children", summary="The figures of each unit directly under a unit, side by side")
    async def children(user: CurrentUser, unit: str = Query("city", max_length=40)):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            rows = (await db.execute(text(
                "SELECT code, unit_id, name, kind, path, committee, wave FROM units WHERE path LIKE :p "
                "AND path ~ :direct ORDER BY code"),
                {"p": u["path"] + "%", "direct": "^" + u["path"].replace(".", "\\.") + "[^/]+/$"})).mappings().all()
            today = hanoi_day()
            items = [await figures.of_unit(db, dict(r), today) for r in rows]
        return json_response({"unit": u["code"], "items": items})

    @router.get("/rollout/history", summary="A figure of a unit day by day (as last published each day)")
    async def history(user: CurrentUser, unit: str = Query("city", max_length=40),
                      figure: str = Query("installed_pct_eligible", max_length=60),
                      since: date | None = None, until: date | None = None):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            rows = await db.execute(text(
                "SELECT day, figures -> :f AS value FROM unit_daily WHERE unit = :u "
                "AND (CAST(:s AS date) IS NULL OR day >= :s) AND (CAST(:t AS date) IS NULL OR day <= :t) "
                "ORDER BY day"), {"f": figure, "u": u["code"], "s": since, "t": until})
            points = [{"day": r.day.isoformat(), "value": r.value} for r in rows]
        if points and all(p["value"] is None for p in points):
            raise invalid([("figure", f"{figure} is not a rollout figure")])
        return json_response({"unit": u["code"], "figure": figure, "points": points})

    @router.post("/training", status_code=201, summary="Record a training session (unit, date, topic, people)")
    async def record_training(body: TrainingBody, user: CurrentUser, request: Request):
        async def work():
            async with engine.begin() as db:
                u = await _scoped_unit(db, user, body.unit, TRAINERS)
                if body.held_on > hanoi_day():
                    raise invalid([("held_on", "is in the future")])
                session_id = uuid7()
                await db.execute(text(
                    "INSERT INTO training_sessions (id, unit, held_on, topic, people, recorded_by) "
                    "VALUES (:id, :u, :d, :t, :n, :by)"),
                    {"id": session_id, "u": u["code"], "d": body.held_on, "t": body.topic.strip(), "n": body.people,
                     "by": user.subject})
                await add_counts(db, {u["code"]: {"trained_people": body.people, "training_sessions": 1}},
                                 publisher.touched)
                await add_events(db, "metrics", [make_message(TrainingRecorded(
                    session_id=str(session_id), unit=u["code"], held_on=body.held_on, topic=body.topic.strip(),
                    people=body.people), aggregate_id=str(session_id), committee=u["committee"], orgunit=u["code"])])
            return json_response({"id": str(session_id), "unit": u["code"], "held_on": body.held_on.isoformat(),
                                  "topic": body.topic.strip(), "people": body.people}, 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/training", summary="Training sessions in a unit's subtree")
    async def training(user: CurrentUser, unit: str = Query("city", max_length=40)):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            rows = await db.execute(text(
                "SELECT t.id, t.unit, t.held_on, t.topic, t.people FROM training_sessions t JOIN units u "
                "ON u.code = t.unit WHERE u.path LIKE :p ORDER BY t.held_on DESC, t.id LIMIT 500"),
                {"p": u["path"] + "%"})
            return json_response({"items": [dict(r._mapping) for r in rows]})

    return router

