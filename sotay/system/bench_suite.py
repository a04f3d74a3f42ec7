"""`sotay bench` with no scenario: the end-to-end suite at Hanoi scale.

For each size, one scratch system (embedded NATS and PostgreSQL in a
temporary directory unless configured) and the four services as separate
`sotay serve <service>` processes, so each one's CPU seconds (utime + stime
from /proc/<pid>/stat) and peak resident memory (VmHWM from
/proc/<pid>/status, reset before each scenario through clear_refs) are
reported per scenario. Every floor is measured in the same run, on the same
servers:

1. Registry load: the members imported through the importer (CSV parsed and
   validated, rows and outbox written with COPY, as `sotay import members`),
   until members has published every event, identity's registry replica and
   content's readers hold them all and the dashboard's members_total is the
   count. Floor: a raw asyncpg COPY of the same rows plus a raw nats-py
   pipelined publish of as many messages. Target: within 5x the floor; the
   whole machine's CPU per member reported.
2. Registration evening: registrations over HTTP (94% mobile; 90% matched,
   6% with details that differ, 4% not in the registry), half of them as
   fast as 16 connections go (saturation), half offered at half the bare
   app's rate (open loop, latency from when each was due); then the matched
   ones approved by a unit admin in bulk, until the dashboard's figures are
   the ones driven; then the accounts made sign in (password grant, up to
   SIGN_INS). Floors: the same requests, bytes for bytes, against a bare
   Starlette + asyncpg app doing identity's essential work on tables of its
   own (`sotay.system.bench_bare_identity`, one uvicorn process as identity
   runs in); argon2id hashes/s with identity's parameters reported beside
   them. Target (issue 22): saturation at least 0.9x the bare registration
   app, sign-ins at least 0.9x the bare sign-in app, p99 under 300 ms at
   half the bare app's rate.
3. Morning reading: each reader opens the feed, an article of it, and
   records the read (three requests, with the member's bearer token), then
   until the dashboard's readers_today counts them all. Floor: the same
   three requests against a bare FastAPI + asyncpg app running the same
   queries (`sotay.bench_bare`). Half the readers go as fast as 16 connections
   do, the other half are offered at half the bare app's rate (open loop).
   Target: at least 0.65x; p99 under 200 ms at half the bare app's rate.
4. Replay: the metrics service stopped, `services.metrics.handlers.rebuild.replay`
   of every stream; the city's figures must come out as they were. Floor: a
   raw nats-py pull consume of the same streams. Target: at least 0.6x.

5. Reconciliation with the national database (sotay/system/bench_reconcile.py): an export of
   the registry with 1% of the members different, compared and applied. Floor: parsing the file
   alone. Target: within 3x.
6. Dashboard freshness (sotay/system/bench_freshness.py; run before the replay, which stops
   metrics): a steady 2,000 events/s of registry changes committed by members' rules, and a
   probe committed alone every 0.25 s; from each probe's commit to the first RolloutSnapshot
   that counts it. Target: p99 under 500 ms, the load kept, the city's figures as before.

And no service above 250 MB resident. The full size runs the quick one
first, in the same invocation, so the table shows how time and memory grow
with the members.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import nats
import orjson
import psutil

from services.members.adapters.bulk import ImportReport, MemberImporter
from sotay.system.demo.load_registry import insert_units
from sotay.system.demo.registry import build_org_tree, generate_members
from services.members.adapters.import_files import read_member_rows, write_csv
from sotay.kit.auth import Grant, mint_token
from sotay.system.bench import (REQUIRED_CONSENT, cpu_seconds, floor_copy, floor_publish, keep_alive_load,
                                members_definition, percentile_ms, raw_request, read_response, scratch_system,
                                start_service, until_ready)
from sotay.system.bench_bare_identity import TABLES as _BARE_IDENTITY
from sotay.system.bench_bare_identity import start as start_bare_identity
from sotay.system.bench_feed import start_bare, wait_http
from sotay.system.bench_freshness import RATE as FRESHNESS_RATE
from sotay.system.bench_freshness import TARGET_P99_MS as FRESHNESS_TARGET_MS
from sotay.system.bench_freshness import Freshness
from sotay.system.bench_metrics import raw_consume
from sotay.system.bench_reconcile import measure as measure_reconciliation
from sotay.kit.db import plain_url
from sotay.kit.embedded import free_port
from sotay.kit.events import uuid7
from sotay.kit.service import ServiceRuntime, nats_servers
from sotay.kit.settings import Settings

SERVICES = ("members", "identity", "content", "metrics")
STREAMS = ("SOTAY_MEMBERS", "SOTAY_IDENTITY", "SOTAY_CONTENT", "SOTAY_METRICS")
# Issue 22's targets.
LOAD_TARGET = 5  # registry load: at most this many times its floor
READING_TARGET = 0.65  # morning reading: at least this share of the bare app's requests/s, and
READING_P99_MS = 200  # this p99 offered half the bare app's rate
REPLAY_TARGET = 0.6  # replay: at least this share of the raw consume
MEMORY_LIMIT_MB = 250
ARTICLES = 100  # published through the editorial workflow before the morning reading
CONCURRENCY = 16
PASSWORD = "Mat khau cua dang vien"
CITY = "city"
FLOOR_READERS = 20_000
SIGN_INS = 2_000  # a rate: up to this many of the approved accounts sign in, against each app
BARE_IDENTITY_TABLES = [f"bench_bare_{t}" for t in _BARE_IDENTITY] + ["bench_bare_outbox"]
IDLE_S = 3.0  # uvicorn closes a keep-alive connection idle for 5 s
FRESHNESS_S = 30.0
log = logging.getLogger("sotay.bench")


@dataclass(frozen=True)
class Size:
    name: str
    members: int
    registrations: int
    readers: int
    tree_scale: float = 1.0  # of Hanoi's org tree (19,424 units); tests use less
    freshness_s: float = FRESHNESS_S  # how long the dashboard freshness scenario holds its load


# The quick size has a quarter of the tree: the whole one alone takes ~40 s to reach every service here.
QUICK = Size("quick", members=20_000, registrations=1_000, readers=2_000, tree_scale=0.25)
FULL = Size("full", members=475_000, registrations=50_000, readers=100_000)


def suite_sizes(*, quick_only: bool, members: int | None = None, registrations: int | None = None,
                readers: int | None = None, tree_scale: float | None = None,
                freshness_s: float | None = None) -> list[Size]:
    """The quick size (or one of your own, if any count is given), then Hanoi's unless quick only."""
    held = freshness_s or FRESHNESS_S
    small = Size("quick", QUICK.members, QUICK.registrations, QUICK.readers, tree_scale or QUICK.tree_scale, held)
    if members or registrations or readers:
        small = Size("custom", members or QUICK.members, registrations or QUICK.registrations,
                     readers or QUICK.readers, tree_scale or QUICK.tree_scale, held)
    full = Size("full", FULL.members, FULL.registrations, FULL.readers, tree_scale or FULL.tree_scale, held)
    sizes = [small] if quick_only else [small, full]
    for size in sizes:  # registrations and readers are members of the registry
        if min(size.members, size.registrations, size.readers) < 1 or not 0 < size.tree_scale <= 1:
            raise ValueError("members, registrations and readers must be at least 1, tree scale in (0, 1]")
        if size.freshness_s <= 0:
            raise ValueError("the freshness scenario's seconds must be above 0")
        if size.registrations > size.members or size.readers > size.members:
            raise ValueError(f"{size.name} size: registrations ({size.registrations:,}) and readers "
                             f"({size.readers:,}) cannot exceed the members ({size.members:,})")
    return sizes


async def run_suite(settings: Settings, *, sizes: list[Size], json_file: Path | None = None,
                    identity_replicas: int = 1) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runs = []
    for size in sizes:
        started = time.perf_counter()
        print(f"== {size.name}: {size.members:,} members, {size.registrations:,} registrations, "
              f"{size.readers:,} readers ==", flush=True)
        async with scratch_system(settings, list(SERVICES)) as (s, infra, db_url):
            scenarios = await SizeRun(s, infra.nats_url, db_url, size, servers=infra.server_pids(),
                                      identity_replicas=identity_replicas).run()
        units = len(build_org_tree(2023, scale=size.tree_scale))
        runs.append({"size": {**asdict(size), "units": units}, "seconds": round(time.perf_counter() - started, 1),
                     "scenarios": scenarios})
        print(f"{size.name} size done in {time.perf_counter() - started:.0f} s", flush=True)
        report = _report(runs)
        if json_file:  # after each size, so a long run that fails later keeps what it measured
            json_file.write_text(json.dumps(report, indent=2, default=str))
    print_report(report)
    return 0 if report["met"] else 1


def _report(runs: list[dict]) -> dict[str, Any]:
    report = {"scenarios": [s for run in runs for s in run["scenarios"]],
              "sizes": [{**run["size"], "seconds": run["seconds"]} for run in runs],
              "growth": _growth(runs) if len(runs) > 1 else []}
    report["met"] = all(s["met"] for s in report["scenarios"])
    return report


# --- the service processes and what they use --------------------------------------------------------


def status_mb(pid: int, field: str) -> float:
    """A size from /proc/<pid>/status (`VmHWM:` the peak resident, `VmRSS:` the current), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb(pid: int) -> float:
    return status_mb(pid, "VmHWM:")


def _reset_peak(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM back to the current RSS (Linux 4.0+)
    except OSError:
        pass  # the peak then runs from the process's start


# A connection left idle as long as the server keeps it (uvicorn's 5 s, httpx's default too) is
# closed by the server as the client sends on it: the request fails with a ReadError. A browser
# sends it again; this client lets its idle connections go first.
KEEP_ALIVE = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)


def cpu_by_process(usage: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """The CPU seconds of every process a scenario's `usage` names: services, bench, servers."""
    return {name: u["cpu_s"] for group in ("services", "servers") for name, u in usage[group].items()}


def per_item_ms(cpu_s: dict[str, float], items: int) -> dict[str, float]:
    """Each process's CPU milliseconds an item, and the machine's (their sum)."""
    return {name: round(1000 * s / items, 1) for name, s in {**cpu_s, "machine": sum(cpu_s.values())}.items()}


def machine_cpu_s(usage: dict[str, dict[str, dict[str, float]]]) -> float:
    """The CPU seconds of every process a scenario's `usage` names, together."""
    return sum(cpu_by_process(usage).values())


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a server and its processes: PostgreSQL's backends, live
    ones and (through the postmaster's children times) those that exited."""
    server = psutil.Process(pid)
    times = server.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


class Services:
    """The `sotay serve` processes of one size, and the bench process itself
    (importer, load generator and replay): CPU and peak memory per scenario.
    And the CPU of the embedded servers they share (`servers`), so a table
    shows where the machine's two cores went."""

    BENCH = "bench process"

    def __init__(self, settings: Settings, nats_url: str, db_url: str, servers: dict[str, int] | None = None) -> None:
        self.settings, self.nats_url, self.db_url = settings, nats_url, db_url
        self.servers = servers or {}  # name: pid, of the embedded servers (none when external)
        self.procs: dict = {}
        self.ports: dict[str, int] = {}
        self.stopped: dict[str, tuple[float, float]] = {}  # name: (cpu s, peak MB) when stopped

    def start(self, name: str, service: str | None = None) -> None:
        """`sotay serve <service>` (`name` unless given) as the process `name` (identity-2: a
        second replica of identity)."""
        self.ports[name] = free_port()
        self.procs[name] = start_service(service or name, self.nats_url, self.db_url, self.settings,
                                         self.ports[name])

    def replicas(self, service: str) -> list[str]:
        """The processes of `service` running: `service`, then `service-2`, …"""
        return [n for n in self.procs if n == service or n.startswith(f"{service}-")]

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        try:
            self.stopped[name] = (cpu_seconds(proc.pid), _peak_mb(proc.pid))
        except OSError:
            pass
        proc.terminate()
        try:
            proc.wait(60)
        except Exception:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def _pids(self) -> dict[str, int]:
        return {**{n: p.pid for n, p in self.procs.items()}, self.BENCH: os.getpid()}

    def mark(self) -> dict[str, float]:
        """CPU seconds so far; every peak reset to the current resident size."""
        marks = {}
        for name, pid in self._pids().items():
            _reset_peak(pid)
            marks[name] = cpu_seconds(pid)
        for name, pid in self.servers.items():
            marks[name] = _tree_cpu(pid)
        return marks

    def usage(self, marks: dict[str, float]) -> dict[str, dict[str, dict[str, float]]]:
        """`services`: CPU s and peak MB of each process since `marks`; `servers`: CPU s."""
        used, servers = {}, {}
        for name, before in marks.items():
            if name in self.servers:
                servers[name] = {"cpu_s": round(_tree_cpu(self.servers[name]) - before, 1)}
                continue
            pid = self._pids().get(name)
            if pid:
                used[name] = {"cpu_s": round(cpu_seconds(pid) - before, 1), "peak_mb": round(_peak_mb(pid))}
            else:  # stopped during the scenario (metrics, for the replay): what it used until then
                cpu, peak = self.stopped.get(name, (before, 0.0))
                used[name] = {"cpu_s": round(cpu - before, 1), "peak_mb": round(peak), "stopped": True}
        return {"services": used, "servers": servers}


# --- one size --------------------------------------------------------------------------------------


class SizeRun:
    def __init__(self, settings: Settings, nats_url: str, db_url: str, size: Size,
                 servers: dict[str, int] | None = None, identity_replicas: int = 1) -> None:
        self.settings, self.nats_url, self.db_url, self.size = settings, nats_url, db_url, size
        self.identity_replicas = identity_replicas
        self.services = Services(settings, nats_url, db_url, servers)
        self.key = settings.signing_key()
        self.admin = {"Authorization": f"Bearer {mint_token(self.key, 'bench-city', [Grant('city_admin', CITY)])}"}
        self.rng = random.Random(2023)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.services.ports[service]}/api/{service}/v1{path}"

    async def open_clients(self, **http: Any) -> None:
        """The run's own connections: NATS (and JetStream), one to PostgreSQL, an HTTP client
        (httpx.AsyncClient's arguments in `http`)."""
        self.nc = await nats.connect(nats_servers(self.nats_url))
        self.js = self.nc.jetstream()
        self.db = await asyncpg.connect(plain_url(self.db_url))
        self.http = httpx.AsyncClient(**({"timeout": 120, "limits": KEEP_ALIVE} | http))

    async def close_clients(self) -> None:
        await self.http.aclose()
        await self.db.close()
        await self.nc.close()

    async def run(self) -> list[dict[str, Any]]:
        await self.open_clients()
        members = ServiceRuntime(members_definition(), self.settings, self.nats_url, self.db_url)
        try:
            started = time.perf_counter()
            await self.start_system(members)
            await self.caught_up()
            print(f"  set up: {len(self.units):,} units everywhere in {time.perf_counter() - started:.1f} s",
                  flush=True)
            async with members.member_keys():
                scenarios = [await self.registry_load(members.context)]
            await members.context.engine.dispose()
            scenarios.append(await self.registration_evening())
            scenarios.append(await self.morning_reading())
            # A members context of its own for each scenario that changes the registry in this process
            # (the one above was disposed, and its vault with its pool).
            members = ServiceRuntime(members_definition(), self.settings, self.nats_url, self.db_url)
            async with members.member_keys():
                scenarios.append(await self.dashboard_freshness(members.context))
            await members.context.engine.dispose()
            scenarios.append(await self.replay())
            # Last: it changes 1% of the members, which the scenarios before count on as they are.
            members = ServiceRuntime(members_definition(), self.settings, self.nats_url, self.db_url)
            async with members.member_keys():
                scenarios.append(await self.reconciliation(members.context))
            scenarios.append(self.memory(scenarios))
            for s in scenarios:
                s["size"] = self.size.name
            return scenarios
        finally:
            self.services.stop_all()
            await members.context.engine.dispose()
            await self.close_clients()

    async def start_system(self, members: ServiceRuntime) -> None:
        """members' schema and the org tree, then every service's process, ready and trusting
        identity's keys."""
        await members.migrate()
        self.units = build_org_tree(2023, scale=self.size.tree_scale)
        await insert_units(members.context, self.units)
        for name in SERVICES:
            self.services.start(name)
        for name in SERVICES:  # the first process of each makes its streams and consumers; then the replicas
            await until_ready(self.http, f"http://127.0.0.1:{self.services.ports[name]}/readyz", timeout=120)
        for i in range(2, self.identity_replicas + 1):
            self.services.start(f"identity-{i}", "identity")
            await until_ready(self.http, f"http://127.0.0.1:{self.services.ports[f'identity-{i}']}/readyz",
                              timeout=120)
        await self.until_tokens_verify()

    # --- waiting for the system ---------------------------------------------------------------------

    async def outboxes_published(self) -> bool:
        for schema in SERVICES:
            if await self.db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {schema}.outbox WHERE published_at IS NULL)"):
                return False
        return True

    async def consumer_lag(self) -> int:
        """Messages pending or unacknowledged, over every durable consumer of every stream."""
        lag = 0
        for stream in STREAMS:
            for info in await self.js.consumers_info(stream):
                if info.config.durable_name:
                    lag += info.num_pending + info.num_ack_pending
        return lag

    async def consumers_drained(self) -> bool:
        return await self.consumer_lag() == 0

    async def caught_up(self, timeout: float = 1800) -> None:
        """Every outbox published and every durable consumer done, twice in a row."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the services did not catch up")
            quiet = quiet + 1 if await self.outboxes_published() and await self.consumers_drained() else 0
            await asyncio.sleep(0.2)

    async def until_tokens_verify(self, timeout: float = 60) -> None:
        """Until every service trusts identity's keys: started together, one may be ready before
        identity has published them, and would answer 401 for a moment."""
        deadline = time.monotonic() + timeout
        for name, path in (("members", "/members?limit=1"), ("identity", "/me"), ("content", "/articles"),
                           ("metrics", "/rollout?unit=city")):
            while (await self.http.get(self.url(name, path), headers=self.admin)).status_code == 401:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} does not take identity's tokens")
                await asyncio.sleep(0.2)

    async def city(self) -> dict[str, Any]:
        return await self.figures(CITY)

    async def figures(self, unit: str) -> dict[str, Any]:
        """The unit's figures, as the dashboard reads them."""
        answer = await self.http.get(self.url("metrics", "/rollout"), params={"unit": unit}, headers=self.admin)
        answer.raise_for_status()
        return answer.json()

    async def until_city(self, expected: dict[str, int], timeout: float = 1800) -> float:
        """Seconds until the dashboard's city figures are the expected ones."""
        started = time.perf_counter()
        while True:
            got = await self.city()
            if all(got.get(k) == v for k, v in expected.items()):
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"city figures {({k: got.get(k) for k in expected})}, expected {expected}")
            await asyncio.sleep(0.1)

    # --- 1. registry load ---------------------------------------------------------------------------

    async def registry_load(self, ctx) -> dict[str, Any]:
        n = self.size.members
        print(f"  1. registry load: preparing {n:,} member rows …", flush=True)
        rows = list(generate_members(self.units, n, 2023, pilot_only=False, today=date.today()))
        csv_bytes = write_csv(rows)
        parsed = list(read_member_rows(csv_bytes, "bench.csv"))
        copy_s = await floor_copy(self.db_url, parsed)
        del parsed
        publish_s = await floor_publish(self.nats_url, n, 900)
        floor_s = copy_s + publish_s
        self.rows = [(r["party_card_no"], r["full_name"], r["date_of_birth"], r["phone"], r["unit"]) for r in rows]
        del rows

        marks = self.services.mark()
        started = time.perf_counter()
        report = ImportReport(import_id=uuid7())
        await MemberImporter(ctx.engine, ctx, actor="bench", chunk_size=20_000).run(
            iter(read_member_rows(csv_bytes, "bench.csv")), report)
        import_s = time.perf_counter() - started
        done: dict[str, float] = {}
        checks = {
            "published": self.outboxes_published,
            "identity replica": lambda: self._count("identity.registry_members", n),
            "content readers": lambda: self._count("content.readers", n),
            "dashboard members_total": self._members_total(n),
        }
        # Counting a large table often would load the database the scenario measures.
        every = 0.2 if n <= 50_000 else 1.0
        while len(done) < len(checks):
            for name, check in checks.items():
                if name not in done and await check():
                    done[name] = time.perf_counter() - started
            if time.perf_counter() - started > 3600:
                raise TimeoutError(f"registry load: only {sorted(done)} caught up")
            await asyncio.sleep(every)
        total_s = max(done.values())
        await self.caught_up()
        ratio = total_s / floor_s
        usage = self.services.usage(marks)
        met = report.imported == n and ratio <= LOAD_TARGET
        return {
            "name": "1. registry load", "unit": "member", "work": n, "seconds": round(total_s, 2),
            "figures": {"members": n, "imported": report.imported, "import_s": round(import_s, 2),
                        **{f"{k}_s": round(v, 2) for k, v in done.items()}, "caught_up_s": round(total_s, 2),
                        "members_per_s": round(n / total_s),
                        "machine_cpu_us_per_member": round(machine_cpu_s(usage) / n * 1e6)},
            # To the tenth of a millisecond: a small run's copy takes a few milliseconds, which two
            # decimals would print as 0.0.
            "floor": {"raw_copy_s": round(copy_s, 4), "raw_publish_s": round(publish_s, 4),
                      "total_s": round(floor_s, 4)},
            "ratio": round(ratio, 2), "target": f"caught up everywhere within {LOAD_TARGET}x the floor",
            "met": met, **usage}

    # --- 5. reconciliation with the national database ------------------------------------------------

    async def reconciliation(self, ctx) -> dict[str, Any]:
        """sotay/system/bench_reconcile.py on this registry: an export with 1% of the members
        different, compared and applied; floor: parsing the file alone, in the same run."""
        print(f"  5. reconciliation: an export of {self.size.members:,} members, 1% different …", flush=True)
        rows = list(generate_members(self.units, self.size.members, 2023, pilot_only=False, today=date.today()))
        cells = [u.code for u in self.units if u.kind == "cell"]
        marks = self.services.mark()
        result = await measure_reconciliation(ctx, rows, cells)
        return {**result, "name": "5. reconciliation", **self.services.usage(marks)}

    async def _count(self, table: str, expected: int) -> bool:
        return await self.db.fetchval(f"SELECT count(*) FROM {table}") >= expected

    def _members_total(self, expected: int):
        async def check() -> bool:
            return (await self.city())["members_total"] == expected
        return check

    # --- 2. registration evening --------------------------------------------------------------------

    async def registration_evening(self) -> dict[str, Any]:
        from services.identity.adapters.passwords import PasswordPool

        count = self.size.registrations
        print(f"  2. registration evening: {count:,} registrations …", flush=True)
        rng = random.Random(7)
        bodies, kinds = self._registrations(rng, count)

        # Reported beside the floors: argon2id with identity's parameters, on every core, in this process.
        hashes = max(40, min(400, count // 5))
        pool = PasswordPool(queue_limit=2 * hashes)  # room for every hash of the floor at once
        started = time.perf_counter()
        await asyncio.gather(*(pool.hash(PASSWORD) for _ in range(hashes)))
        hashes_per_s = hashes / (time.perf_counter() - started)
        pool.close()

        # Identity's replicas share the connections, each connection one replica's (as a proxy spreads them).
        path = "/api/identity/v1/registrations"
        port = [self.services.ports[n] for n in self.services.replicas("identity")]
        requests = [raw_request("POST", path, orjson.dumps(b), "application/json") for b in bodies]
        half = len(requests) // 2
        # Floor: the bare app (sotay/system/bench_bare_identity.py) given the very requests identity is
        # given at saturation, in a uvicorn process of its own, on tables of its own. It keeps running
        # for the sign-ins' floor.
        bare_port = free_port()
        bare = start_bare_identity(self.db_url, bare_port, self.settings.data_dir)
        try:
            await wait_http(bare_port, "/healthz")
            bare_marks, bare_before = self.services.mark(), cpu_seconds(bare.pid)
            bare_s, bare_lat = await keep_alive_load(bare_port, requests[:half], CONCURRENCY)
            bare_rate = half / bare_s
            # The bare app, the load and the servers (the services idle meanwhile are left out).
            used = cpu_by_process(self.services.usage(bare_marks))
            bare_cpu = {"bare app": cpu_seconds(bare.pid) - bare_before, Services.BENCH: used[Services.BENCH],
                        **{name: used[name] for name in self.services.servers}}

            marks = self.services.mark()
            started = time.perf_counter()
            sat_s, sat_lat = await keep_alive_load(port, requests[:half], CONCURRENCY)
            # Where the machine's CPU went, a registration at a time: the saturation's requests and
            # everything they set off (relayed, consumed by metrics and content), once all is done.
            await self.caught_up()
            sat_cpu = per_item_ms(cpu_by_process(self.services.usage(marks)), half)
            offered = bare_rate / 2
            paced_s, paced_lat = await _paced(port, requests[half:], offered)

            approver = {"Authorization": "Bearer " + mint_token(self.key, "bench-unit-admin",
                                                                [Grant("unit_admin", CITY)])}
            approve_started = time.perf_counter()
            approved = await self.approve_matched(approver)
            approve_s = time.perf_counter() - approve_started
            web = sum(b["platform"] == "web" for b in bodies)
            expected = {"accounts_installed": count, "accounts_web": web, "accounts_mobile": count - web,
                        "accounts_pending": count - approved, "accounts_approved": approved, "accounts_rejected": 0}
            final_s = await self.until_city(expected)
            total_s = time.perf_counter() - started
            results = {r["match_result"]: r["n"] for r in await self.db.fetch(
                "SELECT match_result, count(*) AS n FROM identity.registrations GROUP BY match_result")}
            await self.caught_up()
            sign_ins = await self._sign_ins(bare_port)
        finally:
            bare.terminate()
            bare.wait(30)
            for table in BARE_IDENTITY_TABLES:
                await self.db.execute(f"DROP TABLE IF EXISTS public.{table}")
        await self.caught_up()  # the first sign-ins' activations

        sat_rate = half / sat_s
        ratio = sat_rate / bare_rate
        p99 = percentile_ms(paced_lat, 99)
        exact = results == {k: kinds.count(k) for k in set(kinds)} and approved == kinds.count("matched")
        met = ratio >= 0.9 and sign_ins["ratio"] >= 0.9 and p99 < 300 and exact
        return {
            "name": "2. registration evening", "unit": "registration", "work": count, "seconds": round(total_s, 2),
            "figures": {"registrations": count, "web": web, "match_results": results,
                        "saturation_per_s": round(sat_rate, 1), "saturation_p50_ms": percentile_ms(sat_lat, 50),
                        "saturation_p99_ms": percentile_ms(sat_lat, 99),
                        "offered_per_s": round(offered, 1), "paced_per_s": round((count - half) / paced_s, 1),
                        "paced_p50_ms": percentile_ms(paced_lat, 50), "paced_p99_ms": p99,
                        "approvals": approved, "approvals_per_s": round(approved / approve_s, 1),
                        "figures_final_after_approvals_s": round(final_s, 2), "dashboard": expected,
                        "sign_ins": sign_ins["count"], "sign_in_per_s": sign_ins["rate"],
                        "sign_in_p50_ms": sign_ins["p50_ms"], "sign_in_p99_ms": sign_ins["p99_ms"],
                        "sign_in_ratio": sign_ins["ratio"],
                        "saturation_cpu_ms_per_registration": sat_cpu},
            "floor": {"bare_registrations_per_s": round(bare_rate, 1), "bare_p50_ms": percentile_ms(bare_lat, 50),
                      "bare_p99_ms": percentile_ms(bare_lat, 99), "bare_sign_in_per_s": sign_ins["bare_rate"],
                      "bare_sign_in_p99_ms": sign_ins["bare_p99_ms"],
                      "argon2id_hashes_per_s": round(hashes_per_s, 1), "parameters": "m=19 MiB, t=2, p=1",
                      "bare_cpu_ms_per_registration": per_item_ms(bare_cpu, half)},
            "ratio": round(ratio, 2),
            "target": ">= 0.9x the bare registration app; sign-ins >= 0.9x the bare sign-in app; p99 < 300 ms "
                      "offered half the bare app's rate",
            "met": met, "exact": exact, **self.services.usage(marks)}

    async def _sign_ins(self, bare_port: int) -> dict[str, Any]:
        """Password sign-ins of the accounts the approvals made (up to SIGN_INS, each signing in once):
        first against the bare app, given copies of the accounts and their grants, then against
        identity, the same requests at the same concurrency. Each one's first sign-in (activation)."""
        cards = [r["party_card_no"] for r in await self.db.fetch(
            "SELECT party_card_no FROM identity.accounts WHERE member_id IS NOT NULL ORDER BY created_at, id "
            "LIMIT $1", SIGN_INS)]
        await self.db.execute("INSERT INTO public.bench_bare_accounts SELECT * FROM identity.accounts "
                              "WHERE party_card_no = ANY($1::text[])", cards)
        await self.db.execute("INSERT INTO public.bench_bare_grants SELECT g.* FROM identity.grants g "
                              "JOIN public.bench_bare_accounts a ON a.id = g.account_id")
        requests = [raw_request("POST", "/api/identity/v1/token", urlencode(
            {"grant_type": "password", "username": card, "password": PASSWORD}).encode(),
            "application/x-www-form-urlencoded") for card in cards]
        bare_s, bare_lat = await keep_alive_load(bare_port, requests, CONCURRENCY)
        identity = [self.services.ports[n] for n in self.services.replicas("identity")]
        ours_s, ours_lat = await keep_alive_load(identity, requests, CONCURRENCY)
        rate, bare_rate = len(cards) / ours_s, len(cards) / bare_s
        return {"count": len(cards), "rate": round(rate, 1), "bare_rate": round(bare_rate, 1),
                "ratio": round(rate / bare_rate, 2), "p50_ms": percentile_ms(ours_lat, 50),
                "p99_ms": percentile_ms(ours_lat, 99), "bare_p99_ms": percentile_ms(bare_lat, 99)}

    def _registrations(self, rng: random.Random, count: int) -> tuple[list[dict], list[str]]:
        """As members would register in their first cell meeting: mostly on phones, mostly matching."""
        foreign = round(count * 0.04)
        differ = round(count * 0.06)
        kinds = ["not_in_registry"] * foreign + ["details_differ"] * differ + ["matched"] * (count - foreign - differ)
        rng.shuffle(kinds)
        with_phone = [r for r in self.rows if r[3]]
        people = rng.sample(with_phone, count)
        bodies = []
        for i, (kind, (card, name, born, phone, _)) in enumerate(zip(kinds, people, strict=True)):
            if kind == "not_in_registry":
                card = f"09{i:08d}"  # the registry's cards start 01
            elif kind == "details_differ":
                if i % 2:
                    phone = people[(i + 1) % count][3]
                else:
                    born = date.fromordinal(date.fromisoformat(born).toordinal() + 1).isoformat()
            bodies.append({"party_card_no": card, "full_name": name, "date_of_birth": born, "phone": phone,
                           "password": PASSWORD, "platform": "web" if rng.random() < 0.06 else "mobile",
                           "consent": REQUIRED_CONSENT})
        return bodies, kinds

    async def approve_matched(self, approver: dict) -> int:
        """Every matched registration still pending approved by the unit admin, 500 a request; how many."""
        ids = await self._matched_pending(approver)
        approved = 0
        for i in range(0, len(ids), 500):
            answer = await self.http.post(self.url("identity", "/registrations/approve"),
                                          json={"ids": ids[i:i + 500]}, headers=approver)
            answer.raise_for_status()
            approved += answer.json()["approved"]
        return approved

    async def _matched_pending(self, headers: dict) -> list[str]:
        items, cursor = [], None
        while True:
            params = {"status": "pending", "match": "matched", "limit": 1000} | ({"cursor": cursor} if cursor else {})
            answer = await self.http.get(self.url("identity", "/registrations"), params=params, headers=headers)
            answer.raise_for_status()
            page = answer.json()
            items += [r["id"] for r in page["items"]]
            if not (cursor := page["next_cursor"]):
                return items

    # --- 3. morning reading -------------------------------------------------------------------------

    async def morning_reading(self) -> dict[str, Any]:
        count = self.size.readers
        print(f"  3. morning reading: {ARTICLES} articles published, then {count:,} readers …", flush=True)
        await self._publish_articles()
        rng = random.Random(11)
        readers = rng.sample([(card, unit) for card, _, _, _, unit in self.rows], count)

        # Floor: the same three requests against the bare app, as readers of their own ("bare-…"); a rate,
        # so up to FLOOR_READERS of them.
        port = free_port()
        bare = start_bare(self.db_url, port)
        try:
            await wait_http(port, "/healthz")
            await keep_alive_load(port, [raw_request("GET", f"/feed?card={c}&unit={u}&account=bare-{c}") for c, u in readers[:200]])
            bare_s, bare_lat, bare_n = await _sessions(port, readers[:FLOOR_READERS], BareReader())
        finally:
            bare.terminate()
            bare.wait(30)
        await self.db.execute("DROP TABLE IF EXISTS public.bench_bare_outbox")

        tokens = {card: mint_token(self.key, f"account-{card}", [Grant("member", unit)], member_card_no=card,
                                   unit=unit) for card, unit in readers}
        app = AppReader(tokens)
        content_port = self.services.ports["content"]
        await keep_alive_load(content_port, [app.feed(c, u) for c, u in readers[:200]])  # warm up, no reads recorded
        marks = self.services.mark()
        started = time.perf_counter()
        # Half the readers as fast as the connections go; the other half offered at half the bare
        # app's rate (sessions of three requests each), open loop.
        half = max(1, count // 2)
        read_s, latencies, requests = await _sessions(content_port, readers[:half], app)
        bare_rate = bare_n / bare_s
        offered = bare_rate / 3 / 2
        _, paced, paced_n = await _sessions(content_port, readers[half:], app, concurrency=32, rate=offered)
        absorbed_s = await self.until_city({"readers_today": count})
        total_s = time.perf_counter() - started
        await self.caught_up()

        rate = requests / read_s
        ratio = rate / bare_rate
        paced_p99 = percentile_ms(sum(paced.values(), []), 99) if paced_n else None
        met = ratio >= READING_TARGET and (paced_p99 is None or paced_p99 < READING_P99_MS)
        return {
            "name": "3. morning reading", "unit": "reader", "work": count, "seconds": round(total_s, 2),
            "figures": {"readers": count, "requests": requests + paced_n, "saturation_requests": requests,
                        "requests_per_s": round(rate, 1),
                        "p50_ms": percentile_ms(sum(latencies.values(), []), 50),
                        "p99_ms": percentile_ms(sum(latencies.values(), []), 99),
                        **{f"{k}_p99_ms": percentile_ms(v, 99) for k, v in latencies.items()},
                        "paced_sessions_per_s": round(offered, 1), "paced_requests": paced_n,
                        "paced_p50_ms": percentile_ms(sum(paced.values(), []), 50) if paced_n else None,
                        "paced_p99_ms": paced_p99,
                        "readers_today": count, "article_read_absorbed_after_s": round(absorbed_s, 2)},
            "floor": {"bare_requests_per_s": round(bare_rate, 1),
                      "bare_p50_ms": percentile_ms(sum(bare_lat.values(), []), 50),
                      "bare_p99_ms": percentile_ms(sum(bare_lat.values(), []), 99)},
            "ratio": round(ratio, 2),
            "target": f"requests/s at least {READING_TARGET}x the bare FastAPI + asyncpg app; p99 < "
                      f"{READING_P99_MS} ms offered half the bare app's rate",
            "met": met, **self.services.usage(marks)}

    async def _publish_articles(self) -> None:
        editor = {"Authorization": f"Bearer {mint_token(self.key, 'bench-editor', [Grant('editor', CITY)])}"}
        chief = {"Authorization": f"Bearer {mint_token(self.key, 'bench-chief', [Grant('chief_editor', CITY)])}"}
        rng = random.Random(3)
        committees = [u.code for u in self.units if u.kind == "committee"]
        grassroots = [u.code for u in self.units if u.kind == "grassroots"]
        body = "Nội dung bài viết về hoạt động của chi bộ và đảng bộ. " * 30
        for i in range(ARTICLES):
            roll = rng.random()
            audience = [CITY] if roll < 0.3 else [rng.choice(committees)] if roll < 0.8 else [rng.choice(grassroots)]
            created = await self.http.post(self.url("content", "/articles"), headers=editor, json={
                "title": f"Bài viết số {i}: tin hoạt động", "summary": "Tóm tắt bài viết.", "body": body,
                "category": "news", "audience": audience})
            created.raise_for_status()
            article = created.json()["id"]
            for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
                (await self.http.post(self.url("content", f"/articles/{article}/{step}"), headers=who)
                 ).raise_for_status()

    # --- 6. dashboard freshness ---------------------------------------------------------------------

    async def dashboard_freshness(self, ctx) -> dict[str, Any]:
        """sotay/system/bench_freshness.py on this system: a steady 2,000 events/s of registry changes
        committed by members' rules, and probes timed from their commit to the snapshot counting them."""
        print(f"  6. dashboard freshness: {FRESHNESS_RATE:,} events/s for {self.size.freshness_s:.0f} s …", flush=True)
        before = await self.city()
        marks = self.services.mark()
        started = time.perf_counter()
        result = await Freshness(ctx, self.db, self.nc, self.figures, seconds=self.size.freshness_s,
                                 rate=FRESHNESS_RATE).run()
        await self.caught_up()
        after = await self.city()
        differ = sorted(k for k in before if k != "as_of" and after.get(k) != before[k])
        p99 = result["p99_ms"]
        return {
            "name": "6. dashboard freshness", "unit": "event", "work": result["figures"]["load_events"],
            "seconds": round(time.perf_counter() - started, 2),
            "figures": {**result["figures"], "city_figures_differing_after": differ},
            "floor": None, "ratio": round(p99 / FRESHNESS_TARGET_MS, 2) if p99 is not None else 0.0,
            "target": result["target"], "met": result["met"] and not differ, **self.services.usage(marks)}

    # --- 4. replay ----------------------------------------------------------------------------------

    async def replay(self) -> dict[str, Any]:
        from services.metrics.handlers.rebuild import replay

        print("  4. replay …", flush=True)
        before = await self.city()
        marks = self.services.mark()
        self.services.stop("metrics")
        consumed, raw_s = await raw_consume(self.js)
        stats = await replay(self.db_url, self.js, ack_wait=self.settings.ack_wait_s,
                             max_ack_pending=self.settings.consumer_batch * 4)
        after = await self._city_from_tables()
        differ = sorted(k for k in before if k != "as_of" and after.get(k) != before[k])
        raw_rate = consumed / raw_s
        ratio = stats.per_s / raw_rate
        return {
            "name": "4. replay", "unit": "event", "work": stats.events, "seconds": round(stats.seconds, 2),
            "figures": {"events": stats.events, "replay_s": round(stats.seconds, 2),
                        "events_per_s": round(stats.per_s), "city_figures_differing": differ},
            "floor": {"raw_consume_events": consumed, "raw_consume_events_per_s": round(raw_rate)},
            "ratio": round(ratio, 2), "target": f"replay at least {REPLAY_TARGET}x the raw consume; the same figures",
            "met": ratio >= REPLAY_TARGET and not differ, **self.services.usage(marks)}

    async def _city_from_tables(self) -> dict[str, Any]:
        """The city's figures as the API computes them, from the tables (the service is stopped)."""
        from services.metrics.adapters import figures
        from sotay.kit.clock import hanoi_day
        from sotay.kit.db import create_engine

        engine = create_engine(self.db_url, "metrics")
        try:
            async with engine.connect() as db:
                city = await figures.of_unit(db, await figures.unit(db, CITY), hanoi_day())
            return orjson.loads(orjson.dumps(city))
        finally:
            await engine.dispose()

    # --- memory -------------------------------------------------------------------------------------

    def memory(self, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
        names = [n for n in self.services.procs if n != Services.BENCH] or list(SERVICES)
        peaks = {name: max(s["services"].get(name, {}).get("peak_mb", 0) for s in scenarios) for name in names}
        top = max(peaks.values())
        return {"name": "resident memory", "unit": "member", "work": self.size.members, "seconds": None,
                "figures": {f"{k}_peak_mb": v for k, v in peaks.items()},
                "floor": None, "ratio": round(top / MEMORY_LIMIT_MB, 2),
                "target": f"no service above {MEMORY_LIMIT_MB} MB resident", "met": top <= MEMORY_LIMIT_MB}


# --- HTTP load ---------------------------------------------------------------------------------------


async def _paced(port: int | list[int], requests: list[bytes], rate: float, connections: int = 32
                 ) -> tuple[float, list[float]]:
    """Open loop: request i is due at start + i / rate whatever became of the ones
    before it; its latency runs from when it was due, so a wait for a free
    connection counts (no coordinated omission)."""
    queue: asyncio.Queue = asyncio.Queue()
    latencies: list[float] = []

    async def feed() -> None:
        start = time.perf_counter()
        for i, request in enumerate(requests):
            due = start + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((due, request))
        for _ in range(connections):
            queue.put_nowait(None)

    ports = port if isinstance(port, list) else [port]

    async def connection(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        used = time.perf_counter()
        try:
            while (item := await queue.get()) is not None:
                due, request = item
                if time.perf_counter() - used > IDLE_S:  # the server may be closing it: a new one
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                status, body = await read_response(reader)
                used = time.perf_counter()
                latencies.append(used - due)
                if status >= 300:
                    raise RuntimeError(f"{status}: {body[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(feed(), *(connection(ports[i % len(ports)]) for i in range(connections)))
    return time.perf_counter() - started, latencies


class AppReader:
    """A member's app: the feed, an article of it, the read recorded, with the member's token."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.auth = {card: {"Authorization": f"Bearer {t}"} for card, t in tokens.items()}

    def feed(self, card: str, unit: str) -> bytes:
        return raw_request("GET", "/api/content/v1/feed", headers=self.auth[card])

    @staticmethod
    def items(body: bytes) -> list[dict]:
        return orjson.loads(body)["items"]

    def article(self, card: str, unit: str, article: str) -> bytes:
        return raw_request("GET", f"/api/content/v1/articles/{article}", headers=self.auth[card])

    def read(self, card: str, unit: str, article: str) -> bytes:
        return raw_request("POST", f"/api/content/v1/articles/{article}/read", headers=self.auth[card])


class BareReader:
    """The same three requests against `sotay.bench_bare`, the reader named in the query."""

    def feed(self, card: str, unit: str) -> bytes:
        return raw_request("GET", f"/feed?card={card}&unit={unit}&account=bare-{card}")

    @staticmethod
    def items(body: bytes) -> list[dict]:
        return orjson.loads(body)

    def article(self, card: str, unit: str, article: str) -> bytes:
        return raw_request("GET", f"/article?card={card}&unit={unit}&id={article}")

    def read(self, card: str, unit: str, article: str) -> bytes:
        return raw_request("POST", f"/read?card={card}&unit={unit}&account=bare-{card}&id={article}")


async def _sessions(port: int, readers: list[tuple[str, str]], client, concurrency: int = CONCURRENCY,
                    rate: float | None = None) -> tuple[float, dict[str, list[float]], int]:
    """Each reader: the feed, one of its articles, the read recorded. (seconds, latencies by kind,
    requests.) As fast as `concurrency` connections go; or, with `rate` (sessions a second), open
    loop: session i is due at start + i / rate whatever became of the ones before it, and its first
    request's latency runs from then, a wait for a free connection included."""
    queue: asyncio.Queue = asyncio.Queue()
    latencies: dict[str, list[float]] = {"feed": [], "article": [], "read": []}
    sent = [0]

    async def feed() -> None:
        start = time.perf_counter()
        for i, reader in enumerate(readers):
            due = None
            if rate is not None:
                due = start + i / rate
                if (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
            queue.put_nowait((due, i, reader))
        for _ in range(concurrency):
            queue.put_nowait(None)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        used = time.perf_counter()

        async def ask(kind: str, request: bytes, due: float | None = None) -> bytes:
            nonlocal used
            started = due or time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            used = time.perf_counter()
            latencies[kind].append(used - started)
            sent[0] += 1
            if status >= 300:
                raise RuntimeError(f"{kind} {status}: {body[:200]!r}")
            return body

        try:
            while (item := await queue.get()) is not None:
                due, i, (card, unit) = item
                if time.perf_counter() - used > IDLE_S:  # the server may be closing it: a new one
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                items = client.items(await ask("feed", client.feed(card, unit), due))
                if not items:
                    continue
                article = items[i % len(items)]["id"]
                await ask("article", client.article(card, unit, article))
                await ask("read", client.read(card, unit, article))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(feed(), *(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, sent[0]


# --- the report -------------------------------------------------------------------------------------


def _growth(runs: list[dict]) -> list[dict[str, Any]]:
    """How time per item and peak memory grow from the smallest size to the largest."""
    small, large = runs[0], runs[-1]
    members_x = large["size"]["members"] / small["size"]["members"]
    rows = []
    for a, b in zip(small["scenarios"], large["scenarios"], strict=True):
        if a["seconds"] and b["seconds"]:
            per_a, per_b = a["seconds"] / a["work"] * 1e6, b["seconds"] / b["work"] * 1e6
            rows.append({"scenario": a["name"], "measure": f"µs per {a['unit']}", "small": round(per_a),
                         "large": round(per_b), "growth": round(per_b / per_a, 2),
                         "work_growth": round(b["work"] / a["work"], 1)})
    for name in (*SERVICES, Services.BENCH):
        pa = max(s["services"].get(name, {}).get("peak_mb", 0) for s in small["scenarios"] if "services" in s)
        pb = max(s["services"].get(name, {}).get("peak_mb", 0) for s in large["scenarios"] if "services" in s)
        if pa:
            rows.append({"scenario": name, "measure": "peak MB", "small": pa, "large": pb,
                         "growth": round(pb / pa, 2), "work_growth": round(members_x, 1)})
    return rows


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_value(x)}" for k, x in v.items())
    return str(v)


def print_report(report: dict[str, Any]) -> None:
    sizes = [s["name"] for s in report["sizes"]]
    for size in sizes:
        scenarios = [s for s in report["scenarios"] if s["size"] == size]
        print()
        print(f"{'scenario (' + size + ')':<26}{'figure':<36}{'value':>24}")
        for s in scenarios:
            print(f"{s['name']:<26}{'ratio to floor':<36}{s['ratio']:>23}x")
            print(f"{'':<26}{'target':<36}{s['target']}")
            print(f"{'':<26}{'met':<36}{'met' if s['met'] else 'NOT met':>24}")
            for k, v in s["figures"].items():
                print(f"{'':<26}{k:<36}{_value(v):>24}")
            for k, v in (s["floor"] or {}).items():
                print(f"{'':<26}{'floor: ' + k:<36}{_value(v):>24}")
        with_use = [s for s in scenarios if "services" in s]
        print()
        print(f"{'CPU s / peak MB (' + size + ')':<26}" + "".join(f"{s['name'][:20]:>22}" for s in with_use))
        names = sorted({n for s in with_use for n in s["services"]} - {Services.BENCH}) + [Services.BENCH]
        for name in names:
            cells = []
            for s in with_use:
                u = s["services"].get(name)
                cells.append("stopped" if u and u.get("stopped") else f"{u['cpu_s']:.1f} s / {u['peak_mb']} MB"
                             if u else "-")
            print(f"{name:<26}" + "".join(f"{c:>22}" for c in cells))
        for name in with_use[0].get("servers", {}) if with_use else ():
            print(f"{name:<26}" + "".join(f"{s['servers'][name]['cpu_s']:>20.1f} s" for s in with_use))
    if report["growth"]:
        a, b = report["sizes"][0], report["sizes"][-1]
        print()
        print(f"growth {a['name']} → {b['name']} (time per item: 1.0x is linear; memory: against the members' growth)")
        print(f"{'':<26}{'measure':<22}{a['name']:>12}{b['name']:>12}{'growth':>10}{'work x':>10}")
        for g in report["growth"]:
            print(f"{g['scenario']:<26}{g['measure']:<22}{g['small']:>12,}{g['large']:>12,}{g['growth']:>9}x"
                  f"{g['work_growth']:>9}x")
    print()
    for s in report["sizes"]:
        print(f"{'size ' + s['name']:<26}{s['members']:,} members, {s['registrations']:,} registrations, "
              f"{s['readers']:,} readers, {s['units']:,} units: {s['seconds']:.0f} s")
    print(f"{'every target':<26}{'met' if report['met'] else 'NOT met'}")
