"""Upgrades without downtime (docs/upgrades.md): a rolling restart of every service in split mode
while load runs.

Two `sotay serve` replicas of members, identity, content and metrics (and one webhooks) run on
the tests' NATS and PostgreSQL. A tiny round-robin proxy in the test sends each request to a
replica whose /readyz answered 200 when last asked (every 0.3 s, as a proxy or Kubernetes asks),
and retries once on another replica when the first one fails, as a real client would. Under a
steady load of registrations, approvals and reads, each replica of each service in turn gets
SIGTERM, is waited for, and is started again and waited ready before the next. Then: no request
failed beyond its one retry, every acknowledged command has exactly one effect (rows, events in the
stream, metrics' figures), no consumer holds a message or lags, nothing was dead-lettered.

The first test shows what SIGTERM does to one replica: /readyz answers 503 at once while the
request in flight finishes, and the consumers leave nothing waiting for its ack wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from sotay.kit.auth import Grant, mint_token
from sotay.kit.embedded import free_port
from sotay.kit.settings import Settings
from tests.support.system import CONSENT, ONE_ADDRESS_FOR_A_CITY, registry_row
from tests.system.test_cluster import Processes

pytestmark = pytest.mark.integration

REPLICAS = {"members": 2, "identity": 2, "content": 2, "metrics": 2, "webhooks": 1}
CELLS = ["ba-dinh-g1-c1", "ba-dinh-g1-c2", "tay-ho-g1-c1", "tay-ho-g1-c2"]
MEMBERS = 1200  # in the registry; each registers at most once during the load
PASSWORD = "Chi bo vung manh trong sach"
DRAIN_S = 1.0  # SOTAY_SHUTDOWN_DRAIN_S: /readyz says 503 this long before the listener closes
ACK_WAIT_S = 30  # the default: a message a stopping replica left behind would wait this long


@dataclass
class Replica:
    name: str  # e.g. identity-2
    service: str
    port: int = field(default_factory=free_port)
    ready: bool = False  # what the proxy last saw at /readyz

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class System:
    def __init__(self, processes: Processes, nats_url: str, database_url: str, data_dir: Path) -> None:
        self.processes, self.nats_url, self.database_url, self.data_dir = processes, nats_url, database_url, data_dir
        self.replicas = {f"{s}-{n}": Replica(f"{s}-{n}", s) for s, count in REPLICAS.items()
                         for n in range(1, count + 1)}
        self.key = Settings(data_dir=data_dir).signing_key()

    def env(self, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
        env.update(SOTAY_NATS_URL=self.nats_url, SOTAY_DATABASE_URL=self.database_url, SOTAY_DATA_DIR=str(self.data_dir),
                   SOTAY_HTTP_HOST="127.0.0.1", SOTAY_LOG_LEVEL="INFO", SOTAY_LOG_FORMAT="text",
                   SOTAY_SHUTDOWN_DRAIN_S=str(DRAIN_S), SOTAY_ACK_WAIT_S=str(ACK_WAIT_S),
                   SOTAY_CONSUMER_FETCH_TIMEOUT_S="1", **ONE_ADDRESS_FOR_A_CITY)
        if port:
            env["SOTAY_HTTP_PORT"] = str(port)
        return env

    def start(self, name: str) -> None:
        r = self.replicas[name]
        self.processes.start(name, [sys.executable, "-m", "sotay", "serve", r.service], self.env(r.port))

    async def wait_ready(self, name: str, timeout: float = 60) -> float:
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                proc = self.processes.running[name]
                assert proc.poll() is None, f"{name} exited:\n{self.processes.tail(name)}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.replicas[name].base}/readyz")).status_code == 200:
                        return time.monotonic() - started
                assert time.monotonic() - started < timeout, f"{name} not ready:\n{self.processes.tail(name)}"
                await asyncio.sleep(0.1)

    def terminate(self, name: str) -> subprocess.Popen:
        proc = self.processes.running[name]
        proc.send_signal(signal.SIGTERM)
        return proc

    async def exited(self, name: str, timeout: float = 40) -> int:
        proc = self.processes.running[name]
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"{name} did not stop within {timeout} s:\n{self.processes.tail(name)}"
            await asyncio.sleep(0.05)
        return proc.returncode

    def auth(self, role: str = "city_admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(self.key, f'rolling-{role}', [Grant(role, 'city')], ttl_s=3600)}"}

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas.values() if r.service == service]


def cli(system: System, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sotay", *args], env=system.env(), capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
async def system(tmp_path_factory, nats_url, database_url):
    root = tmp_path_factory.mktemp("rolling")
    (root / "logs").mkdir()
    processes = Processes(root / "logs")
    system = System(processes, nats_url, database_url, root / "data")
    try:
        migrated = await asyncio.to_thread(cli, system, "migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        for name in system.replicas:
            system.start(name)
        for name in system.replicas:
            await system.wait_ready(name, 90)
        await populate(system)
        yield system
    finally:
        processes.stop_all()
        print(f"logs of the rolling restart test: {root / 'logs'}")


def population() -> list[tuple[str, str, str]]:
    return [(f"0{c + 1}{n:08d}", f"Nguyễn Văn {chr(65 + n % 26)}", cell)
            for n in range(MEMBERS // len(CELLS)) for c, cell in enumerate(CELLS)]


async def populate(system: System) -> None:
    admin = system.auth()
    async with httpx.AsyncClient(base_url=system.of("members")[0].base, timeout=60) as client:
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
        for committee in ("ba-dinh", "tay-ho"):
            tree += [{"code": committee, "name": committee, "kind": "committee", "parent": "city", "wave": 1},
                     {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots", "parent": committee}]
            tree += [{"code": f"{committee}-g1-c{n}", "name": f"Chi bộ {n}", "kind": "cell",
                      "parent": f"{committee}-g1"} for n in (1, 2)]
        for unit in tree:
            created = await client.post("/api/members/v1/org-units", json=unit, headers=admin)
            assert created.status_code == 201, created.text
    db = await asyncpg.connect(system.database_url)
    try:
        deadline = time.monotonic() + 60
        while await db.fetchval("SELECT count(*) FROM identity.registry_units") < len(tree):
            assert time.monotonic() < deadline, "identity did not get the org tree"
            await asyncio.sleep(0.2)
    finally:
        await db.close()


async def consumers_settled(js, *, timeout: float) -> dict[str, tuple[int, int, int]]:
    """Until every durable consumer has nothing pending and nothing unacknowledged; each one's
    (pending, ack pending, redelivered) then."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for stream in ("SOTAY_MEMBERS", "SOTAY_IDENTITY", "SOTAY_CONTENT", "SOTAY_METRICS"):
            async for info in _consumers(js, stream):
                seen[info.name] = (info.num_pending, info.num_ack_pending, info.num_redelivered)
        if all(p == 0 and a == 0 for p, a, _ in seen.values()):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"consumers not settled within {timeout} s (pending, ack pending, redelivered): "
                                 f"{ {k: v for k, v in seen.items() if v[0] or v[1]} }")
        await asyncio.sleep(0.2)


async def _consumers(js, stream: str):
    for info in await js.consumers_info(stream):
        if not info.name.startswith("district-"):
            yield info


# --- one replica on SIGTERM ------------------------------------------------------------------------


async def test_sigterm_answers_not_ready_at_once_finishes_its_requests_and_leaves_no_message_behind(system):
    """SIGTERM to members-1 while it imports a registry file (a request of a few seconds), and to
    identity-1 while its consumer applies the import's events: members-1 answers /readyz with 503 at
    once and goes on serving, its import answers 200 with every row; both exit cleanly, and identity's
    consumers hold nothing for an ack wait: everything settles well within it, nothing redelivered."""
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    admin = system.auth()
    rows = [registry_row(card, name, cell) for card, name, cell in population()]
    from services.members.adapters.import_files import write_csv
    body = write_csv(rows)
    try:
        before = await consumers_settled(js, timeout=30)
        members = system.replicas["members-1"]
        async with httpx.AsyncClient(timeout=60) as client:
            imported = asyncio.create_task(client.post(
                f"{members.base}/api/members/v1/imports", params={"wait": "true"}, headers=admin,
                files={"file": ("m.csv", body, "text/csv")}))
            db = await asyncpg.connect(system.database_url)
            try:  # the import has begun: its first members are in the registry
                deadline = time.monotonic() + 30
                while await db.fetchval("SELECT count(*) FROM members.members") == 0:
                    assert time.monotonic() < deadline and not imported.done(), \
                        imported.result().text if imported.done() else "the import did not start"
                    await asyncio.sleep(0.02)
            finally:
                await db.close()
            system.terminate("members-1")
            sent_at = time.monotonic()
            readyz = await client.get(f"{members.base}/readyz", timeout=2)
            assert readyz.status_code == 503, readyz.text
            assert readyz.json()["checks"]["members"]["serving"] is False
            assert time.monotonic() - sent_at < DRAIN_S
            # Still serving meanwhile: a request the proxy sent before it saw the 503 is answered.
            assert (await client.get(f"{members.base}/api/members/v1/org-units")).status_code == 200
            answer = await imported
            assert answer.status_code == 200 and answer.json()["imported"] == len(rows), answer.text

            # identity-1 stops while its registry consumer works through the import's events.
            async def registry_consumer_busy():
                info = await js.consumer_info("SOTAY_MEMBERS", "identity-registry")
                return info.num_ack_pending or info.num_pending
            deadline = time.monotonic() + 10
            while not await registry_consumer_busy() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            system.terminate("identity-1")
        assert await system.exited("members-1") == 0, system.processes.tail("members-1")
        stopped_at = time.monotonic()
        assert await system.exited("identity-1") == 0, system.processes.tail("identity-1")
        # Nothing held by the stopped replicas: all settles well before an ack wait, nothing redelivered.
        after = await consumers_settled(js, timeout=ACK_WAIT_S / 3)
        settled_s = time.monotonic() - stopped_at
        redelivered = {name: after[name][2] - before.get(name, (0, 0, 0))[2] for name in after}
        assert not any(redelivered.values()), redelivered
        print(f"sigterm test: settled {settled_s:.1f} s after identity-1 exited")
        db = await asyncpg.connect(system.database_url)
        try:
            assert await db.fetchval("SELECT count(*) FROM identity.registry_members") == len(rows)
        finally:
            await db.close()
    finally:
        for name in ("members-1", "identity-1"):
            if system.processes.running[name].poll() is not None:
                system.start(name)
        for name in ("members-1", "identity-1"):
            await system.wait_ready(name, 60)
        await nc.close()


# --- the rolling restart ---------------------------------------------------------------------------


@dataclass
class Ledger:
    registrations: dict[str, str] = field(default_factory=dict)  # id → card
    decisions: dict[str, str] = field(default_factory=dict)  # id → approved / rejected
    requests: int = 0
    retried: int = 0
    retry_reasons: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # failed on the replica retried too
    reads: int = 0


class Proxy:
    """Round robin over the replicas whose /readyz said 200 when last asked; a request that fails
    (no connection, cut off, a 5xx) is sent once more to the next replica, with the same
    Idempotency-Key, as a client retrying would."""

    def __init__(self, system: System, ledger: Ledger) -> None:
        self.system, self.ledger = system, ledger
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(15, connect=2))
        self.turns = {s: itertools.count() for s in REPLICAS}

    async def watch(self) -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                async def look(r: Replica):
                    try:
                        r.ready = (await client.get(f"{r.base}/readyz")).status_code == 200
                    except httpx.HTTPError:
                        r.ready = False
                await asyncio.gather(*(look(r) for r in self.system.replicas.values()))
                await asyncio.sleep(0.3)

    def pick(self, service: str, avoid: Replica | None = None) -> Replica:
        replicas = self.system.of(service)
        ready = [r for r in replicas if r.ready and r is not avoid] or [r for r in replicas if r is not avoid] \
            or replicas
        return ready[next(self.turns[service]) % len(ready)]

    async def request(self, method: str, service: str, path: str, *, ok: int, **kw) -> dict | None:
        self.ledger.requests += 1
        first = self.pick(service)
        reason = ""
        for attempt, replica in enumerate((first, None)):
            replica = replica or self.pick(service, avoid=first)
            try:
                answer = await self.client.request(method, f"{replica.base}{path}", **kw)
            except httpx.TransportError as exc:
                reason = f"{replica.name}: {exc!r}"
            else:
                if answer.status_code == ok:
                    return answer.json()
                reason = f"{replica.name}: {answer.status_code} {answer.text[:200]}"
                if answer.status_code < 500:
                    break
            if attempt == 0:
                self.ledger.retried += 1
                self.ledger.retry_reasons.append(reason[:160])
        self.ledger.failures.append(f"{method} {path}: {reason}")
        return None


async def drive(proxy: Proxy, system: System, stop: asyncio.Event) -> None:
    """Registrations at a steady pace, each approved (or rejected) a moment later, and reads of the
    figures, the feed and the registry beside them, until `stop`."""
    admin, editor = system.auth(), system.auth("editor")
    people = iter(population())
    tasks: list[asyncio.Task] = []

    async def one(i: int, card: str, name: str) -> None:
        body = {"party_card_no": card, "full_name": name, "date_of_birth": "1970-01-01", "phone": f"09{card[-8:]}",
                "password": PASSWORD, "platform": "web" if i % 3 else "mobile", "consent": CONSENT}
        answer = await proxy.request("POST", "identity", "/api/identity/v1/registrations", ok=202, json=body,
                                     headers={"Idempotency-Key": f"reg-{card}"})
        if answer is None:
            return
        proxy.ledger.registrations[answer["id"]] = card
        await asyncio.sleep(0.3)
        verb = "reject" if i % 5 == 4 else "approve"
        decided = await proxy.request(
            "POST", "identity", f"/api/identity/v1/registrations/{answer['id']}/{verb}", ok=200,
            json={"reason": "Sai số điện thoại"} if verb == "reject" else None,
            headers={**admin, "Idempotency-Key": f"{verb}-{answer['id']}"})
        if decided is not None:
            proxy.ledger.decisions[answer["id"]] = decided["status"]

    async def read(i: int) -> None:
        service, path = [("metrics", "/api/metrics/v1/rollout?unit=city"), ("members", "/api/members/v1/org-units"),
                         ("content", "/api/content/v1/articles"), ("identity", "/api/identity/v1/registrations")][i % 4]
        headers = editor if service == "content" else admin
        if await proxy.request("GET", service, path, ok=200, headers=headers) is not None:
            proxy.ledger.reads += 1

    for i in itertools.count():
        if stop.is_set():
            break
        try:
            card, name, _ = next(people)
        except StopIteration:
            break
        tasks.append(asyncio.create_task(one(i, card, name)))
        tasks.append(asyncio.create_task(read(i)))
        await asyncio.sleep(0.1)
    await asyncio.gather(*tasks)


async def test_rolling_restart_of_every_service_under_load_loses_and_doubles_nothing(system, tmp_path):
    report: dict[str, object] = {}
    started = time.monotonic()
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    db = await asyncpg.connect(system.database_url)
    ledger = Ledger()
    proxy = Proxy(system, ledger)
    watcher = asyncio.create_task(proxy.watch())
    stop = asyncio.Event()
    try:
        await consumers_settled(js, timeout=30)
        before = {s: (await js.stream_info(s)).state.messages for s in ("SOTAY_IDENTITY", "SOTAY_DLQ")}
        outbox_before = await db.fetchval("SELECT count(*) FROM identity.outbox")
        await asyncio.sleep(0.6)  # the proxy has looked at every replica
        load = asyncio.create_task(drive(proxy, system, stop))
        await asyncio.sleep(1.0)
        restarts = report["restarts"] = {}
        for name in system.replicas:
            at = time.monotonic()
            system.terminate(name)
            code = await system.exited(name)
            assert code == 0, f"{name} exited with {code}:\n{system.processes.tail(name)}"
            stopped = time.monotonic() - at
            system.start(name)
            ready = await system.wait_ready(name, 60)
            restarts[name] = (round(stopped, 1), round(ready, 1))
            assert not load.done(), "the load ended before every replica was restarted: make it longer"
        stop.set()
        await asyncio.wait_for(load, 60)
        report.update(requests=ledger.requests, retried=ledger.retried, retry_reasons=ledger.retry_reasons[:8], reads=ledger.reads,
                      registrations=len(ledger.registrations), decisions=len(ledger.decisions))

        # No request failed beyond its one retry.
        assert ledger.failures == [], ledger.failures[:10]
        assert ledger.registrations and ledger.decisions

        # Every acknowledged command had exactly one effect.
        rows = await db.fetch("SELECT id::text, party_card_no, status FROM identity.registrations")
        assert {r["id"] for r in rows} == set(ledger.registrations)
        assert sorted(r["party_card_no"] for r in rows) == sorted(ledger.registrations.values())
        for r in rows:
            assert r["status"] == ledger.decisions.get(r["id"], "pending"), r
        approved = sum(s == "approved" for s in ledger.decisions.values())
        assert await db.fetchval("SELECT count(*) FROM identity.accounts") == approved

        # Every event published once; no consumer lags or holds a message; nothing dead-lettered.
        settle = time.monotonic()
        deadline = settle + 30
        while await db.fetchval("SELECT count(*) FROM identity.outbox WHERE published_at IS NULL"):
            assert time.monotonic() < deadline, "identity's outbox not published"
            await asyncio.sleep(0.2)
        outbox = await db.fetchval("SELECT count(*) FROM identity.outbox") - outbox_before
        # Per registration its RegistrationSubmitted and ConsentGiven, one event per decision.
        assert outbox == 2 * len(ledger.registrations) + len(ledger.decisions)
        assert (await js.stream_info("SOTAY_IDENTITY")).state.messages - before["SOTAY_IDENTITY"] == outbox
        settled = await consumers_settled(js, timeout=ACK_WAIT_S / 2)
        report["consumers_settled_s"] = round(time.monotonic() - settle, 1)
        report["redelivered"] = {k: v[2] for k, v in settled.items() if v[2]}
        assert (await js.stream_info("SOTAY_DLQ")).state.messages == before["SOTAY_DLQ"]

        # Metrics counted each registration and decision once (both replicas, read once settled).
        async with httpx.AsyncClient(timeout=10) as client:
            for replica in system.of("metrics"):
                deadline = time.monotonic() + 20
                while True:
                    city = (await client.get(f"{replica.base}/api/metrics/v1/rollout", params={"unit": "city"},
                                             headers=system.auth())).json()
                    want = (len(ledger.registrations), approved,
                            sum(s == "rejected" for s in ledger.decisions.values()))
                    got = (city["funnel"]["registered"], city["accounts_approved"], city["accounts_rejected"])
                    if got == want:
                        break
                    assert time.monotonic() < deadline, f"{replica.name}: {got} != {want}"
                    await asyncio.sleep(0.3)
    finally:
        stop.set()
        watcher.cancel()
        await proxy.client.aclose()
        await db.close()
        await nc.close()
        report["test_s"] = round(time.monotonic() - started, 1)
        (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
        print("rolling restart:", json.dumps(report))
