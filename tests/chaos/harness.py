"""The system under fault: its own nats-server and PostgreSQL (so they can be stopped, killed and
started again on the same ports and stores), and members, identity, content and two metrics replicas
as `sotay serve` processes, each in its own process group (tests/system/test_cluster.Processes).

`Workload` drives commands over HTTP, each with its own Idempotency-Key, retried with it until
acknowledged; `check` compares what was acknowledged with the source tables, and every projection
with a recomputation from the source tables; `settle` waits until it all holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from unittest import mock
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats

from services.members.adapters.import_files import write_csv
from sotay.contracts.identity import RegistrationSubmitted
from sotay.contracts.members import MemberTransferred
from sotay.kit.auth import Grant, mint_token
from sotay.kit.embedded import EmbeddedPostgres, wait_for_port, free_port, nats_server_binary
from sotay.kit.settings import Settings
from tests.support.retry import post_until_answered
from tests.support.system import CONSENT, ONE_ADDRESS_FOR_A_CITY, import_registry, registry_row
from tests.system.test_cluster import Member as Person  # card, name, cell and a phone from the card
from tests.system.test_cluster import Processes

TREE = {"ba-dinh": ["ba-dinh-g1-c1", "ba-dinh-g1-c2"], "tay-ho": ["tay-ho-g1-c1", "tay-ho-g1-c2"]}
CELLS = [c for cells in TREE.values() for c in cells]
UNITS_OF = {cell: ["city", committee, f"{committee}-g1", cell] for committee, cells in TREE.items() for cell in cells}
ALL_UNITS = sorted({u for us in UNITS_OF.values() for u in us})
PER_CELL = 40
PASSWORD = "Chi bo vung manh trong sach"
FIGURES = ("members_total", "members_eligible", "accounts_installed", "accounts_web", "accounts_mobile",
           "accounts_pending", "accounts_approved", "accounts_rejected", "readers_today")
ACTIVE = ("active", "probationary", "exempt")
CONSUMERS = {"SOTAY_MEMBERS": ["identity-registry", "content-registry", "metrics-registry"],
             "SOTAY_IDENTITY": ["members-accounts", "metrics-accounts", "content-registrations"],
             "SOTAY_CONTENT": ["metrics-content", "content-notices"]}
SCHEMAS = ("members", "identity", "content", "metrics")

# Settings of every process: a duplicate window shorter than a relay's outage, a short ack wait.
DUPLICATE_WINDOW_S = 2.0
ACK_WAIT_S = 8.0
MAX_DELIVER = 3


@dataclass
class Service:
    name: str
    service: str
    port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class SamePortPostgres(EmbeddedPostgres):
    """Started again on the port it had, which the services' URL names. (EmbeddedPostgres moves to
    another port when it cannot bind the one it is given, as for a minute after a kill -9 its
    connections in TIME_WAIT prevent; PostgreSQL itself binds with SO_REUSEADDR.)"""

    def start(self, timeout: float = 60.0) -> str:
        if self.port is None:
            return super().start(timeout)
        with mock.patch("sotay.kit.embedded.free_port", lambda preferred=None: preferred):
            return super().start(timeout)


class Chaos:
    """The servers and the service processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.processes = Processes(root / "logs")
        self.nats_port = free_port()
        self.nats_store = root / "jetstream"
        self.postgres = SamePortPostgres(root / "postgres")
        self.database_url = ""
        self.data_dir = root / "data"
        self.services = {s.name: s for s in [
            Service("members", "members"), Service("identity", "identity"), Service("content", "content"),
            Service("metrics-1", "metrics"), Service("metrics-2", "metrics")]}
        self.key = Settings(data_dir=self.data_dir).signing_key()
        # Settings of one service's processes only (e.g. its PostgreSQL or NATS through a proxy).
        self.routes: dict[str, dict[str, str]] = {}

    # --- servers ---
    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def start_nats(self) -> None:
        self.processes.start("nats", [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.nats_port),
                                      "-sd", str(self.nats_store)])

    def stop_nats(self, sig: int = signal.SIGTERM) -> None:
        proc = self.processes.running["nats"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(20)

    async def wait_nats(self, timeout: float = 20) -> None:
        await asyncio.to_thread(wait_for_port, self.nats_port, timeout, self.processes.running["nats"])

    def start_postgres(self) -> None:
        self.database_url = self.postgres.start()

    def kill_postgres(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL: the postmaster and every backend (its process group) at once; else the postmaster's
        own shutdown signal (SIGINT: fast, SIGTERM: smart)."""
        proc = self.postgres.process
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if sig == signal.SIGKILL else os.kill)(proc.pid, sig)
        proc.wait(30)
        self.postgres.process = None

    # --- services ---
    def env(self, port: int | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
        env.update(SOTAY_NATS_URL=self.nats_url, SOTAY_DATABASE_URL=self.database_url,
                   SOTAY_DATA_DIR=str(self.data_dir), SOTAY_HTTP_HOST="127.0.0.1", SOTAY_LOG_LEVEL="INFO",
                   SOTAY_DUPLICATE_WINDOW_S=str(DUPLICATE_WINDOW_S), SOTAY_ACK_WAIT_S=str(ACK_WAIT_S),
                   SOTAY_MAX_DELIVER=str(MAX_DELIVER), SOTAY_NACK_DELAY_S="0.3",
                   SOTAY_CONSUMER_FETCH_TIMEOUT_S="1", **ONE_ADDRESS_FOR_A_CITY)
        if port:
            env["SOTAY_HTTP_PORT"] = str(port)
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sotay", *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout, start_new_session=True)

    def start(self, name: str, **extra: str) -> None:
        s = self.services[name]
        self.processes.start(name, [sys.executable, "-m", "sotay", "serve", s.service],
                             self.env(s.port, **{**self.routes.get(name, {}), **extra}))

    def kill(self, name: str) -> None:
        self.processes.kill(name)

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.processes.running[name].pid, sig)

    async def wait_ready(self, name: str, timeout: float = 60) -> float:
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                proc = self.processes.running[name]
                assert proc.poll() is None, f"{name} exited with {proc.returncode}:\n{self.processes.tail(name)}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.services[name].base}/readyz")).status_code == 200:
                        return time.monotonic() - started
                assert time.monotonic() - started < timeout, \
                    f"{name} not ready within {timeout} s:\n{self.processes.tail(name)}"
                await asyncio.sleep(0.2)

    async def restart(self, name: str, **extra: str) -> None:
        self.start(name, **extra)
        await self.wait_ready(name)

    async def all_ready(self, timeout: float = 90) -> None:
        await asyncio.gather(*(self.wait_ready(n, timeout) for n in self.services))

    def token(self, role: str = "city_admin", unit: str = "city", subject: str = "chaos-admin",
              card: str | None = None) -> str:
        return mint_token(self.key, subject, [Grant(role, unit)], ttl_s=3600, member_card_no=card,
                          unit=unit if role == "member" else None)

    def auth(self, **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kw)}"}

    def stop_all(self) -> None:
        for proc in self.processes.running.values():  # one a failed test left stopped must see its SIGINT
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
        self.processes.stop_all()
        if self.postgres.process is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop()
            if self.postgres.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.postgres.process.pid, signal.SIGKILL)


# --- the workload ------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the services acknowledged, as the client saw it."""

    registrations: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → card, platform
    decisions: dict[str, str] = field(default_factory=dict)  # registration id → approved / rejected
    members: dict[str, str] = field(default_factory=dict)  # created member id → its cell now
    transfers: dict[str, int] = field(default_factory=dict)  # member id → acknowledged transfers
    imported: set[str] = field(default_factory=set)  # cards of members imported in bursts
    reads: set[str] = field(default_factory=set)  # cards of members who read the article
    commands: int = 0
    attempts: int = 0
    retries: int = 0
    failures: list[str] = field(default_factory=list)


class Workload:
    def __init__(self, chaos: Chaos, people: list[Person], article: str, seed: int) -> None:
        self.chaos = chaos
        self.rng = random.Random(seed)
        self.unregistered = list(people)
        self.rng.shuffle(self.unregistered)
        self.readers = list(people)
        self.article = article
        self.ledger = Ledger()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(15, connect=2))
        self.admin = chaos.auth()
        self._cards = iter(range(50_000_000, 99_999_999, 7))

    def new_card(self) -> str:
        return f"07{next(self._cards)}"

    async def post(self, service: str, path: str, *, json_body=None, ok: int, headers=None, files=None,
                   params=None, give_up_after: float = 200) -> dict | None:
        """POST with one Idempotency-Key, again with it until answered (tests/support/retry.py)."""
        body = await post_until_answered(
            self.client, lambda: self.chaos.services[service].base, path, ok=ok, tally=self.ledger,
            headers=headers if headers is not None else self.admin, give_up_after=give_up_after,
            json=json_body, files=files, params=params)
        if body is not None:
            self.ledger.commands += 1
        return body

    # commands
    async def register(self, person: Person | None = None, *, platform: str | None = None) -> str | None:
        """A registration; without a person, one whose card the registry does not hold."""
        platform = platform or self.rng.choice(["web", "mobile"])
        if person is None:
            person = Person(self.new_card(), "Người Lạ Mặt", "")
        body = {"party_card_no": person.card, "full_name": person.name, "date_of_birth": "1970-01-01",
                "phone": person.phone, "password": PASSWORD, "platform": platform, "consent": CONSENT}
        answer = await self.post("identity", "/api/identity/v1/registrations", json_body=body, ok=202, headers={})
        if answer is None:
            return None
        self.ledger.registrations[answer["id"]] = (person.card, platform)
        return answer["id"]

    async def decide(self, reg_id: str, verdict: str) -> None:
        if verdict == "approve":
            answer = await self.post("identity", f"/api/identity/v1/registrations/{reg_id}/approve", ok=200)
        else:
            answer = await self.post("identity", f"/api/identity/v1/registrations/{reg_id}/reject", ok=200,
                                     json_body={"reason": "Sai số điện thoại"})
        if answer is not None:
            self.ledger.decisions[reg_id] = answer["status"]

    async def create_member(self) -> str | None:
        cell = self.rng.choice(CELLS)
        body = {"party_card_no": self.new_card(), "full_name": "Đặng Văn Mới", "date_of_birth": "1980-05-05",
                "unit": cell}
        answer = await self.post("members", "/api/members/v1/members", json_body=body, ok=201)
        if answer is None:
            return None
        self.ledger.members[answer["id"]] = cell
        return answer["id"]

    async def transfer(self, member_id: str) -> None:
        to = self.rng.choice([c for c in CELLS if c != self.ledger.members[member_id]])
        answer = await self.post("members", f"/api/members/v1/members/{member_id}/transfers",
                                 json_body={"to_unit": to}, ok=200)
        if answer is not None:
            self.ledger.members[member_id] = to
            self.ledger.transfers[member_id] = self.ledger.transfers.get(member_id, 0) + 1

    async def read(self, person: Person) -> None:
        headers = self.chaos.auth(role="member", unit=person.cell, subject=f"reader-{person.card}", card=person.card)
        if await self.post("content", f"/api/content/v1/articles/{self.article}/read", ok=200,
                           headers=headers) is not None:
            self.ledger.reads.add(person.card)

    async def import_burst(self, n: int) -> int:
        """n members in one import (a burst of MemberRegistered events)."""
        rows = []
        for _ in range(n):
            card = self.new_card()
            rows.append({"party_card_no": card, "full_name": "Lương Thị Loạt", "date_of_birth": "1975-03-03",
                         "gender": "", "citizen_id": "", "phone": "", "unit": self.rng.choice(CELLS),
                         "status": "active", "eligible": "true", "ineligible_reason": "", "admitted_on": "",
                         "official_on": ""})
        answer = await self.post("members", "/api/members/v1/imports", ok=200, params={"wait": "true"},
                                 files={"file": ("burst.csv", write_csv(rows), "text/csv")})
        if answer is not None:
            assert answer["imported"] == n, answer
            self.ledger.imported |= {r["party_card_no"] for r in rows}
        return n

    async def mixed(self, size: int, concurrency: int = 6) -> None:
        """About `size` commands of every kind: registrations (a few matching nobody), decisions, new
        members and their transfers, reads."""
        slots = asyncio.Semaphore(concurrency)

        async def registration() -> None:
            person = self.unregistered.pop() if self.rng.random() > 0.15 else None
            reg_id = await self.register(person)
            fate = self.rng.random()
            if reg_id is not None and fate < 0.8:
                await self.decide(reg_id, "approve" if fate < 0.6 and person is not None else "reject")

        async def member() -> None:
            member_id = await self.create_member()
            if member_id is not None and self.rng.random() < 0.6:
                await self.transfer(member_id)

        async def reading() -> None:
            await self.read(self.rng.choice(self.readers))

        async def guarded(job) -> None:
            async with slots:
                await job()
        jobs = [self.rng.choice([registration, registration, member, reading]) for _ in range(size)]
        await asyncio.gather(*(guarded(j) for j in jobs))

    async def close(self) -> None:
        await self.client.aclose()


async def populate(chaos: Chaos) -> tuple[list[Person], str]:
    """The org tree, PER_CELL members per cell, and one published article for the city."""
    admin = chaos.auth()
    given = ("An", "Bình", "Cường", "Dung", "Giang", "Hà", "Khánh", "Lan")
    people = [Person(f"0{c + 1}{n:07d}", f"Nguyễn {('Văn', 'Thị')[n % 2]} {given[n // 2 % 8]}", cell)
              for c, cell in enumerate(CELLS) for n in range(PER_CELL)]
    async with httpx.AsyncClient(timeout=60) as client:
        base = chaos.services["members"].base
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
        for committee, cells in TREE.items():
            tree += [{"code": committee, "name": committee, "kind": "committee", "parent": "city", "wave": 1},
                     {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots",
                      "parent": committee}]
            tree += [{"code": cell, "name": cell, "kind": "cell", "parent": f"{committee}-g1"} for cell in cells]
        for unit in tree:
            created = await client.post(f"{base}/api/members/v1/org-units", json=unit, headers=admin)
            assert created.status_code == 201, created.text
        await import_registry(client, [registry_row(p.card, p.name, p.cell) for p in people], admin, base)

        content = chaos.services["content"].base
        editor = chaos.auth(role="editor", subject="chaos-editor")
        chief = chaos.auth(role="chief_editor", subject="chaos-chief")
        article = await client.post(f"{content}/api/content/v1/articles", headers=editor, json={
            "title": "Nghị quyết mới", "summary": "Tóm tắt", "body": "Nội dung", "category": "news",
            "audience": ["city"]})
        assert article.status_code == 201, article.text
        article_id = article.json()["id"]
        for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
            answer = await client.post(f"{content}/api/content/v1/articles/{article_id}/{step}", headers=who)
            assert answer.status_code == 200, (step, answer.text)
    return people, article_id


# --- the checks ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    problems: list[str]
    checks: int
    events: int


def _diff(name: str, got: dict, want: dict, limit: int = 5) -> list[str]:
    keys = sorted(set(got) | set(want), key=str)
    wrong = [k for k in keys if got.get(k) != want.get(k)]
    return [f"{name}: {k}: has {got.get(k)!r}, should be {want.get(k)!r}" for k in wrong[:limit]] + \
        ([f"{name}: … {len(wrong) - limit} more"] if len(wrong) > limit else [])


async def check(db: asyncpg.Pool, js, ledger: Ledger, *, metrics_bases: list[str], admin: dict[str, str],
                dead_letters_expected: int = 0, probe: bool = False) -> Verdict:
    """Everything that must hold once the system has settled; the problems found (none: settled)."""
    problems: list[str] = []
    checks = 0

    def expect(name: str, got, want) -> None:
        nonlocal checks
        checks += 1
        if isinstance(got, dict) and isinstance(want, dict):
            problems.extend(_diff(name, got, want))
        elif got != want:
            problems.append(f"{name}: has {got!r}, should be {want!r}")

    # Every acknowledged command had exactly one effect.
    regs = {str(r["id"]): r for r in await db.fetch(
        "SELECT id, party_card_no, platform, status, member_id, unit FROM identity.registrations")}
    expect("registrations (acknowledged → stored)", {i: (r["party_card_no"], r["platform"], r["status"])
                                                     for i, r in regs.items()},
           {i: (card, platform, ledger.decisions.get(i, "pending"))
            for i, (card, platform) in ledger.registrations.items()})
    accounts = {str(r["member_id"]) for r in await db.fetch(
        "SELECT member_id FROM identity.accounts WHERE registration_id IS NOT NULL")}
    expect("accounts (one per approval)", len(accounts), sum(s == "approved" for s in ledger.decisions.values()))
    members = {str(r["id"]): r for r in await db.fetch(
        "SELECT m.id, m.party_card_no, m.status, m.eligible, m.version, m.has_account, u.code AS unit "
        "FROM members.members m JOIN members.org_units u ON u.id = m.unit_id")}
    expect("created members (acknowledged → where they are now, version)",
           {i: (members[i]["unit"], members[i]["version"]) if i in members else None for i in ledger.members},
           {i: (cell, 1 + ledger.transfers.get(i, 0)) for i, cell in ledger.members.items()})
    cards = {r["party_card_no"] for r in members.values()}
    expect("imported members", len(ledger.imported - cards), 0)
    reads = {r["account_id"] for r in await db.fetch("SELECT account_id FROM content.reads")}
    expect("reads (one per reader and day)", reads, {f"reader-{c}" for c in ledger.reads})

    # Each event once in each outbox: one per acknowledged command.
    outbox = await db.fetch(
        "SELECT s.schema, e->>'type' AS type, e->>'subject' AS aggregate, count(*) AS n, "
        "count(*) FILTER (WHERE published_at IS NULL) AS unpublished FROM ("
        "  SELECT 'members' AS schema, convert_from(body, 'UTF8')::jsonb AS e, published_at FROM members.outbox"
        "  UNION ALL SELECT 'identity', convert_from(body, 'UTF8')::jsonb, published_at FROM identity.outbox"
        "  UNION ALL SELECT 'content', convert_from(body, 'UTF8')::jsonb, published_at FROM content.outbox) s "
        "GROUP BY 1, 2, 3")
    events = sum(r["n"] for r in outbox)
    expect("unpublished outbox rows", sum(r["unpublished"] for r in outbox), 0)
    transferred = {r["aggregate"]: r["n"] for r in outbox if r["type"] == MemberTransferred.event_type()}
    expect("MemberTransferred events (one per acknowledged transfer)", transferred,
           {i: n for i, n in ledger.transfers.items()})
    submitted = {r["aggregate"]: r["n"] for r in outbox if r["type"] == RegistrationSubmitted.event_type()}
    expect("RegistrationSubmitted events", len(submitted), len(ledger.registrations))
    expect("RegistrationSubmitted events once each", max(submitted.values(), default=1), 1)

    # Every replica equals the registry it is built from (versions included: none went back).
    source = {i: (r["unit"], r["status"], r["version"]) for i, r in members.items()}
    for table in ("identity.registry_members", "content.readers"):
        got = {str(r["member_id"]): (r["unit"], r["status"], r["version"])
               for r in await db.fetch(f"SELECT member_id, unit, status, version FROM {table}")}
        expect(f"{table} = members.members", got, source)
    installed = {str(r["member_id"]) for r in regs.values() if r["member_id"] and r["status"] != "rejected"}
    got = {str(r["member_id"]): (r["unit"], r["status"], r["eligible"], r["installed"], r["version"])
           for r in await db.fetch("SELECT member_id, unit, status, eligible, installed, version FROM metrics.members")}
    expect("metrics.members = members.members + identity.registrations", got,
           {i: (r["unit"], r["status"], r["eligible"], i in installed, r["version"]) for i, r in members.items()})
    got = {str(r["registration_id"]): (r["status"], r["platform"], str(r["member_id"]) if r["member_id"] else None)
           for r in await db.fetch("SELECT registration_id, status, platform, member_id FROM metrics.registrations")}
    expect("metrics.registrations = identity.registrations", got,
           {i: (r["status"], r["platform"], str(r["member_id"]) if r["member_id"] else None)
            for i, r in regs.items()})
    expect("members.has_account = identity.accounts", {i for i, r in members.items() if r["has_account"]}, accounts)

    # The figures of every unit, on both metrics replicas, recomputed from the source tables.
    want = {u: dict.fromkeys(FIGURES, 0) for u in ALL_UNITS}
    for r in members.values():
        if r["status"] in ACTIVE:
            for u in UNITS_OF[r["unit"]]:
                want[u]["members_total"] += 1
                want[u]["members_eligible"] += r["eligible"]
    for r in regs.values():
        for u in UNITS_OF.get(r["unit"] or "", ["city"]):
            want[u][f"accounts_{r['status']}"] += 1
            if r["status"] != "rejected":
                want[u]["accounts_installed"] += 1
                want[u][f"accounts_{r['platform']}"] += 1
    today = await db.fetchval("SELECT max(day) FROM content.reads")
    for r in await db.fetch("SELECT DISTINCT account_id, unit FROM content.reads WHERE day = $1", today):
        for u in UNITS_OF[r["unit"]]:
            want[u]["readers_today"] += 1
    async with httpx.AsyncClient(timeout=5) as client:
        for base in metrics_bases:
            got = {}
            for unit in ALL_UNITS:
                answer = await client.get(f"{base}/api/metrics/v1/rollout", params={"unit": unit}, headers=admin)
                got[unit] = {n: answer.json()[n] for n in FIGURES} if answer.status_code == 200 else answer.text
            expect(f"figures of {base}", got, want)

    # Every consumer has applied and acknowledged everything; no dead letter but those expected.
    for stream, names in CONSUMERS.items():
        for name in names + (["probe-members"] if probe and stream == "SOTAY_MEMBERS" else []):
            info = await asyncio.wait_for(js.consumer_info(stream, name), 5)
            expect(f"{name} pending, unacknowledged", (info.num_pending, info.num_ack_pending), (0, 0))
    dlq = await asyncio.wait_for(js.stream_info("SOTAY_DLQ"), 5)
    expect("dead letters", dlq.state.messages, dead_letters_expected)
    return Verdict(problems, checks, events)


async def settle(db, js, ledger: Ledger, chaos: Chaos, *, timeout: float = 120, **kw) -> tuple[Verdict, float]:
    """Until every check holds; the verdict and the seconds it took."""
    started = time.monotonic()
    last: Verdict | str | None = None
    while True:
        try:
            last = await check(db, js, ledger, metrics_bases=[chaos.services[n].base for n in ("metrics-1", "metrics-2")
                                                              if chaos.processes.running[n].poll() is None],
                               admin=chaos.auth(), **kw)
            if not last.problems:
                return last, time.monotonic() - started
        except Exception as exc:  # a server still coming back
            last = repr(exc)
        if time.monotonic() - started > timeout:
            detail = "\n".join(last.problems) if isinstance(last, Verdict) else last
            raise AssertionError(f"not settled within {timeout} s:\n{detail}")
        await asyncio.sleep(0.5)


class VersionWatch:
    """Samples every replica's member versions while a fault runs: none may ever go back."""

    QUERIES = {"identity": "SELECT member_id::text, version FROM identity.registry_members",
               "content": "SELECT member_id::text, version FROM content.readers",
               "metrics": "SELECT member_id::text, version FROM metrics.members"}

    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db
        self.seen: dict[tuple[str, str], int] = {}
        self.backwards: list[str] = []
        self.samples = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # PostgreSQL may be down: sample again later
                for replica, sql in self.QUERIES.items():
                    for member, version in await self.db.fetch(sql, timeout=3):
                        before = self.seen.get((replica, member), 0)
                        if version < before:
                            self.backwards.append(f"{replica}: member {member} from {before} to {version}")
                        self.seen[(replica, member)] = max(before, version)
                self.samples += 1
            await asyncio.sleep(0.3)

    def __enter__(self) -> VersionWatch:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()



# --- the faults of issue 23: a full disk, a slow or cut-off network, a skewed clock -----------------


class SmallDisk:
    """PostgreSQL's data directory on a filesystem of its own (a tmpfs mounted there: the tests run as
    root), so the disk can fill up for real: `fill` shrinks it to what it holds plus `headroom_mb` and
    fills that with a ballast file until the kernel answers ENOSPC; `free` deletes the ballast (space
    returns) and gives the filesystem its size back. Without the right to mount, `mounted` is False."""

    def __init__(self, where: Path, size_mb: int = 4096) -> None:
        self.where = where
        self.size_mb = size_mb
        self.mounted = False
        self.ballast = where / "ballast"
        self.reason = ""

    def mount(self) -> bool:
        self.where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs",
                               str(self.where)], capture_output=True, text=True)
        self.mounted = done.returncode == 0
        self.reason = done.stderr.strip()
        return self.mounted

    def used_mb(self) -> int:
        st = os.statvfs(self.where)
        return (st.f_blocks - st.f_bfree) * st.f_frsize // 2**20

    def free_bytes(self) -> int:
        st = os.statvfs(self.where)
        return st.f_bavail * st.f_frsize

    def _resize(self, size_mb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(self.where)], check=True,
                       capture_output=True)

    def fill(self, headroom_mb: int = 16) -> int:
        """The disk full: the bytes of ballast written."""
        self._resize(self.used_mb() + headroom_mb)
        written = 0
        with open(self.ballast, "wb", buffering=0) as f:
            for chunk in (b"\0" * 2**20, b"\0" * 4096, b"\0" * 512):
                while True:
                    try:
                        written += f.write(chunk)
                    except OSError:  # ENOSPC
                        break
        return written

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)
        self._resize(self.size_mb)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.where)], capture_output=True)
            self.mounted = False


FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")  # Debian's libfaketime


class SkewedClock:
    """A service process's wall clock, off by `set(seconds)` from the machine's while it runs:
    libfaketime preloaded, reading its offset from a file at most once a second. Only the wall clock
    (time.time, datetime.now): the monotonic clock asyncio's timers use stays true, as NTP leaves it.
    (libfaketime 0.9.10 breaks Python's time.sleep, which no `sotay serve` code path calls.)"""

    def __init__(self, root: Path, name: str) -> None:
        self.file = root / f"clock-{name}"
        self.offset_s = 0
        self.set(0)

    @staticmethod
    def available() -> bool:
        return FAKETIME_LIBRARY.exists()

    def env(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(FAKETIME_LIBRARY), "FAKETIME_TIMESTAMP_FILE": str(self.file),
                "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def set(self, seconds: int) -> None:
        self.offset_s = seconds
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(f"{seconds:+d}\n")
        tmp.replace(self.file)  # never read half-written


class Env:
    """A running system under fault (see `running_system`), the test's connections to it, the workload,
    and what is in the way: PostgreSQL of every service behind `pg_proxy`, NATS of `partitioned`
    behind `nats_proxy`, the clocks of `clocks`, PostgreSQL's data directory on `disk`."""

    def __init__(self, chaos: Chaos, db: asyncpg.Pool, nc, workload: Workload) -> None:
        self.chaos, self.db, self.nc, self.js, self.w = chaos, db, nc, nc.jetstream(), workload
        self.pg_proxy = self.nats_proxy = None
        self.partitioned = "identity"
        self.clocks: dict[str, SkewedClock] = {}
        self.disk: SmallDisk | None = None
        self.disk_problem = ""
        self.people: list[Person] = []

    async def stream_messages(self, stream: str) -> int:
        return (await asyncio.wait_for(self.js.stream_info(stream), 5)).state.messages

    async def finish(self, fault: str, *, faults: int, commands_before: int, watch: VersionWatch,
                     fault_ended: float, verify: bool = True, timeout: float = 150, notes: dict | None = None,
                     **kw):
        from tests.chaos.report import RESULTS, FaultResult

        verdict, _ = await settle(self.db, self.js, self.w.ledger, self.chaos, timeout=timeout, **kw)
        recovery = time.monotonic() - fault_ended
        assert self.w.ledger.failures == [], self.w.ledger.failures
        assert watch.backwards == [], watch.backwards
        assert watch.samples > 0
        checks = verdict.checks + 2
        if verify:
            verified = await asyncio.to_thread(self.chaos.cli, "metrics", "verify")
            assert verified.returncode == 0 and "every figure matches" in verified.stdout, \
                verified.stdout + verified.stderr
            checks += 1
        result = FaultResult(fault, self.w.ledger.commands - commands_before, faults, recovery, checks,
                             verdict.events, dict(notes or {}))
        RESULTS.append(result)
        return result

    async def more_people(self, n: int, first: int = 0) -> list[Person]:
        """n more members in the registry who can register (and read), imported at once."""
        people = [Person(f"08{first + i:07d}", f"Phạm Văn {('Hùng', 'Tuấn', 'Minh', 'Long')[i % 4]}",
                         CELLS[i % len(CELLS)]) for i in range(n)]
        async with httpx.AsyncClient(timeout=300) as client:
            await import_registry(client, [registry_row(p.card, p.name, p.cell) for p in people],
                                  self.chaos.auth(), self.chaos.services["members"].base)
        cards = [p.card for p in people]
        for table in ("identity.registry_members", "content.readers"):
            started = time.monotonic()
            while await self.db.fetchval(f"SELECT count(*) FROM {table} t JOIN members.members m "
                                         "ON m.id = t.member_id WHERE m.party_card_no = ANY($1)", cards) < n:
                assert time.monotonic() - started < 120, f"{table} does not hold the {n} new members"
                await asyncio.sleep(0.5)
        self.w.rng.shuffle(people)
        self.w.unregistered[:0] = people  # popped from the end: the older ones first
        self.w.readers += people
        self.people += people
        return people


@contextlib.asynccontextmanager
async def running_system(root: Path, *, seed: int, proxies: bool = True, small_disk: bool = True,
                         skewed: tuple[str, ...] = ("content", "metrics-2")):
    """The system of the fault tests, populated, with its workload; with `proxies`, every service's
    PostgreSQL goes through one proxy and identity's NATS through another; with `small_disk`,
    PostgreSQL's data directory is a filesystem of its own (when mounting is allowed); the `skewed`
    services' clocks can be set (when libfaketime is installed)."""
    from tests.support.proxy import Proxy
    from tests.system.test_cluster import until

    chaos = Chaos(root)
    db = nc = workload = disk = None
    disk_problem = "not asked for"
    proxied: list[Proxy] = []
    try:
        if small_disk:
            disk = SmallDisk(chaos.postgres.data_dir)
            if not disk.mount():
                disk_problem, disk = disk.reason or "mount refused", None
        chaos.start_postgres()
        chaos.start_nats()
        await chaos.wait_nats()
        clocks = {}
        if proxies:
            pg = Proxy(lambda: chaos.postgres.port, "postgres").start()
            nats_proxy = Proxy(chaos.nats_port, "nats").start()
            proxied += [pg, nats_proxy]
            for name in chaos.services:
                chaos.routes[name] = {"SOTAY_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg.port}/sotay"}
            chaos.routes["identity"]["SOTAY_NATS_URL"] = f"nats://127.0.0.1:{nats_proxy.port}"
        if SkewedClock.available():
            for name in skewed:
                clocks[name] = SkewedClock(root, name)
                chaos.routes.setdefault(name, {}).update(clocks[name].env())
        # The first process of each service creates the streams, buckets and consumers; one at a time.
        for name in chaos.services:
            chaos.start(name)
            await chaos.wait_ready(name)
        db = await asyncpg.create_pool(chaos.database_url, min_size=1, max_size=4)
        nc = await nats.connect(chaos.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                                connect_timeout=2)
        people, article = await populate(chaos)
        workload = Workload(chaos, people, article, seed)
        env = Env(chaos, db, nc, workload)
        if proxied:
            env.pg_proxy, env.nats_proxy = proxied
        env.clocks, env.disk, env.disk_problem = clocks, disk, disk_problem
        # Registrations match only once identity's replica holds the registry.
        await until(lambda: db.fetchval("SELECT count(*) >= $1 FROM identity.registry_members", len(people)),
                    60, "identity has the registry")
        stream = await env.js.stream_info("SOTAY_MEMBERS")
        assert stream.config.duplicate_window == DUPLICATE_WINDOW_S
        yield env
    finally:
        if workload is not None:
            await workload.close()
        if nc is not None:
            await nc.close()
        if db is not None:
            await db.close()
        chaos.stop_all()
        for proxy in proxied:
            proxy.close()
        if disk is not None:  # PostgreSQL's log goes with its filesystem: kept with the others
            with contextlib.suppress(OSError):
                (chaos.root / "logs" / "postgres.log").write_bytes((chaos.postgres.data_dir / "postgres.log").read_bytes())
            disk.unmount()
        print(f"logs of the fault tests: {chaos.root / 'logs'}")
