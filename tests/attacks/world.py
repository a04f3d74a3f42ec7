"""The attack suite's world: every service on real NATS JetStream and PostgreSQL,
behind a real uvicorn server, with a small seeded org tree (two committees),
members, registrations, articles, feedback, a meeting, a document, a study
topic with a quiz taken, a correction request and the year's review (An's self-assessment in
ba-dinh, Cường's decided in tay-ho), so fuzzed and hostile requests reach past the lookups.

The system lives on an event loop in a background thread: schemathesis and
hypothesis drive it synchronously over HTTP (its calls block), and a test
that needs the database runs a coroutine there (`world.run`). Each module gets
its own world (a fresh database and NATS server), so one module's fuzzing
cannot change what another relies on.

What the suite tried is counted in tally.py and printed at the end of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

import services.content
import services.identity
import services.members
import services.metrics
import services.webhooks
from services.metrics.handlers.snapshots import PUBLISHED_EVERY_S
from sotay.kit.clock import hanoi_day
from sotay.kit.embedded import EmbeddedNats
from tests.support.push import a_device
from tests.support.system import CONSENT, RunningSystem, make_settings, real_server, running_system

class Background:
    """An event loop in a thread of its own; coroutines are run on it from tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="attacks-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 120.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


COMMITTEES = {"ba-dinh": ("bd-g1", ["bd-g1-c1", "bd-g1-c2"]), "tay-ho": ("th-g1", ["th-g1-c1"])}
# name, card, unit, date of birth, phone
MEMBERS = {
    "an": ("Nguyễn Văn An", "0100000001", "bd-g1-c1", "1970-01-01", "0912000001"),
    "binh": ("Trần Thị Bình", "0100000002", "bd-g1-c2", "1972-02-02", "0912000002"),
    "cuong": ("Lê Văn Cường", "0200000001", "th-g1-c1", "1975-03-03", "0912000003"),
    "dung": ("Phạm Thị Dung", "0200000002", "th-g1-c1", "1978-04-04", "0912000004"),
    "giang": ("Hoàng Văn Giang", "0100000003", "bd-g1-c2", "1965-05-05", "0912000005"),
}
PASSWORD = "Chi bo so 1 vung manh"
# The quiz of ba-dinh's study topic.
STUDY_QUESTIONS = [{"prompt": "Nghị quyết bàn về nội dung gì?", "options": ["Xây dựng Đảng", "Giao thông"],
                    "correct": 0, "explanation": "Công tác xây dựng Đảng."},
                   {"prompt": "Học tập ở đâu?", "options": ["Tại chi bộ", "Ở nhà", "Không học"], "correct": 0}]

REVIEW_WORDS = "Bản tự kiểm điểm của ba-dinh"


@dataclass
class World:
    bg: Background
    system: RunningSystem
    base_url: str
    ids: dict[str, str] = field(default_factory=dict)

    def run(self, coro, timeout: float = 120.0):
        return self.bg.run(coro, timeout)

    def token(self, role: str, unit: str = "city", **kw) -> str:
        return self.system.token(role, unit, **kw)

    def auth(self, role: str, unit: str = "city", **kw) -> dict[str, str]:
        return self.system.auth(role, unit, **kw)

    def member_auth(self, who: str) -> dict[str, str]:
        name, card, unit, *_ = MEMBERS[who]
        return self.auth("member", unit, card=card, subject=f"account-{who}")

    def engine(self, service: str):
        return self.system.runtimes[service].context.engine

    def scalar(self, service: str, sql: str, **params) -> Any:
        async def go():
            async with self.engine(service).connect() as conn:
                return (await conn.execute(text(sql), params)).scalar()
        return self.run(go())

    def digest(self, service: str) -> dict[str, str]:
        """A digest of every table of the service's schema: equal digests, equal rows.
        The outbox and inbox count by id only (the relay stamps rows as it publishes)."""
        async def go():
            async with self.engine(service).connect() as conn:
                tables = (await conn.execute(text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = :s "
                    "AND table_type = 'BASE TABLE' ORDER BY table_name"), {"s": service})).scalars().all()
                out = {}
                for table in tables:
                    row = "t.event_id::text" if table == "outbox" else "t::text"
                    if table == "inbox":
                        row = "t.consumer || t.event_id::text"
                    out[table] = (await conn.execute(text(
                        f'SELECT count(*) || \':\' || coalesce(md5(string_agg(md5({row}), \'\' ORDER BY md5({row}))), '
                        f'\'\') FROM "{service}"."{table}" t'))).scalar()
                return out
        return self.run(go())

    def quiet_digest(self, service: str, timeout: float = 20.0) -> dict[str, str]:
        """The service's digest once it has settled (what an applied event set moving has stopped)."""
        span = SETTLED_FOR_S if service == "metrics" else 0.3  # only metrics writes on its own, later
        return _settled(lambda: self.digest(service), timeout, f"{service} did not settle", span)

    def changed_since(self, before: Digests) -> list[str]:
        """The tables (service.table) whose rows differ from `before`, once the system has settled."""
        return sorted(changed_between(before, self.quiet_digests()))

    def digests(self) -> dict[str, dict[str, str]]:
        return {name: self.digest(name) for name in self.system.runtimes}

    def quiet_digests(self, timeout: float = 20.0) -> Digests:
        """The digests once the system has settled (events relayed and applied, counters folded)."""
        first_day = hanoi_day()
        settled = _settled(self.digests, timeout, "the system did not settle")
        return Digests(settled, first_day=first_day, last_day=hanoi_day())


class Digests(dict):
    """Each service's table digests, and the Hanoi days on which their reading began and ended."""

    def __init__(self, digests: dict[str, dict[str, str]], first_day: date, last_day: date):
        super().__init__(digests)
        self.first_day, self.last_day = first_day, last_day


# What metrics writes by itself when the Hanoi day turns: the day's figures kept, and the snapshot published.
DAY_TURN = {"metrics.unit_daily", "metrics.published", "metrics.outbox"}


def changed_between(before: Digests, after: Digests) -> set[str]:
    """The tables (service.table) whose rows differ, leaving out metrics' day turn when midnight fell between."""
    changed = {f"{service}.{table}" for service in after for table in after[service]
               if after[service][table] != before.get(service, {}).get(table)}
    if before.first_day != after.last_day:
        changed -= DAY_TURN
    return changed


# Settled means unchanged for longer than the metrics publisher leaves a published snapshot
# unwritten to its table (it writes them PUBLISHED_EVERY_S after the last, in its next round).
SETTLED_FOR_S = PUBLISHED_EVERY_S + 1.0


def _settled(read, timeout: float, failure: str, span: float = SETTLED_FOR_S):
    """`read()` once it has returned the same for `span` seconds."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while True:
        time.sleep(0.3)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= span:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(failure)


async def _eventually(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} not met within {timeout}s")
        await asyncio.sleep(0.1)


async def _seed(system: RunningSystem) -> dict[str, str]:
    client, ids = system.client, {}
    admin = system.auth("city_admin")

    async def ok(response, *codes):
        assert response.status_code in (codes or (200, 201, 202)), response.text
        return response.json()

    tree = [{"code": "city", "name": "Đảng bộ thành phố Hà Nội", "kind": "city"}]
    for wave, (committee, (grassroots, cells)) in enumerate(COMMITTEES.items(), start=1):
        tree.append({"code": committee, "name": f"Đảng bộ {committee}", "kind": "committee", "parent": "city",
                     "wave": wave})
        tree.append({"code": grassroots, "name": f"Đảng bộ phường {grassroots}", "kind": "grassroots",
                     "parent": committee})
        tree += [{"code": c, "name": f"Chi bộ {c}", "kind": "cell", "parent": grassroots} for c in cells]
    for unit in tree:
        await ok(await client.post("/api/members/v1/org-units", json=unit, headers=admin))
    for key, (name, card, unit, dob, phone) in MEMBERS.items():
        body = {"party_card_no": card, "full_name": name, "date_of_birth": dob, "gender": "male", "phone": phone,
                "unit": unit, "status": "active", "eligible": True}
        ids[f"member_{key}"] = (await ok(await client.post("/api/members/v1/members", json=body, headers=admin)))["id"]

    async def replicas_caught_up():
        async with system.runtimes["identity"].context.engine.connect() as conn:
            members = (await conn.execute(text("SELECT count(*) FROM registry_members"))).scalar()
            units = (await conn.execute(text("SELECT count(*) FROM registry_units"))).scalar()
        async with system.runtimes["content"].context.engine.connect() as conn:
            readers = (await conn.execute(text("SELECT count(*) FROM readers"))).scalar()
        async with system.runtimes["metrics"].context.engine.connect() as conn:
            known = (await conn.execute(text("SELECT count(*) FROM units"))).scalar()
        return members == len(MEMBERS) and units == len(tree) and readers == len(MEMBERS) and known == len(tree)
    await _eventually(replicas_caught_up)

    # Registrations: Dung waits in tay-ho; Cường (tay-ho) and Giang (ba-dinh) are approved (accounts);
    # An waits in ba-dinh.
    for key in ("dung", "cuong", "an", "giang"):
        name, card, unit, dob, phone = MEMBERS[key]
        reg = await ok(await client.post("/api/identity/v1/registrations", json={
            "party_card_no": card, "full_name": name, "date_of_birth": dob, "phone": phone, "password": PASSWORD,
            "platform": "mobile", "consent": CONSENT}))
        ids[f"registration_{key}"] = reg["id"]
    approved = await ok(await client.post(f"/api/identity/v1/registrations/{ids['registration_cuong']}/approve",
                                          headers=system.auth("unit_admin", "tay-ho")))
    ids["account_cuong"] = approved["account_id"]
    approved = await ok(await client.post(f"/api/identity/v1/registrations/{ids['registration_giang']}/approve",
                                          headers=system.auth("unit_admin", "ba-dinh")))
    ids["account_giang"] = approved["account_id"]

    # Articles: one of ba-dinh for ba-dinh, published; one of tay-ho for tay-ho, published; a ba-dinh draft.
    for committee in COMMITTEES:
        article = await ok(await client.post("/api/content/v1/articles", json={
            "title": f"Nghị quyết của {committee}", "body": "Nội dung **quan trọng** về kế hoạch 121.",
            "category": "news", "audience": [committee]}, headers=system.auth("editor", committee)))
        ids[f"article_{committee}"] = article["id"]
        for step, role in (("submit", "editor"), ("approve", "chief_editor"), ("publish", "chief_editor")):
            await ok(await client.post(f"/api/content/v1/articles/{article['id']}/{step}",
                                       headers=system.auth(role, committee, subject=f"{role}-{committee}")))
    draft = await ok(await client.post("/api/content/v1/articles", json={
        "title": "Bản nháp", "body": "Chưa duyệt.", "category": "news", "audience": ["ba-dinh"]},
        headers=system.auth("editor", "ba-dinh")))
    ids["draft_ba-dinh"] = draft["id"]
    an = system.auth("member", "bd-g1-c1", card=MEMBERS["an"][1], subject="account-an")
    feedback = await ok(await client.post(f"/api/content/v1/articles/{ids['article_ba-dinh']}/feedback",
                                          json={"body": "Tôi đồng ý."}, headers=an))
    ids["feedback_ba-dinh"] = feedback["id"]
    meeting = await ok(await client.post("/api/content/v1/meetings", json={
        "cell": "bd-g1-c1", "starts_at": "2030-01-05T19:00:00+07:00", "place": "Nhà văn hoá", "agenda": "Sinh hoạt"},
        headers=system.auth("cell_secretary", "bd-g1-c1")))
    ids["meeting_bd-g1-c1"] = meeting["id"]
    document = await ok(await client.post(
        "/api/content/v1/documents", data={"title": "Chỉ thị 05", "kind": "directive", "unit": "ba-dinh"},
        files={"file": ("chi-thi.txt", b"noi dung", "text/plain")}, headers=system.auth("editor", "ba-dinh")))
    ids["document_ba-dinh"] = document["id"]
    # A study topic of ba-dinh for ba-dinh, written by an editor, published by a chief editor; An took its quiz.
    topic = await ok(await client.post("/api/content/v1/study/topics", json={
        "title": "Học tập Nghị quyết của ba-dinh", "description": "Đọc rồi làm bài kiểm tra.",
        "documents": [ids["document_ba-dinh"]], "audience": ["ba-dinh"], "questions": STUDY_QUESTIONS},
        headers=system.auth("editor", "ba-dinh", subject="editor-ba-dinh")))
    await ok(await client.post(f"/api/content/v1/study/topics/{topic['id']}/publish",
                               headers=system.auth("chief_editor", "ba-dinh", subject="chief_editor-ba-dinh")))
    await ok(await client.post(f"/api/content/v1/study/topics/{topic['id']}/answers", json={"answers": [0, 1]},
                               headers=an))
    ids["study_ba-dinh"] = topic["id"]
    correction = await ok(await client.post(f"/api/members/v1/members/{ids['member_an']}/corrections",
                                            json={"changes": {"phone": "0912999999"}, "note": "số mới"}, headers=an))
    ids["correction_an"] = correction["id"]
    asked = await ok(await client.post("/api/members/v1/me/requests",
                                       json={"kind": "restriction", "asked": "hạn chế xem"}, headers=an))
    ids["subject_request_an"] = asked["id"]
    # A reconciliation of ba-dinh with the national database: An as the registry has him, the other
    # members of ba-dinh missing (its report names them); applying it would change nothing.
    name, card, unit, dob, phone = MEMBERS["an"]
    export = f"party_card_no,full_name,date_of_birth,gender,unit,phone\n{card},{name},{dob},male,{unit},{phone}\n".encode()
    reconciled = await ok(await client.post("/api/members/v1/reconciliations", headers=system.auth("unit_admin", "ba-dinh"),
                                            files={"file": ("csdl.csv", export, "text/csv")}))
    ids["reconciliation_ba-dinh"] = reconciled["id"]
    # The year's review: open; An (ba-dinh) wrote his self-assessment; Cường's (tay-ho) is decided, so
    # that his own token can write no more to it.
    year, today = hanoi_day().year, hanoi_day()
    await ok(await client.post("/api/members/v1/review-cycles", headers=admin, json={
        "year": year, "self_assessment_due": (today + timedelta(days=30)).isoformat(),
        "decision_due": (today + timedelta(days=60)).isoformat()}))
    ids["review_year"] = str(year)
    review = await ok(await client.post("/api/members/v1/me/reviews", headers=an, json={
        "year": year, "self_assessment": REVIEW_WORDS, "proposed_level": "excellent"}))
    ids["review_an"] = review_id = await _review_id(system, ids["member_an"], year)
    assert review["self_assessment"] == REVIEW_WORDS and review_id
    cuong = system.auth("member", "th-g1-c1", card=MEMBERS["cuong"][1], subject="account-cuong")
    await ok(await client.post("/api/members/v1/me/reviews", headers=cuong, json={
        "year": year, "self_assessment": "Tự kiểm điểm của tay-ho", "proposed_level": "good"}))
    await ok(await client.post(f"/api/members/v1/review-cycles/{year}/reviews/{ids['member_cuong']}/proposal",
                               headers=system.auth("cell_secretary", "th-g1-c1"),
                               json={"level": "good", "comment": "Chi bộ tay-ho nhận xét"}))
    await ok(await client.post(f"/api/members/v1/review-cycles/{year}/reviews/{ids['member_cuong']}/decision",
                               headers=system.auth("unit_admin", "tay-ho"), json={"level": "good"}))
    # A ba-dinh editor's device told by push (a staff account: no notice reaches it, nothing is pushed).
    device = await ok(await client.post("/api/content/v1/push-subscriptions", json=a_device(),
                                        headers=system.auth("editor", "ba-dinh", subject="editor-ba-dinh")))
    ids["push_ba-dinh"] = str(device["id"])
    return ids


async def _review_id(system: RunningSystem, member_id: str, year: int) -> str:
    async with system.runtimes["members"].context.engine.connect() as conn:
        return str((await conn.execute(text("SELECT id FROM reviews WHERE member_id = :m AND year = :y"),
                                       {"m": member_id, "y": year})).scalar_one())


@contextlib.contextmanager
def world_on(tmp_path_factory, postgres_server: str, **settings):
    """A world whose settings are the tests' own (make_settings) with `settings` over them."""
    bg = Background()
    nats_server = None
    nats_url = os.environ.get("SOTAY_TEST_NATS_URL")
    if not nats_url:
        nats_server = EmbeddedNats(tmp_path_factory.mktemp("attack-nats"))
        nats_url = nats_server.start()
    name = f"sotay_attacks_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    bg.run(admin(f'CREATE DATABASE "{name}"'))
    database_url = f"{postgres_server.rpartition('/')[0]}/{name}"
    stack = contextlib.AsyncExitStack()
    # Webhook endpoints only at a host that never resolves: what the fuzzers set up sends nowhere.
    settings = make_settings(tmp_path_factory.mktemp("attack-data"),
                             **{"webhook_hosts": "hooks.example.invalid", **settings})
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition(), services.webhooks.definition()]

    async def start() -> World:
        system = await stack.enter_async_context(running_system(definitions, settings, nats_url, database_url))
        base_url = await stack.enter_async_context(real_server(system))
        world = World(bg, system, base_url)
        world.ids = await _seed(system)
        return world
    try:
        world = bg.run(start(), timeout=180)
        world.quiet_digests()
        yield world
    finally:
        with contextlib.suppress(Exception):
            bg.run(stack.aclose(), timeout=60)
        with contextlib.suppress(Exception):
            bg.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        bg.close()
        if nats_server is not None:
            nats_server.stop()
