"""HTTP API of metrics (/api/metrics/v1/...): the rollout figures of a unit
(its whole subtree), its child units side by side, their history, training
sessions, the rollout plan, reports, and a live stream and gauges for
dashboards and monitoring. Thin: each route calls a handler (handlers/)."""

import asyncio
import contextlib
from datetime import date
from typing import Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response

from services.metrics.entrypoints import models
from services.metrics.entrypoints.models import TrainingBody, WaveBody
from services.metrics.entrypoints.streams import ClosingStream, StreamSlots
from services.metrics.handlers import plan as wave_plan
from services.metrics.handlers import reports
from services.metrics.handlers import rollout as reading
from services.metrics.handlers import subject
from services.metrics.handlers import training as sessions
from sotay.contracts.subject import SubjectData
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import json_response
from sotay.kit.observability import CONTENT_TYPE, scrape_guard
from sotay.kit.service import ServiceContext


STREAM_CHECK_S = 3.0  # how often a live stream checks that its token still holds
KEEP_ALIVE_S = 15.0  # a comment line at least this often, so proxies and the page know it is alive


def build_router(ctx: ServiceContext) -> APIRouter:
    router = service_router(ctx, tags=["metrics"])
    engine, reader = ctx.engine, ctx.reader

    @router.get("/me/data", response_model=SubjectData, summary="Everything metrics holds about you")
    async def my_data(user: CurrentUser):
        return json_response(await subject.held(reader, user))

    @router.get("/rollout", summary="A unit's rollout figures (its whole subtree); as_of for an earlier day",
                response_model=models.Figures)
    async def rollout(user: CurrentUser, unit: str = Query("city", max_length=40), as_of: date | None = None):
        return json_response(await reading.figures_of(reader, user, unit, as_of))

    @router.get("/rollout/place", summary="Where the caller's dashboard opens: the unit asked for if allowed, "
                "else their own; the units above it by name; where the plan says it should be today",
                response_model=models.Place)
    async def place(user: CurrentUser, unit: str | None = Query(None, max_length=40)):
        return json_response(await reading.place(reader, user, unit))

    @router.get("/rollout/children", summary="The figures of each unit directly under a unit, side by side",
                response_model=models.Children)
    async def children(user: CurrentUser, unit: str = Query("city", max_length=40)):
        return json_response(await reading.children(reader, user, unit))

    @router.get("/rollout/history", summary="A figure of a unit day by day (as last published each day)",
                response_model=models.History)
    async def history(user: CurrentUser, unit: str = Query("city", max_length=40),
                      figure: str = Query("installed_pct_eligible", max_length=60),
                      since: date | None = None, until: date | None = None):
        return json_response(await reading.figure_history(reader, user, unit, figure, since, until))

    @router.post("/training", status_code=201, summary="Record a training session (unit, date, topic, people)",
                 responses={201: {"model": models.TrainingSession}})
    async def record_training(body: TrainingBody, user: CurrentUser, request: Request):
        async def work(db):
            return json_response(await sessions.record(db, user, body.unit, body.held_on, body.topic, body.people),
                                 201)
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/training", summary="Training sessions in a unit's subtree", response_model=models.TrainingSessions)
    async def training(user: CurrentUser, unit: str = Query("city", max_length=40)):
        return json_response(await sessions.sessions(reader, user, unit))

    # --- the rollout plan ------------------------------------------------------------------------

    @router.get("/plan", summary="Waves, their committees' progress against target, and who is behind",
                response_model=models.Plan)
    async def plan(user: CurrentUser):
        return json_response(await wave_plan.progress(reader, user))

    @router.put("/plan/waves/{number}", summary="Set a wave's start, target and deadline (city admins)",
                response_model=models.WaveSet)
    async def set_wave(body: WaveBody, user: CurrentUser,
                       number: int = Path(ge=1, le=20, description="the wave (1 = the pilot)")):
        await wave_plan.set_wave(engine, user, number, body.name, body.starts_on, body.target_pct, body.deadline)
        return json_response({"number": number, **body.model_dump(mode="json")})

    # --- reports ------------------------------------------------------------------------------------

    @router.get("/reports/rollout.{fmt}", summary="The units directly under a unit and its total, as XLSX or CSV "
                "to hand out: a title row (the unit, the day), headings in Vietnamese (English with lang=en)",
                response_class=Response, responses=models.FILE_RESPONSES)
    async def report(fmt: Literal["csv", "xlsx"], user: CurrentUser, unit: str = Query("city", max_length=40),
                     lang: Literal["vi", "en"] = "vi"):
        name, body = await reports.table(reader, user, unit, fmt, lang)
        return Response(body, media_type=reports.MEDIA_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get("/reports/summary", summary="One paragraph on the unit's rollout, as the press reports it",
                response_model=models.Summary)
    async def summary(user: CurrentUser, unit: str = Query("city", max_length=40), lang: Literal["vi", "en"] = "vi"):
        return json_response(await reports.summary(reader, user, unit, lang))

    # --- for dashboards and monitoring --------------------------------------------------------------

    streams = StreamSlots(ctx.settings.sse_max_per_user, ctx.settings.sse_max_streams)

    @router.get("/rollout/stream", summary="Server-sent events: the unit's figures now, then each change",
                response_class=Response, responses=models.EVENT_STREAM)
    async def stream(user: CurrentUser, request: Request, unit: str = Query("city", max_length=40)):
        u, subject, first = await reading.live_start(reader, user, unit)
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

        token = request.headers["authorization"].partition(" ")[2].strip()

        async def events():
            yield b"event: rollout\ndata: " + orjson.dumps(first) + b"\n\n"
            quiet = 0.0
            while not await request.is_disconnected():
                # The stream lasts as long as the token it was opened with: when that expires, or the
                # session is ended, it says so and closes (the page reconnects with its renewed token,
                # or says the session has ended), never showing figures as live to a closed session.
                why = reading.token_lapsed(ctx.verifier.verify, token)
                if why:
                    yield b"event: ended\ndata: " + orjson.dumps({"reason": why}) + b"\n\n"
                    return
                try:
                    data = await asyncio.wait_for(queue.get(), STREAM_CHECK_S)
                    yield b"event: rollout\ndata: " + orjson.dumps(data) + b"\n\n"
                    quiet = 0.0
                except TimeoutError:
                    quiet += STREAM_CHECK_S
                    if quiet >= KEEP_ALIVE_S:
                        yield b": keep-alive\n\n"
                        quiet = 0.0

        async def closed() -> None:
            streams.give_back(user.subject)
            with contextlib.suppress(Exception):  # NATS gone (the process stopping): nothing to undo
                await subscription.unsubscribe()
        return ClosingStream(events(), closed, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    scraper = scrape_guard(ctx.settings)

    @router.get("/prometheus", summary="Rollout gauges of the city and its committees (Prometheus text format), "
                "for the scraper: the scrape token (SOTAY_METRICS_TOKEN) as a bearer token",
                response_class=Response, responses=models.PROMETHEUS_TEXT)
    async def prometheus(authorization: str | None = Header(None, include_in_schema=False)):
        scraper(authorization)
        return Response(await reading.prometheus(reader), media_type=CONTENT_TYPE)

    return router
