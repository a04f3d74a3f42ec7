"""The system on a 3-node JetStream cluster, in split mode, through failures.

Three nats-server processes on loopback form a cluster; members, two
identity replicas and two metrics replicas run as `sotay serve` processes
with R3 streams. A small registry is loaded, then registrations and
approvals (and a few rejections) are driven over HTTP at a steady pace,
round-robin over the identity replicas, each request with its own
Idempotency-Key and retried with it until acknowledged. Mid-load the node
leading SOTAY_IDENTITY, the metrics replica publishing the snapshots and
one identity replica (with its requests in flight) are killed with SIGKILL;
the load goes on; all three are started again (the node with its name,
ports and store). Once it settles, every figure must be exactly
what was acknowledged — at the city, the committees and the cells, in both
metrics replicas and in a recomputation from the streams — no registration
lost or doubled, nothing in the stream twice, nothing dead-lettered, and
every stream back to three current replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
import psutil
import pytest

from services.metrics.handlers.snapshots import PUBLISHER_KEY
from sotay.kit.auth import Grant, mint_token
from sotay.kit.embedded import free_port, nats_server_binary
from sotay.kit.service import nats_servers
from sotay.kit.settings import Settings
from sotay.kit.streams import STREAMS
from tests.support.retry import post_until_answered
from tests.support.system import CONSENT, ONE_ADDRESS_FOR_A_CITY, import_registry, registry_row

pytestmark = pytest.mark.integration

NODES = ("n1", "n2", "n3")
# committee → its cells (each under one grassroots organisation)
TREE = {"ba-dinh": ["ba-dinh-g1-c1", "ba-dinh-g1-c2"], "tay-ho": ["tay-ho-g1-c1", "tay-ho-g1-c2"]}
CELLS = [cell for cells in TREE.values() for cell in cells]
MEMBERS_PER_CELL = 70
REGISTERED_PER_CELL = 60  # the rest never register
PER_SECOND = 7.0  # registrations started per second, steadily
IN_FLIGHT = 16  # registrations (with their decision) under way at most
PASSWORD = "Chi bo vung manh trong sach"
FAMILY, MIDDLE, GIVEN = ("Nguyễn", "Trần", "Lê", "Phạm"), ("Văn", "Thị", "Đức"), ("An", "Bình", "Cường", "Dung")
FIGURES = ("members_total", "members_eligible", "accounts_installed", "accounts_web", "accounts_mobile",
           "accounts_pending", "accounts_approved", "accounts_rejected", "installed_pct_total",
           "installed_pct_eligible")


FATES = ("approve",) * 6 + ("reject",) + ("pending",) * 3


def fate_of(i: int) -> str:
    """What the approver does with the i-th registration: 60% approved, 10% rejected, 30% left waiting."""
    return FATES[i % 10]


def platform_of(i: int) -> str:
    return "web" if i % 3 == 0 else "mobile"


@dataclass
class Member:
    card: str
    name: str
    cell: str

    @property
    def phone(self) -> str:
        return f"09{self.card[-8:]}"


def population() -> list[Member]:
    members = []
    for c, cell in enumerate(CELLS):
        for n in range(MEMBERS_PER_CELL):
            name = f"{FAMILY[n % 4]} {MIDDLE[n // 4 % 3]} {GIVEN[n // 12 % 4]}"
            members.append(Member(f"0{c + 1}{n:07d}", name, cell))
    return members


# --- processes -------------------------------------------------------------------------------


class Processes:
    """Every process the test starts, each in its own process group, so that
    a kill takes its children too and nothing outlives the test."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        assert name not in self.running or self.running[name].poll() is not None, f"{name} runs already"
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.running[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its group, as a machine dying would."""
        proc = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        """The services first (SIGINT: they stop cleanly while NATS is there), then the servers; whatever
        is left of a group after 20 s is killed."""
        alive = [p for p in self.running.values() if p.poll() is None]
        services = [p for p in alive if "nats-server" not in p.args[0]]
        for group, sig in ((services, signal.SIGINT), ([p for p in alive if p not in services], signal.SIGTERM)):
            for proc in group:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
            deadline = time.monotonic() + 20
            for proc in group:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.1, deadline - time.monotonic()))
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
            proc.wait(10)

    def tail(self, name: str, lines: int = 40) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@dataclass
class Node:
    name: str
    store: Path
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self, routes: list[str]) -> list[str]:
        return [nats_server_binary(), "-js", "-sd", str(self.store), "--name", self.name, "-a", "127.0.0.1",
                "-p", str(self.port), "-m", str(self.http_port), "--cluster_name", "sotay",
                "--cluster", f"nats://127.0.0.1:{self.cluster_port}", "--routes", ",".join(routes)]


class Cluster:
    def __init__(self, processes: Processes, root: Path) -> None:
        self.processes = processes
        self.nodes = {name: Node(name, root / name) for name in NODES}

    def start(self, name: str) -> None:
        node = self.nodes[name]
        routes = [f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes.values() if n is not node]
        self.processes.start(f"nats-{name}", node.argv(routes))

    @property
    def url(self) -> str:
        """SOTAY_NATS_URL: every node, comma-separated (sotay.service.nats_servers)."""
        return ",".join(n.url for n in self.nodes.values())

    def jsz(self, name: str) -> dict | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.nodes[name].http_port}/jsz", timeout=1)
            return answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def healthy(self, name: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.nodes[name].http_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_formed(self, timeout: float = 30) -> str:
        """Until every node is healthy and agrees on a meta leader of a 3-node cluster; the leader's name."""
        async def formed():
            metas = [(self.jsz(n) or {}).get("meta_cluster") or {} for n in NODES]
            leaders = {m.get("leader") for m in metas}
            if len(leaders) == 1 and None not in leaders and all(m.get("cluster_size") == 3 for m in metas) \
                    and all(self.healthy(n) for n in NODES):
                return leaders.pop()
            return None
        return await until(formed, timeout, "the cluster has a meta leader")


async def until(check, timeout: float, what: str, interval: float = 0.2):
    """Poll an async check until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except Exception as exc:  # a server in the middle of a failover: ask again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f} s: {what} (last: {last!r})")


# --- the system -----------------------------------------------------------------------------


@dataclass
class Service:
    name: str  # the process's name, e.g. identity-2
    service: str
    port: int = field(default_factory=free_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class System:
    def __init__(self, processes: Processes, cluster: Cluster, database_url: str, data_dir: Path) -> None:
        self.processes, self.cluster, self.database_url, self.data_dir = processes, cluster, database_url, data_dir
        self.services = {s.name: s for s in [
            Service("members", "members"), Service("identity-1", "identity"), Service("identity-2", "identity"),
            Service("metrics-1", "metrics"), Service("metrics-2", "metrics")]}
        self.key = Settings(data_dir=data_dir).signing_key()
        self.start_failures: list[str] = []  # replicas that exited while starting (and were started again)

    def env(self, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
        env.update(SOTAY_NATS_URL=self.cluster.url, SOTAY_DATABASE_URL=self.database_url,
                   SOTAY_DATA_DIR=str(self.data_dir), SOTAY_STREAM_REPLICAS="3", SOTAY_HTTP_HOST="127.0.0.1",
                   # Messages a killed replica had fetched come back after ack_wait: 10 s, not 30.
                   SOTAY_ACK_WAIT_S="10", SOTAY_LOG_LEVEL="INFO", **ONE_ADDRESS_FOR_A_CITY)
        if port:
            env["SOTAY_HTTP_PORT"] = str(port)
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sotay", *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout, start_new_session=True)

    def start(self, name: str) -> None:
        s = self.services[name]
        self.processes.start(name, [sys.executable, "-m", "sotay", "serve", s.service], self.env(s.port))

    async def wait_ready(self, name: str, timeout: float = 60, restarts: int = 2) -> float:
        """Until the replica answers /readyz. One that exits while starting is started again, as its
        supervisor would (compose: restart: unless-stopped), at most `restarts` times; each is recorded."""
        started = time.monotonic()
        deadline = started + timeout

        async def ready():
            proc = self.processes.running[name]
            if proc.poll() is not None:
                self.start_failures.append(f"{name} exited with {proc.returncode}: "
                                           f"{self.processes.tail(name, 3).strip()[-300:]}")
                assert sum(f.startswith(f"{name} ") for f in self.start_failures) <= restarts, \
                    f"{name} exited {restarts + 1} times while starting:\n{self.processes.tail(name)}"
                self.start(name)
                return False
            async with httpx.AsyncClient(timeout=2) as client:
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(f"{self.services[name].base}/readyz")).status_code == 200
            return False
        while not await ready():
            assert time.monotonic() < deadline, f"{name} not ready within {timeout} s:\n{self.processes.tail(name)}"
            await asyncio.sleep(0.2)
        return time.monotonic() - started

    def token(self, role: str = "city_admin", unit: str = "city", subject: str = "cluster-test-admin") -> str:
        return mint_token(self.key, subject, [Grant(role, unit)], ttl_s=3600)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def replicas(self, service: str) -> list[Service]:
        return [s for s in self.services.values() if s.service == service]

    async def pid_holding(self, db: asyncpg.Pool, lock_key: int) -> int | None:
        """The OS process (among ours) whose database connection holds the advisory lock."""
        unsigned = lock_key & 0xFFFFFFFFFFFFFFFF
        port = await db.fetchval(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1",
            unsigned >> 32, unsigned & 0xFFFFFFFF)
        if port is None:
            return None
        for name, proc in self.processes.running.items():
            if proc.poll() is not None or not name.startswith(("metrics", "identity", "members")):
                continue
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(proc.pid).net_connections(kind="tcp"):
                    if conn.laddr and conn.laddr.port == port:
                        return proc.pid
        return None

    def name_of(self, pid: int | None) -> str | None:
        return next((n for n, p in self.processes.running.items() if p.pid == pid), None)


@pytest.fixture
async def system(tmp_path, database_url):
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    try:
        cluster = Cluster(processes, tmp_path / "jetstream")
        for name in NODES:
            cluster.start(name)
        await cluster.wait_formed()
        system = System(processes, cluster, database_url, tmp_path / "data")
        # Migrations, the signing key and the personal-data key, once, before any replica (as compose does).
        migrated = await asyncio.to_thread(system.cli, "migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        # One after the other: the first of each creates its streams and buckets (R3), and on two cores
        # the processes starting side by side slow the cluster's agreement on them.
        for name in ("members", "metrics-1", "identity-1", "metrics-2", "identity-2"):
            system.start(name)
            await system.wait_ready(name)
        yield system
    finally:
        processes.stop_all()
    print(f"logs of the cluster test: {logs}")


# --- load -----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the identity replicas acknowledged, as the client saw it."""

    registrations: dict[str, tuple[Member, str]] = field(default_factory=dict)  # id → member, platform
    decisions: dict[str, str] = field(default_factory=dict)  # registration id → approved / rejected
    attempts: int = 0
    retries: int = 0
    failures: list[str] = field(default_factory=list)  # requests that got a final answer other than success


class Driver:
    def __init__(self, system: System) -> None:
        self.system = system
        self.ledger = Ledger()
        self.identity = itertools.cycle([s.base for s in system.replicas("identity")])
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2))
        self.admin = system.auth()

    async def post(self, path: str, *, json_body: dict | None, ok: int, headers: dict[str, str] | None = None,
                   give_up_after: float = 90) -> dict | None:
        """POST to the next identity replica with one Idempotency-Key, again (same key, next replica)
        until answered (tests/support/retry.py)."""
        return await post_until_answered(self.client, lambda: next(self.identity), path, ok=ok, tally=self.ledger,
                                         headers=headers or {}, give_up_after=give_up_after, json=json_body)

    async def one(self, i: int, member: Member) -> None:
        platform = platform_of(i)
        body = {"party_card_no": member.card, "full_name": member.name, "date_of_birth": "1970-01-01",
                "phone": member.phone, "password": PASSWORD, "platform": platform, "consent": CONSENT}
        answer = await self.post("/api/identity/v1/registrations", json_body=body, ok=202)
        if answer is None:
            return
        reg_id = answer["id"]
        self.ledger.registrations[reg_id] = (member, platform)
        fate = fate_of(i)
        if fate == "pending":
            return
        await asyncio.sleep(0.5)  # the approver looks at the queue a moment later
        if fate == "approve":
            decided = await self.post(f"/api/identity/v1/registrations/{reg_id}/approve", json_body=None, ok=200,
                                      headers=self.admin)
        else:
            decided = await self.post(f"/api/identity/v1/registrations/{reg_id}/reject",
                                      json_body={"reason": "Sai số điện thoại"}, ok=200, headers=self.admin)
        if decided is not None:
            assert decided["status"] == {"approve": "approved", "reject": "rejected"}[fate], decided
            self.ledger.decisions[reg_id] = decided["status"]

    async def run(self, registrants: list[Member]) -> None:
        slots = asyncio.Semaphore(IN_FLIGHT)
        tasks = []
        started = time.monotonic()

        async def guarded(i: int, member: Member) -> None:
            try:
                await self.one(i, member)
            finally:
                slots.release()
        for i, member in enumerate(registrants):
            # A steady pace: the i-th registration starts at i / PER_SECOND (later only if IN_FLIGHT are stuck).
            await asyncio.sleep(max(0.0, started + i / PER_SECOND - time.monotonic()))
            await slots.acquire()
            tasks.append(asyncio.create_task(guarded(i, member)))
        await asyncio.gather(*tasks)


# --- the test -------------------------------------------------------------------------------


async def populate(system: System) -> list[Member]:
    members = population()
    admin = system.auth()
    base = system.services["members"].base
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
        for committee, cells in TREE.items():
            tree += [{"code": committee, "name": committee, "kind": "committee", "parent": "city", "wave": 1},
                     {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots",
                      "parent": committee}]
            tree += [{"code": cell, "name": cell, "kind": "cell", "parent": f"{committee}-g1"} for cell in cells]
        for unit in tree:
            created = await client.post("/api/members/v1/org-units", json=unit, headers=admin)
            assert created.status_code == 201, created.text
        await import_registry(client, [registry_row(m.card, m.name, m.cell) for m in members], admin)
    return members


def expected_figures(members: list[Member], ledger: Ledger) -> dict[str, dict[str, float]]:
    """Every unit's figures from the registry loaded and what identity acknowledged."""
    units_of = {cell: ["city", committee, f"{committee}-g1", cell] for committee, cells in TREE.items()
                for cell in cells}
    counts: dict[str, dict[str, int]] = {u: dict.fromkeys(FIGURES[:8], 0) for us in units_of.values() for u in us}
    for m in members:
        for u in units_of[m.cell]:
            counts[u]["members_total"] += 1
            counts[u]["members_eligible"] += 1
    for reg_id, (m, platform) in ledger.registrations.items():
        status = ledger.decisions.get(reg_id, "pending")
        for u in units_of[m.cell]:
            c = counts[u]
            c[f"accounts_{status}"] += 1
            if status != "rejected":
                c["accounts_installed"] += 1
                c[f"accounts_{platform}"] += 1
    for c in counts.values():
        c["installed_pct_total"] = round(c["accounts_installed"] / c["members_total"] * 100, 2)
        c["installed_pct_eligible"] = round(c["accounts_installed"] / c["members_eligible"] * 100, 2)
    return counts


async def rollout(client: httpx.AsyncClient, base: str, unit: str, headers: dict[str, str]) -> dict:
    answer = await client.get(f"{base}/api/metrics/v1/rollout", params={"unit": unit}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def stream_info(js, name: str):
    return await asyncio.wait_for(js.stream_info(name), 3)


async def streams_current(js) -> dict[str, str]:
    """Each stream's leader, once every stream has 3 replicas, a leader and both followers current."""
    leaders = {}
    for name in [*STREAMS, "KV_sotay_rollout"]:
        info = await stream_info(js, name)
        cluster = info.cluster
        if info.config.num_replicas != 3 or cluster is None or not cluster.leader \
                or len(cluster.replicas or []) != 2 or not all(r.current for r in cluster.replicas):
            return {}
        leaders[name] = cluster.leader
    return leaders


async def test_cluster_failover_keeps_every_figure_exact(system: System, tmp_path):
    test_started = time.monotonic()
    report: dict[str, object] = {}
    nc = await nats.connect(nats_servers(system.cluster.url), max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                            connect_timeout=2)
    db = await asyncpg.create_pool(system.database_url, min_size=1, max_size=4)
    try:
        js = nc.jetstream()
        # Streams in the cluster with 3 replicas, on 3 peers.
        leaders = await until(lambda: streams_current(js), 30, "every stream has 3 current replicas")
        assert set(leaders) == {*STREAMS, "KV_sotay_rollout"}
        info = await stream_info(js, "SOTAY_IDENTITY")
        assert info.config.num_replicas == 3
        assert {info.cluster.leader, *(r.name for r in info.cluster.replicas)} == set(NODES)

        members = await populate(system)
        registrants = [m for m in members if int(m.card[2:]) < REGISTERED_PER_CELL]
        # Registrations match only once identity's replica of the registry holds the members.
        await until(lambda: db.fetchval("SELECT count(*) = $1 FROM identity.registry_members", len(members)),
                    60, "identity has the registry")

        driver = Driver(system)
        load = asyncio.create_task(driver.run(registrants))
        chaos = asyncio.create_task(failures(system, js, db, driver, len(registrants), report))
        await asyncio.wait_for(asyncio.gather(load, chaos), 240)
        ledger = driver.ledger
        await driver.client.aclose()
        report["load_s"] = round(time.monotonic() - test_started, 1)
        report.update(registrations_driven=len(registrants), registrations_acknowledged=len(ledger.registrations),
                      decisions_acknowledged=len(ledger.decisions), attempts=ledger.attempts,
                      retries=ledger.retries)

        # Every request was acknowledged in the end, some only once retried on the other identity replica.
        assert ledger.failures == [], ledger.failures
        assert ledger.retries > 0
        assert len(ledger.registrations) == len(registrants)
        assert len(ledger.decisions) == sum(fate_of(i) != "pending" for i in range(len(registrants)))

        # Nothing lost, nothing doubled in identity: exactly the acknowledged registrations, each once.
        rows = await db.fetch("SELECT id::text, party_card_no, status, platform FROM identity.registrations")
        assert {r["id"] for r in rows} == set(ledger.registrations)
        assert len({r["party_card_no"] for r in rows}) == len(rows) == len(registrants)
        for r in rows:
            member, platform = ledger.registrations[r["id"]]
            assert (r["party_card_no"], r["platform"], r["status"]) == \
                (member.card, platform, ledger.decisions.get(r["id"], "pending"))
        assert await db.fetchval("SELECT count(*) FROM identity.accounts") == \
            sum(s == "approved" for s in ledger.decisions.values())

        # Every figure exact, at the city, the committees and the cells, read from either metrics replica.
        want = expected_figures(members, ledger)
        admin = system.auth()
        async with httpx.AsyncClient(timeout=10) as client:
            async def settled():
                for replica in system.replicas("metrics"):
                    for unit, figures in want.items():
                        got = await rollout(client, replica.base, unit, admin)
                        if {n: got[n] for n in FIGURES} != figures:
                            return None
                return True
            settle_started = time.monotonic()
            try:
                await until(settled, 90, "the metrics figures equal what was acknowledged", interval=0.5)
            except AssertionError:
                got = {u: {n: (await rollout(client, system.services["metrics-1"].base, u, admin))[n]
                           for n in FIGURES} for u in want}
                diff = {u: {n: (got[u][n], want[u][n]) for n in FIGURES if got[u][n] != want[u][n]} for u in want}
                raise AssertionError(f"figures (live, expected) that differ: {diff}\n"
                                     f"metrics-1:\n{system.processes.tail('metrics-1')}") from None
            report["settled_after_load_s"] = round(time.monotonic() - settle_started, 1)
            city = await rollout(client, system.services["metrics-2"].base, "city", admin)
            approved = sum(s == "approved" for s in ledger.decisions.values())
            assert city["accounts_installed"] == len(registrants) - sum(
                s == "rejected" for s in ledger.decisions.values())
            assert city["accounts_approved"] == approved
            assert city["funnel"]["registered"] == len(registrants) and city["funnel"]["approved"] == approved
            children = (await client.get(f"{system.services['metrics-1'].base}/api/metrics/v1/rollout/children",
                                         params={"unit": "city"}, headers=admin)).json()["items"]
            assert {u["unit_code"]: u["accounts_installed"] for u in children} == \
                {c: want[c]["accounts_installed"] for c in TREE}

        # What metrics publishes says the same: the latest value of each unit in the bucket, and the last
        # snapshot of the city on the metrics stream.
        bucket = await js.key_value("sotay_rollout")

        async def bucket_settled():
            for unit, figures in want.items():
                value = json.loads((await asyncio.wait_for(bucket.get(unit), 3)).value)
                if {n: value[n] for n in FIGURES} != figures:
                    return None
            return True
        await until(bucket_settled, 30, "the bucket holds the exact figures of every unit")
        last = await asyncio.wait_for(js.get_last_msg("SOTAY_METRICS", "sotay.metrics.rollout.city"), 3)
        assert {n: json.loads(last.data)["data"][n] for n in FIGURES} == want["city"]

        # The figures recomputed from the streams are the live ones.
        verified = await asyncio.to_thread(system.cli, "metrics", "verify")
        assert verified.returncode == 0 and "every figure matches" in verified.stdout, \
            verified.stdout + verified.stderr
        recomputed = re.search(r"recomputed from ([\d,]+) events", verified.stdout)
        assert recomputed and int(recomputed[1].replace(",", "")) >= \
            len(members) + len(registrants) + len(ledger.decisions), verified.stdout

        # Every stream back to 3 current replicas (the restarted node among them), the meta group whole.
        await until(lambda: streams_current(js), 60, "every stream has 3 current replicas after the restart")
        for name in [*STREAMS, "KV_sotay_rollout"]:
            cluster = (await stream_info(js, name)).cluster
            assert {cluster.leader, *(r.name for r in cluster.replicas)} == set(NODES), (name, cluster)
        for name in NODES:
            assert (system.cluster.jsz(name) or {}).get("meta_cluster", {}).get("cluster_size") == 3

        # The stream holds each identity event exactly once: per registration its RegistrationSubmitted and
        # its ConsentGiven, and one per decision, as the outbox wrote them, all published; nothing was
        # dead-lettered.
        assert await db.fetchval("SELECT count(*) FROM identity.outbox WHERE published_at IS NULL") == 0
        outbox = await db.fetchval("SELECT count(*) FROM identity.outbox")
        assert outbox == 2 * len(registrants) + len(ledger.decisions)
        assert (await stream_info(js, "SOTAY_IDENTITY")).state.messages == outbox
        assert (await stream_info(js, "SOTAY_DLQ")).state.messages == 0
        consumer = await asyncio.wait_for(js.consumer_info("SOTAY_IDENTITY", "metrics-accounts"), 3)
        assert (consumer.num_pending, consumer.num_ack_pending) == (0, 0)
        report["metrics_accounts_redelivered"] = consumer.num_redelivered  # what the inbox had to absorb
    finally:
        report["test_s"] = round(time.monotonic() - test_started, 1)
        report["start_failures"] = system.start_failures
        (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
        print("cluster test:", json.dumps(report))
        await db.close()
        await nc.close()


async def failures(system: System, js, db: asyncpg.Pool, driver: Driver, total: int,
                   report: dict[str, object]) -> None:
    """A third into the load: SIGKILL the node leading SOTAY_IDENTITY, the metrics replica publishing the
    snapshots and identity-1 (its requests in flight are retried on identity-2 with their keys); two thirds
    in, start all three again. Records how long each took to recover."""
    ledger = driver.ledger

    async def acknowledged(n: int) -> bool:
        return len(ledger.registrations) >= n
    await until(lambda: acknowledged(total // 3), 120, "a third of the load")

    leader = (await stream_info(js, "SOTAY_IDENTITY")).cluster.leader
    publisher = system.name_of(await system.pid_holding(db, PUBLISHER_KEY))
    assert leader in NODES and publisher in ("metrics-1", "metrics-2"), (leader, publisher)
    survivor = {"metrics-1": "metrics-2", "metrics-2": "metrics-1"}[publisher]
    acked_before = len(ledger.registrations)
    database_clock = await db.fetchval("SELECT clock_timestamp()")
    killed_at = time.monotonic()
    system.processes.kill(f"nats-{leader}")
    system.processes.kill(publisher)
    system.processes.kill("identity-1")
    report.update(killed_node=leader, killed_metrics=publisher, acknowledged_at_kill=acked_before)
    admin = system.auth()

    async def new_leader():
        now = (await stream_info(js, "SOTAY_IDENTITY")).cluster.leader
        return now if now and now != leader else None

    async def taken_over():
        return system.name_of(await system.pid_holding(db, PUBLISHER_KEY)) == survivor

    async def relayed():  # every identity event written before the kill is in the stream
        return await db.fetchval("SELECT count(*) = 0 FROM identity.outbox WHERE published_at IS NULL "
                                 "AND created_at <= $1", database_clock)

    async def counted():  # the projection counts every registration acknowledged before the kill
        async with httpx.AsyncClient(timeout=5) as client:
            city = await rollout(client, system.services[survivor].base, "city", admin)
        return city["funnel"]["registered"] >= acked_before

    async def published():  # and the snapshot of the city in the bucket says so
        entry = await asyncio.wait_for((await js.key_value("sotay_rollout")).get("city"), 3)
        return json.loads(entry.value)["funnel"]["registered"] >= acked_before

    async def timed(name: str, check, what: str) -> None:
        result = await until(check, 90, what)
        report[f"{name}_s"] = round(time.monotonic() - killed_at, 1)
        if name == "stream_leader_elected":
            report["identity_stream_leader_after"] = result
    await asyncio.gather(
        timed("stream_leader_elected", new_leader, "SOTAY_IDENTITY elects a new leader"),
        timed("publisher_taken_over", taken_over, f"{survivor} takes the snapshot publishing over"),
        timed("relayed_up_to_the_kill", relayed, "identity's relay publishes what was written before the kill"),
        timed("counted_up_to_the_kill", counted, "every registration acknowledged before the kill is counted"),
        timed("published_up_to_the_kill", published, "the city's snapshot counts them"))

    await until(lambda: acknowledged(total * 2 // 3), 120, "two thirds of the load")
    restarted_at = time.monotonic()
    system.cluster.start(leader)
    system.start(publisher)
    system.start("identity-1")
    await system.wait_ready(publisher)
    report["metrics_replica_ready_s"] = round(time.monotonic() - restarted_at, 1)
    await system.wait_ready("identity-1")
    report["identity_replica_ready_s"] = round(time.monotonic() - restarted_at, 1)
    await until(lambda: streams_current(js), 60, f"{leader} is a current replica of every stream again")
    report["node_current_again_s"] = round(time.monotonic() - restarted_at, 1)
