"""No citizen ID, phone number, password or password hash ever reaches a log line.

A whole system (tests/attacks/world.py: every service behind a real uvicorn, real
NATS and PostgreSQL) runs a workload written with known values while every log
record of the process is captured at DEBUG: the root logger at DEBUG as an operator
sets SOTAY_LOG_LEVEL=DEBUG, and every record any logger creates, whether or not it
propagates to the root (uvicorn's loggers do not). The workload registers accounts
(one of them refused), signs in by phone, creates and edits members, provokes a
unique violation on a citizen ID (two creations racing past the registry's own
check), imports a file with bad rows, asks for a correction and searches by phone.
Then the captured text, messages and tracebacks with their chained causes, is
searched for every value in every way it can be written (0912…, +84912…, spaced; a date
of birth as ISO text or as Python writes a date).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from sotay.contracts.members import MemberRegistered
from services.members.adapters.import_files import write_csv
from sotay.kit.consumer import Consumer
from sotay.kit import db as kit_db
from sotay.kit.db import create_engine, plain_url
from sotay.kit.events import Catalogue, message_from_payload
from sotay.kit.service import ServiceDefinition
from tests.attacks.world import MEMBERS, PASSWORD, world_on
from tests.support.system import CONSENT, eventually, make_settings, running_system

pytestmark = pytest.mark.integration

# The values of the run: those of the seeded world and these.
CITIZEN_IDS = ("001088012345", "001088054321", "001088099887", "001088077665", "001088011223")
PHONES = ("0987654705", "0978123456", "0966111222", "0933444555", "0944555666")
PASSWORDS = (PASSWORD, "Sổ tay của tôi 2023!", "mat khau rat dai cua binh 77")
BIRTH_DATES = ("1980-05-06", "1985-01-01", "1990-01-01")
WORKLOAD_CARDS = ("0100000701", "0100000702", "0100000703", "0100000704", "0100000705", "0100000706")


# --- capture ---------------------------------------------------------------------------------


class LogCapture:
    """Every record any logger creates, at DEBUG, formatted with its exception and its causes.

    `Logger.handle` is where a record created by any logger goes, before the logger's own
    filters and whether or not it propagates; the root logger at DEBUG lets every logger
    without a level of its own create its DEBUG records (a logger the code sets a level on
    keeps it: that is the code's decision, as in production)."""

    HARNESS_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP clients, not the system's

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    @contextlib.contextmanager
    def running(self):
        root = logging.getLogger()
        original_handle, level = logging.Logger.handle, root.level
        capture = self

        def handle(logger, record):
            capture.take(record)
            return original_handle(logger, record)
        logging.Logger.handle = handle
        root.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            logging.Logger.handle = original_handle
            root.setLevel(level)

    def take(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.HARNESS_LOGGERS:
            return
        try:
            text = self._formatter.format(record)
        except Exception as exc:  # a record whose arguments do not fit its message
            text = f"{record.name} {record.msg!r} {record.args!r} ({exc!r})"
        with self._lock:
            self.lines.append(text)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


def digits_pattern(digits: str) -> str:
    """The digits, with any one separator a person types (space, dot, dash) between any two."""
    return r"[\s.\-]?".join(re.escape(d) for d in digits)


def phone_patterns(phone: str) -> list[str]:
    national = phone[1:]
    return [digits_pattern("0" + national), r"\+?84[\s.\-]?" + digits_pattern(national)]


def forbidden_patterns() -> dict[str, str]:
    found = {}
    phones = list(PHONES) + [m[4] for m in MEMBERS.values()] + ["0912999999"]
    for phone in phones:
        for i, pattern in enumerate(phone_patterns(phone)):
            found[f"phone {phone} (form {i})"] = pattern
    for citizen_id in CITIZEN_IDS:
        found[f"citizen ID {citizen_id}"] = digits_pattern(citizen_id)
    for password in PASSWORDS:
        found[f"password {password!r}"] = re.escape(password)
    found["a password hash"] = re.escape("$argon2")
    for born in BIRTH_DATES + tuple(m[3] for m in MEMBERS.values()):
        year, month, day = (int(part) for part in born.split("-"))
        found[f"date of birth {born}"] = f"{re.escape(born)}|date\\({year}, {month}, {day}\\)"
    return found


# --- the workload ------------------------------------------------------------------------------


class Workload:
    def __init__(self, world) -> None:
        self.world = world
        self.http = httpx.Client(base_url=world.base_url, timeout=60)
        self.admin = world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
        self.seen: dict[str, int] = {}

    def member(self, card: str, name: str, *, citizen_id: str | None, phone: str | None,
               unit: str = "bd-g1-c1") -> dict:
        return {"party_card_no": card, "full_name": name, "date_of_birth": "1980-05-06", "gender": "female",
                "citizen_id": citizen_id, "phone": phone, "unit": unit, "status": "active", "eligible": True}

    def run(self) -> None:
        created = self.http.post("/api/members/v1/members", headers=self.admin, json=self.member(
            WORKLOAD_CARDS[0], "Đỗ Thị Hoa", citizen_id=CITIZEN_IDS[0], phone="0987 654 705"))
        assert created.status_code == 201, created.text
        hoa = created.json()["id"]
        bad = self.http.post("/api/members/v1/members", headers=self.admin, json=self.member(
            WORKLOAD_CARDS[1], "Ngô Văn Sai", citizen_id=CITIZEN_IDS[1][:-1], phone="+84 978 123 45"))
        assert bad.status_code == 422, bad.text
        self.seen["race"] = self.unique_violation_race()
        edited = self.http.patch(f"/api/members/v1/members/{hoa}", headers=self.admin,
                                 json={"phone": "+84 966 111 222", "citizen_id": CITIZEN_IDS[2], "reason": "đổi"})
        assert edited.status_code == 200, edited.text
        self.registrations()
        self.imports()
        self.correction_and_search(hoa)
        self.reconciliation()

    def unique_violation_race(self) -> int:
        """Two creations with one citizen ID both pass the registry's check (the test holds the
        members table so neither insert can go first), then race on the unique index."""
        runtime = self.world.system.runtimes["members"]
        gate: dict = {}

        async def hold():
            gate["conn"] = await asyncpg.connect(runtime.database_url)
            await gate["conn"].execute("BEGIN; LOCK TABLE members.members IN SHARE ROW EXCLUSIVE MODE")

        async def waiting_inserts():
            await gate["conn"].execute("SELECT pg_stat_clear_snapshot()")  # a fresh look inside the transaction
            return await gate["conn"].fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO members %'")

        async def release():
            await gate["conn"].execute("COMMIT")
            await gate["conn"].close()
        self.world.run(hold())
        bodies = [self.member(card, "Lý Thị Trùng", citizen_id=CITIZEN_IDS[3], phone=PHONES[3])
                  for card in WORKLOAD_CARDS[2:4]]
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(self.http.post, "/api/members/v1/members", headers=self.admin, json=body)
                       for body in bodies]
            try:
                deadline = time.monotonic() + 30
                while self.world.run(waiting_inserts()) < 2:
                    assert time.monotonic() < deadline, "the two creations never reached their inserts"
                    time.sleep(0.05)
            finally:
                self.world.run(release())
            statuses = sorted(f.result().status_code for f in futures)
        assert statuses[0] == 201, statuses
        return statuses[1]

    def registrations(self) -> None:
        name, card, _, dob, phone = MEMBERS["binh"]
        good = self.http.post("/api/identity/v1/registrations", json={
            "party_card_no": card, "full_name": name, "date_of_birth": dob, "phone": phone[:4] + " " + phone[4:],
            "password": PASSWORDS[2], "platform": "web", "consent": CONSENT})
        assert good.status_code == 202, good.text
        weak = self.http.post("/api/identity/v1/registrations", json={
            "party_card_no": WORKLOAD_CARDS[4], "full_name": "Hà Văn Yếu", "date_of_birth": "1990-01-01",
            "phone": PHONES[1], "password": PHONES[1], "platform": "mobile", "consent": CONSENT})
        assert weak.status_code == 422, weak.text
        cuong = MEMBERS["cuong"]
        for username, password in ((cuong[4], PASSWORD), ("+84 " + cuong[4][1:], PASSWORDS[1])):
            self.http.post("/api/identity/v1/token", data={"grant_type": "password", "username": username,
                                                           "password": password})
        status = self.http.post("/api/identity/v1/registrations/status",
                                json={"party_card_no": card, "password": PASSWORDS[2]})
        assert status.status_code == 200, status.text

    def imports(self) -> None:
        columns = ("party_card_no", "full_name", "date_of_birth", "gender", "citizen_id", "phone", "unit",
                   "admitted_on", "official_on", "status", "eligible", "ineligible_reason")
        rows = [
            {"party_card_no": WORKLOAD_CARDS[5], "full_name": "Vũ Văn Nhập", "citizen_id": "001088 011223",
             "phone": "094 4555 666"},
            {"party_card_no": "0100000707", "full_name": "Vũ Văn Lỗi", "citizen_id": CITIZEN_IDS[2],
             "phone": "0933 444 555"},
            {"party_card_no": "0100000708", "full_name": "Vũ Thị Hỏng", "citizen_id": "0010880",
             "phone": "0987 654 70"},
        ]
        filled = [{c: "" for c in columns} | {"date_of_birth": "1985-01-01", "unit": "bd-g1-c2"} | r for r in rows]
        imported = self.http.post("/api/members/v1/imports", params={"wait": "true"}, headers=self.admin,
                                  files={"file": ("m.csv", write_csv(filled), "text/csv")})
        assert imported.status_code == 200 and imported.json()["rejected"] == 2, imported.text

    def reconciliation(self) -> None:
        """An export refused for a bad citizen ID, then one that gives Hoa another phone and a new
        member with known values: compared, its report downloaded, applied."""
        columns = ("party_card_no", "full_name", "date_of_birth", "gender", "citizen_id", "phone", "unit")
        hoa = {"party_card_no": WORKLOAD_CARDS[0], "full_name": "Đỗ Thị Hoa", "date_of_birth": "1980-05-06",
               "gender": "female", "citizen_id": CITIZEN_IDS[2], "phone": "0987 654 705", "unit": "bd-g1-c1"}
        new = {**hoa, "party_card_no": "0100000709", "full_name": "Vũ Thị Mới", "citizen_id": CITIZEN_IDS[1],
               "phone": "0933 444 555"}
        bad = self.http.post("/api/members/v1/reconciliations", headers=self.admin, files={"file": (
            "x.csv", write_csv([{**new, "citizen_id": CITIZEN_IDS[1][:-1]}], columns), "text/csv")})
        assert bad.status_code == 422, bad.text
        compared = self.http.post("/api/members/v1/reconciliations", headers=self.admin, files={"file": (
            "csdl.csv", write_csv([hoa, new], columns), "text/csv")})
        assert compared.status_code == 201 and compared.json()["totals"]["new"] == 1, compared.text
        rec = compared.json()["id"]
        for fmt in ("xlsx", "csv"):
            assert self.http.get(f"/api/members/v1/reconciliations/{rec}/report.{fmt}",
                                 headers=self.admin).status_code == 200
        applied = self.http.post(f"/api/members/v1/reconciliations/{rec}/apply", headers=self.admin)
        assert applied.status_code == 200 and applied.json()["outcome"]["events"] == 2, applied.text

    def correction_and_search(self, hoa: str) -> None:
        an = self.world.member_auth("an")
        asked = self.http.post(f"/api/members/v1/members/{self.world.ids['member_an']}/corrections", headers=an,
                               json={"changes": {"phone": "0987 654 705", "citizen_id": CITIZEN_IDS[1]},
                                     "note": "số mới"})
        assert asked.status_code == 201, asked.text
        for query in ("0966 111 222", "+84966111222", "0966111222"):
            found = self.http.post("/api/members/v1/members/search", json={"q": query}, headers=self.admin)
            assert found.status_code == 200 and [m["id"] for m in found.json()["items"]] == [hoa], found.text
            in_url = self.http.get("/api/members/v1/members", params={"q": query}, headers=self.admin)
            assert in_url.status_code in (200, 422) and not in_url.json().get("items"), in_url.text
        self.http.get(f"/api/members/v1/members/{hoa}", headers=self.admin)
        self.http.get(f"/api/members/v1/members/{hoa}/history", headers=self.admin)
        self.http.get("/api/members/v1/corrections", headers=self.admin)
        self.http.get("/api/members/v1/members/me", headers=an)


# --- the test ----------------------------------------------------------------------------------


def test_a_run_with_known_values_logs_none_of_them(tmp_path_factory, postgres_server):
    capture = LogCapture()
    workload_failed: AssertionError | None = None
    with capture.running():
        with world_on(tmp_path_factory, postgres_server) as world:
            workload = Workload(world)
            try:
                workload.run()
            except AssertionError as exc:  # what was logged up to there is searched all the same
                workload_failed = exc
            world.quiet_digests()
    logged = capture.text()
    assert logged, "nothing was logged: the capture is broken"
    leaks = {what: sorted({m.group(0) for m in re.finditer(pattern, logged)})
             for what, pattern in forbidden_patterns().items()}
    leaks = {what: found for what, found in leaks.items() if found}
    lines = [line for line in logged.splitlines()
             if any(re.search(p, line) for p in forbidden_patterns().values())]
    assert not leaks, f"{len(lines)} log lines leak {sorted(leaks)}; e.g.:\n" + "\n".join(lines[:15])
    if workload_failed is not None:
        raise workload_failed
    assert workload.seen["race"] == 409, f"the losing creation of the race answered {workload.seen['race']}"


# --- database errors and dead letters ------------------------------------------------------------


def leaked(*texts: str) -> list[str]:
    return [what for what, pattern in forbidden_patterns().items() if any(re.search(pattern, t) for t in texts)]


def told(error: BaseException, capture: LogCapture) -> list[str]:
    """Every way an error's text reaches a log: str, repr, a traceback with its causes, a logged exception."""
    try:
        raise error
    except BaseException:
        logging.getLogger("sotay.test.errors").exception("request failed")
    return [str(error), repr(error), "".join(traceback.format_exception(error)), capture.text()]


PROBE_TABLE = ("CREATE TABLE IF NOT EXISTS public.leak_probe (citizen_id text UNIQUE, "
               "phone text CONSTRAINT leak_probe_phone_national CHECK (phone LIKE '+84%'))")


async def test_database_errors_name_class_sqlstate_and_constraint_but_no_value(database_url):
    engine = create_engine(database_url, schema="public")
    statements = {
        "unique violation": ("INSERT INTO leak_probe (citizen_id, phone) VALUES (:c, :p)",
                             {"c": CITIZEN_IDS[0], "p": "+84987654705"}, "23505", "leak_probe_citizen_id_key"),
        "check violation (Failing row contains …)": (
            "INSERT INTO leak_probe (citizen_id, phone) VALUES (:c, :p)", {"c": CITIZEN_IDS[1], "p": "0987 654 705"},
            "23514", "leak_probe_phone_national"),
        "invalid text (the value quoted in the message)": (
            "SELECT CAST(CAST(:p AS text) AS uuid)", {"p": "0978123456"}, "22P02", None),
        "a parameter the driver cannot encode": ("SELECT CAST(:p AS uuid)", {"p": "0966111222"}, "22000", None),
    }
    try:
        async with engine.begin() as db:
            await db.execute(text(PROBE_TABLE))
            await db.execute(text("INSERT INTO leak_probe VALUES (:c, :p)"), {"c": CITIZEN_IDS[0], "p": "+84933444555"})
        for what, (sql, params, sqlstate, constraint) in statements.items():
            capture = LogCapture()
            with capture.running():
                with pytest.raises(Exception) as caught:
                    async with engine.begin() as db:
                        await db.execute(text(sql), params)
                texts = told(caught.value, capture)
            assert not leaked(*texts), f"{what}: {leaked(*texts)} in:\n" + "\n".join(texts)
            summary = kit_db.database_error_text(caught.value)
            assert summary and (sqlstate is None or f"SQLSTATE {sqlstate}" in summary), (what, summary)
            assert constraint is None or constraint in summary, (what, summary)
    finally:
        await engine.dispose()


async def test_a_driver_error_outside_sqlalchemy_is_scrubbed_where_it_is_caught(database_url):
    """The bulk import COPYs on the driver's own connection, outside SQLAlchemy's error handling."""
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.execute(PROBE_TABLE)
        await conn.execute("INSERT INTO leak_probe VALUES ($1, '+84933444555') ON CONFLICT DO NOTHING", CITIZEN_IDS[2])
        with pytest.raises(asyncpg.UniqueViolationError) as caught:
            await conn.copy_records_to_table("leak_probe", records=[(CITIZEN_IDS[2], "+84" + PHONES[4][1:])])
        assert leaked(str(caught.value)), "the driver's error should quote the value before it is scrubbed"
        kit_db.scrub_database_error(caught.value)
        capture = LogCapture()
        with capture.running():
            texts = told(caught.value, capture)
        assert not leaked(*texts), texts
        assert "SQLSTATE 23505" in kit_db.database_error_text(caught.value)
    finally:
        await conn.close()


class StrictPayload(BaseModel):
    """A consumer's model of a payload, refusing what another system sent."""
    phone: str = Field(max_length=5)


def leaky_consumer_service(tmp_path: Path) -> ServiceDefinition:
    """A service whose consumer fails on events carrying personal data: a unique violation on a
    citizen ID (retried, then dead-lettered), a payload its model refuses (dead-lettered at once)."""
    (tmp_path / "001_holders.sql").write_text("CREATE TABLE holders (citizen_id text UNIQUE);")

    def consumers(ctx):
        consumer = Consumer(name="leakprobe-members", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")

        @consumer.on(MemberRegistered.event_type())
        async def hold(db, envelope):
            data = envelope["data"]
            if "phone" in data:
                StrictPayload.model_validate(data)
            await db.execute(text("INSERT INTO holders (citizen_id) VALUES (:c)"), {"c": data["citizen_id"]})
        return [consumer]
    return ServiceDefinition(name="leakprobe", migrations=tmp_path, catalogue=Catalogue(),
                             build_router=lambda ctx: APIRouter(), build_consumers=consumers)


async def test_dead_letters_and_consumer_logs_carry_no_personal_data(tmp_path, data_dir, nats_url, database_url):
    capture = LogCapture()
    with capture.running():
        async with running_system([leaky_consumer_service(tmp_path)], make_settings(data_dir), nats_url,
                                  database_url) as system:
            js = system.runtimes["leakprobe"].context.js
            events = [{"citizen_id": CITIZEN_IDS[3]}, {"citizen_id": CITIZEN_IDS[3]},
                      {"citizen_id": CITIZEN_IDS[4], "phone": "+84 987 654 705"}]
            ids = []
            for data in events:
                message = message_from_payload(MemberRegistered, data, aggregate_id=str(uuid.uuid4()),
                                               committee="ba-dinh")
                await js.publish(message.subject, message.body(), headers={"Nats-Msg-Id": str(message.id)})
                ids.append(str(message.id))

            async def two_dead_letters():
                letters = [m for m in await dead_letters(nats_url) if any(i.encode() in m.data for i in ids)]
                return letters if len(letters) == 2 else None
            letters = await eventually(two_dead_letters, timeout=30)
    reasons = [m.headers["Sotay-Dlq-Reason"] for m in letters]
    headers = [f"{k}: {v}" for m in letters for k, v in m.headers.items()]
    assert not leaked(*headers, capture.text()), (leaked(*headers, capture.text()), reasons)
    unique = "UniqueViolationError (SQLSTATE 23505, constraint holders_citizen_id_key)"
    assert any(unique in r for r in reasons), reasons
    assert any("ValidationError" in r and "phone: string_too_long" in r for r in reasons), reasons


async def dead_letters(nats_url: str) -> list:
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe("sotay.dlq.>", stream="SOTAY_DLQ")
        try:
            return await sub.fetch(batch=100, timeout=1)
        except TimeoutError:
            return []
    finally:
        await nc.close()


def test_the_capture_sees_what_the_system_logs(tmp_path_factory):
    """The capture itself: a record of a non-propagating logger, with a chained exception, is seen."""
    capture = LogCapture()
    quiet = logging.getLogger("sotay.test.quiet")
    quiet.propagate = False
    with capture.running():
        try:
            try:
                raise ValueError("inner 0987654705")
            except ValueError as exc:
                raise RuntimeError("outer") from exc
        except RuntimeError:
            quiet.debug("debug line", exc_info=True)
        asyncio.new_event_loop().close()
    assert re.search(phone_patterns("0987654705")[0], capture.text())
    assert re.search(phone_patterns("0987654705")[1], "+84 987 654 705")
