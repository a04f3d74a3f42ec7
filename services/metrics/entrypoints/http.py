"""HTTP API of metrics (/api/metrics/v1/...): the rollout figures of a unit
(its whole subtree), its child units side by side, their history, and
training sessions."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from services.metrics import figures, reports
from sotay.contracts.metrics import TrainingRecorded
from services.metrics.projection import add_counts
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.events import make_message, uuid7
from sotay.kit.http import PROBLEM_RESPONSES, Problem, bearer_principal, invalid, json_response
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext

TRAINERS = ("unit_admin", "city_admin")


class WaveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    starts_on: date
    target_pct: float = Field(ge=0.01, le=100, description="kept to two decimals")
    deadline: date


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


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter(tags=["metrics"], responses=PROBLEM_RESPONSES)
    CurrentUser = Annotated[Principal, Depends(bearer_principal(ctx.verifier))]
    engine, reader = ctx.engine, ctx.reader

    async def _children(db, u: dict) -> list[dict]:
        rows = (await db.execute(text(
            f"SELECT {figures.UNIT_COLUMNS} FROM units WHERE path ~ :direct ORDER BY code"),
            {"direct": "^" + u["path"].replace(".", "\\.") + "[^/]+/$"})).mappings().all()
        return [dict(r) for r in rows]

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
            today = hanoi_day()
            items = list((await figures.of_units(db, await _children(db, u), today)).values())
        return json_response({"unit": u["code"], "items": items})

    @router.get("/rollout/history", summary="A figure of a unit day by day (as last published each day)")
    async def history(user: CurrentUser, unit: str = Query("city", max_length=40),
                      figure: str = Query("installed_pct_eligible", max_length=60),
                      since: date | None = None, until: date | None = None):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            today = hanoi_day()
            # Earlier days from the history, today from what was last published.
            rows = await db.execute(text(
                "SELECT day, figures -> :f AS value FROM unit_daily WHERE unit = :u AND day < :today "
                "AND (CAST(:s AS date) IS NULL OR day >= :s) AND (CAST(:t AS date) IS NULL OR day <= :t) "
                "UNION ALL SELECT CAST(:today AS date), CAST(figures AS jsonb) -> :f FROM published WHERE unit = :u "
                "AND (CAST(:s AS date) IS NULL OR :today >= :s) AND (CAST(:t AS date) IS NULL OR :today <= :t) "
                "ORDER BY day"), {"f": figure, "u": u["code"], "s": since, "t": until, "today": today})
            points = [{"day": r.day.isoformat(), "value": r.value} for r in rows]
        if points and all(p["value"] is None for p in points):
            raise invalid([("figure", f"{figure} is not a rollout figure")])
        return json_response({"unit": u["code"], "figure": figure, "points": points})

    @router.post("/training", status_code=201, summary="Record a training session (unit, date, topic, people)")
    async def record_training(body: TrainingBody, user: CurrentUser, request: Request):
        async def work(db):
            u = await _scoped_unit(db, user, body.unit, TRAINERS)
            if body.held_on > hanoi_day():
                raise invalid([("held_on", "is in the future")])
            session_id = uuid7()
            await db.execute(text(
                "INSERT INTO training_sessions (id, unit, held_on, topic, people, recorded_by) "
                "VALUES (:id, :u, :d, :t, :n, :by)"),
                {"id": session_id, "u": u["code"], "d": body.held_on, "t": body.topic.strip(), "n": body.people,
                 "by": user.subject})
            await add_counts(db, {u["code"]: {"trained_people": body.people, "training_sessions": 1}})
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

    # --- the rollout plan ------------------------------------------------------------------------

    @router.get("/plan", summary="Waves, their committees' progress against target, and who is behind")
    async def plan(user: CurrentUser):
        async with reader.connect() as db:
            city = await _scoped_unit(db, user, "city")
            today = hanoi_day()
            waves = [dict(r._mapping) for r in await db.execute(text("SELECT * FROM waves ORDER BY number"))]
            committees = [dict(r) for r in (await db.execute(text(
                f"SELECT {figures.UNIT_COLUMNS} FROM units WHERE kind = 'committee' "
                "ORDER BY code"))).mappings()]
            current = await figures.of_units(db, committees, today)
            out = []
            for wave in waves:
                expected = plan_expected(wave, today)
                units = []
                for c in (c for c in committees if c["wave"] == wave["number"]):
                    f = current[c["code"]]
                    units.append({"unit_code": c["code"], "unit_name": c["name"],
                                  "installed_pct_eligible": f["installed_pct_eligible"],
                                  "behind": f["installed_pct_eligible"] < expected})
                out.append({**{k: (v.isoformat() if isinstance(v, date) else float(v) if k == "target_pct" else v)
                               for k, v in wave.items()},
                            "expected_pct_today": round(expected, 2), "units": units,
                            "behind": [u["unit_code"] for u in units if u["behind"]]})
        return json_response({"as_of": today.isoformat(), "city": city["code"], "waves": out})

    @router.put("/plan/waves/{number}", summary="Set a wave's start, target and deadline (city admins)")
    async def set_wave(body: WaveBody, user: CurrentUser,
                       number: int = Path(ge=1, le=20, description="the wave (1 = the pilot)")):
        if "city" not in user.units_for("city_admin"):
            raise Problem(403, "Forbidden", "Only city admins change the rollout plan.")
        if body.deadline <= body.starts_on:
            raise invalid([("deadline", "must be after starts_on")])
        async with engine.begin() as db:
            await db.execute(text(
                "INSERT INTO waves (number, name, starts_on, target_pct, deadline) VALUES (:n, :name, :s, :t, :d) "
                "ON CONFLICT (number) DO UPDATE SET name = :name, starts_on = :s, target_pct = :t, deadline = :d"),
                {"n": number, "name": body.name, "s": body.starts_on, "t": body.target_pct, "d": body.deadline})
        return json_response({"number": number, **body.model_dump(mode="json")})

    # --- reports ------------------------------------------------------------------------------------

    @router.get("/reports/rollout.{fmt}", summary="The unit and the units directly under it, as CSV or XLSX",
                response_class=Response, responses={200: {"content": {
                    "text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
    async def report(fmt: Literal["csv", "xlsx"], user: CurrentUser, unit: str = Query("city", max_length=40)):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            today = hanoi_day()
            items = list((await figures.of_units(db, [u, *await _children(db, u)], today)).values())
        name = f"rollout-{u['code']}-{today.isoformat()}.{fmt}"
        body = reports.as_csv(items) if fmt == "csv" else reports.as_xlsx(items, u["code"])
        media = "text/csv; charset=utf-8" if fmt == "csv" else \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get("/reports/summary", summary="One paragraph on the unit's rollout, as the press reports it")
    async def summary(user: CurrentUser, unit: str = Query("city", max_length=40),
                      lang: Literal["vi", "en"] = "vi"):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            today = hanoi_day()
            f = await figures.of_unit(db, u, today)
            # "9 committees have installed for …": the units below that have accounts at all.
            below = sum(1 for c in (await figures.of_units(db, await _children(db, u), today)).values()
                        if c["accounts_installed"] > 0) if u["kind"] != "cell" else 0
        return json_response({"unit": u["code"], "lang": lang, "as_of": today.isoformat(),
                              "text": reports.summary(u, f, below, today, lang)})

    # --- for dashboards and monitoring --------------------------------------------------------------

    streams = StreamSlots(ctx.settings.sse_max_per_user, ctx.settings.sse_max_streams)

    @router.get("/rollout/stream", summary="Server-sent events: the unit's figures now, then each change")
    async def stream(user: CurrentUser, request: Request, unit: str = Query("city", max_length=40)):
        async with reader.connect() as db:
            u = await _scoped_unit(db, user, unit)
            first = await figures.of_unit(db, u, hanoi_day())
        subject = f"sotay.metrics.rollout.{u['committee'] if u['kind'] != 'city' else 'city'}"
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)

        async def on_snapshot(msg):
            data = orjson.loads(msg.data)["data"]
            if data["unit_code"] == u["code"] and not queue.full():
                queue.put_nowait(data)
        streams.take(user.subject)
        try:
            subscription = await ctx.nc.subscribe(subject, cb=on_snapshot)
        except BaseException:
            streams.give_back(user.subject)
            raise

        async def events():
            yield b"event: rollout\ndata: " + orjson.dumps(first) + b"\n\n"
            while not await request.is_disconnected():
                try:
                    data = await asyncio.wait_for(queue.get(), 15)
                    yield b"event: rollout\ndata: " + orjson.dumps(data) + b"\n\n"
                except TimeoutError:
                    yield b": keep-alive\n\n"

        async def closed() -> None:
            streams.give_back(user.subject)
            with contextlib.suppress(Exception):  # NATS gone (the process stopping): nothing to undo
                await subscription.unsubscribe()
        return ClosingStream(events(), closed, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @router.get("/prometheus", summary="Rollout gauges of the city and its committees (Prometheus text format)",
                response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def prometheus():
        async with reader.connect() as db:
            units = [dict(r) for r in (await db.execute(text(
                f"SELECT {figures.UNIT_COLUMNS} FROM units WHERE kind IN ('city', 'committee') ORDER BY path"
            ))).mappings()]
            now = await figures.of_units(db, units, hanoi_day())
        rows = [(u["code"], now[u["code"]]) for u in units]
        lines = []
        for name in GAUGES:
            lines.append(f"# TYPE sotay_rollout_{name} gauge")
            lines += [f'sotay_rollout_{name}{{unit="{unit}"}} {figs[name]}' for unit, figs in rows if name in figs]
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return router


class StreamSlots:
    """Open rollout streams, per account and in all (per process): each holds a connection and a
    NATS subscription for as long as a dashboard stays open, so one account opening streams in a
    loop, or a crowd of them, must not take them all. Over the account's cap: 429; over the
    process's: 503 (another replica may have room); both with Retry-After."""

    RETRY_AFTER_S = 30

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user, self.total = per_user, total
        self.open: Counter[str] = Counter()

    def take(self, who: str) -> None:
        if self.open[who] >= self.per_user:
            raise Problem(429, "Too many streams", f"At most {self.per_user} rollout streams per account are open at "
                          "once: close another dashboard first.", retry_after=self.RETRY_AFTER_S)
        if self.open.total() >= self.total:
            raise Problem(503, "Too many streams", "The service has as many rollout streams open as it serves: "
                          "try again shortly.", retry_after=self.RETRY_AFTER_S)
        self.open[who] += 1

    def give_back(self, who: str) -> None:
        self.open[who] -= 1
        if self.open[who] <= 0:
            del self.open[who]


class ClosingStream(StreamingResponse):
    """A streaming response that runs `on_close` once it is over, however it ends (finished, the
    client gone, the server stopping), even if its body was never started."""

    def __init__(self, content, on_close: Callable[[], Awaitable[None]], **kw) -> None:
        super().__init__(content, **kw)
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.on_close()


GAUGES = ("members_total", "members_eligible", "accounts_installed", "accounts_web", "accounts_mobile",
          "accounts_pending", "accounts_approved", "accounts_rejected", "installed_pct_total",
          "installed_pct_eligible", "readers_today", "trained_people", "training_sessions")


def plan_expected(wave: dict, today: date) -> float:
    """Where a wave's units should be today: from 0 at its start to its target at its deadline."""
    if today <= wave["starts_on"]:
        return 0.0
    if today >= wave["deadline"]:
        return float(wave["target_pct"])
    share = (today - wave["starts_on"]).days / (wave["deadline"] - wave["starts_on"]).days
    return float(wave["target_pct"]) * share

