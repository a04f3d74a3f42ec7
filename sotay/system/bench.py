"""`sotay bench import`: the registry's bulk import against the raw floor.

Everything runs on real servers (embedded ones in a temporary directory
unless SOTAY_NATS_URL / SOTAY_DATABASE_URL are set). In the same run it
measures:

- floor, database: a raw asyncpg COPY of the same rows into a bare table;
- floor, NATS: a raw nats-py pipelined JetStream publish of as many
  messages of the same size into a scratch stream;
- the import: the CSV parsed and validated, members, history and outbox
  rows written with COPY, and a separate `sotay serve members` process
  relaying every `MemberRegistered` to JetStream; the clock stops when the
  last event is acknowledged by the stream.

The target is the whole import within 3x the two floors added up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import nats
import psutil
from nats.js.api import StreamConfig

from services.identity.domain import CURRENT_NOTICE
from services.members.adapters.bulk import ImportReport, MemberImporter
from sotay.system.demo.load_registry import insert_units
from sotay.system.demo.registry import build_org_tree, generate_members
from services.members.adapters.import_files import read_member_rows, write_csv
from sotay.kit.db import plain_url
from sotay.kit.embedded import free_port
from sotay.kit.events import uuid7
from sotay.system.runtime import Infrastructure
from sotay.kit.service import ServiceRuntime, nats_servers
from sotay.kit.settings import Settings

# A benchmark's registrant agrees to the privacy notice's required purposes only.
REQUIRED_CONSENT = {"notice_version": CURRENT_NOTICE.version, "purposes": list(CURRENT_NOTICE.required)}

TARGET_RATIO = 3.0


@dataclass
class Figure:
    name: str
    value: float
    unit: str


@asynccontextmanager
async def scratch_system(settings: Settings, services: list[str]):
    """The servers a benchmark runs on (embedded ones in a temporary directory
    unless configured) and a database of its own, dropped afterwards."""
    with tempfile.TemporaryDirectory(prefix="sotay-bench-") as tmp:
        if not settings.nats_url or not settings.database_url:
            settings = settings.model_copy(update={"data_dir": Path(tmp)})
        infra = Infrastructure(settings).start(services)
        database = f"sotay_bench_{uuid7().hex[:8]}"
        try:
            admin = await asyncpg.connect(plain_url(infra.database_url))
            await admin.execute(f'CREATE DATABASE "{database}"')
            await admin.close()
            yield settings, infra, infra.database_url.rsplit("/", 1)[0] + "/" + database
        finally:
            admin = await asyncpg.connect(plain_url(infra.database_url))
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
            infra.stop()


async def run_import_benchmark(settings: Settings, *, rows: int, json_file: Path | None = None) -> int:
    async with scratch_system(settings, ["members"]) as (settings, infra, db_url):
        return await _run_import(settings, infra, db_url, rows, json_file)


async def _run_import(settings: Settings, infra: Infrastructure, db_url: str, rows: int,
                      json_file: Path | None) -> int:
    print(f"preparing {rows:,} member rows …", flush=True)
    units = build_org_tree(2023)
    csv_bytes = write_csv(generate_members(units, rows, 2023, pilot_only=False, today=date.today()))
    parsed = list(read_member_rows(csv_bytes, "bench.csv"))
    sample_body_size = 900  # a MemberRegistered envelope is ~850-950 bytes

    copy_s = await floor_copy(db_url, parsed)
    publish_s = await floor_publish(infra.nats_url, rows, sample_body_size)
    floor_s = copy_s + publish_s

    runtime = ServiceRuntime(members_definition(), settings, infra.nats_url, db_url)
    await runtime.migrate()
    await insert_units(runtime.context, units)
    relay = start_service("members", infra.nats_url, db_url, settings, free_port())
    try:
        await _wait_published(db_url, timeout=120)  # the org tree's own events
        stream_before = await _stream_messages(infra.nats_url, "SOTAY_MEMBERS")
        cpu_before = cpu_seconds(relay.pid)
        started = time.perf_counter()
        report = ImportReport(import_id=uuid7())
        async with runtime.member_keys():
            await MemberImporter(runtime.context.engine, runtime.context, actor="bench", chunk_size=20_000).run(
                iter(read_member_rows(csv_bytes, "bench.csv")), report)
        imported_s = time.perf_counter() - started
        await _wait_published(db_url, timeout=1800)
        total_s = time.perf_counter() - started
        published = await _stream_messages(infra.nats_url, "SOTAY_MEMBERS") - stream_before
        relay_cpu = cpu_seconds(relay.pid) - cpu_before
        relay_rss = psutil.Process(relay.pid).memory_info().rss
    finally:
        relay.terminate()
        relay.wait(30)
        await runtime.context.engine.dispose()

    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    ratio = total_s / floor_s
    met = report.imported == rows and published >= rows and ratio <= TARGET_RATIO
    result = {
        "name": "registry import",
        "figures": {
            "rows": rows, "imported": report.imported, "events_published": published,
            "import_s": round(imported_s, 2), "total_s": round(total_s, 2),
            "rows_per_s": round(rows / imported_s), "events_per_s": round(published / total_s),
            "importer_cpu_s": round(self_usage.ru_utime + self_usage.ru_stime, 1),
            "importer_peak_rss_mb": round(self_usage.ru_maxrss / 1024),
            "relay_cpu_s": round(relay_cpu, 1), "relay_rss_mb": round(relay_rss / 2**20),
        },
        "floor": {"copy_s": round(copy_s, 2), "copy_rows_per_s": round(rows / copy_s),
                  "publish_s": round(publish_s, 2), "publish_msgs_per_s": round(rows / publish_s),
                  "total_s": round(floor_s, 2)},
        "ratio": round(ratio, 2), "target": f"total within {TARGET_RATIO:g}x floor", "met": met,
    }
    _print(result)
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0 if met else 1


def members_definition():
    from sotay.system.registry import load
    return load("members")


async def floor_copy(db_url: str, parsed: list) -> float:
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        await conn.execute("CREATE TABLE bench_raw_copy (party_card_no text, full_name text, date_of_birth date, "
                           "gender text, citizen_id text, phone text, unit text, admitted_on date, official_on date, "
                           "status text, eligible boolean, ineligible_reason text)")
        records = [_raw_record(raw) for _, raw in parsed]
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_raw_copy", records=records)
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_raw_copy")
        return elapsed
    finally:
        await conn.close()


def _raw_record(raw: dict) -> tuple:
    def day(v):
        return date.fromisoformat(v) if v else None
    return (raw.get("party_card_no"), raw.get("full_name"), day(raw.get("date_of_birth")), raw.get("gender"),
            raw.get("citizen_id"), raw.get("phone"), raw.get("unit"), day(raw.get("admitted_on")),
            day(raw.get("official_on")), raw.get("status"), raw.get("eligible") == "true",
            raw.get("ineligible_reason") or None)


async def floor_publish(nats_url: str, count: int, size: int) -> float:
    nc = await nats.connect(servers=nats_servers(nats_url))
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_RAW", subjects=["bench.raw.>"], duplicate_window=900))
    body = b"x" * size
    try:
        started = time.perf_counter()
        for base in range(0, count, 1000):
            futures = [await js.publish_async("bench.raw.ba-dinh", body, headers={"Nats-Msg-Id": f"raw-{base + i}"})
                       for i in range(min(1000, count - base))]
            await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await js.delete_stream("BENCH_RAW")
        await nc.close()


async def _wait_published(db_url: str, timeout: float) -> None:
    conn = await asyncpg.connect(plain_url(db_url), server_settings={"search_path": "members"})
    try:
        deadline = time.monotonic() + timeout
        while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)"):
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not publish everything in time")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _stream_messages(nats_url: str, stream: str) -> int:
    nc = await nats.connect(servers=nats_servers(nats_url))
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used (user and system)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _print(result: dict) -> None:
    f, floor = result["figures"], result["floor"]
    print()
    print(f"{'scenario':<18}{'figure':<28}{'value':>14}")
    rows = [
        ("registry import", "rows imported", f"{f['imported']:,}/{f['rows']:,}"),
        ("", "import (COPY path)", f"{f['import_s']:.2f} s"),
        ("", "  rows/s", f"{f['rows_per_s']:,}"),
        ("", "until all events published", f"{f['total_s']:.2f} s"),
        ("", "  events/s", f"{f['events_per_s']:,}"),
        ("floor (same run)", "raw asyncpg COPY", f"{floor['copy_s']:.2f} s"),
        ("", "  rows/s", f"{floor['copy_rows_per_s']:,}"),
        ("", "raw nats-py publish", f"{floor['publish_s']:.2f} s"),
        ("", "  msgs/s", f"{floor['publish_msgs_per_s']:,}"),
        ("", "floor total", f"{floor['total_s']:.2f} s"),
        ("ratio", "total / floor", f"{result['ratio']:.2f}x"),
        ("target", result["target"], "met" if result["met"] else "NOT met"),
        ("resources", "importer CPU / peak RSS", f"{f['importer_cpu_s']} s / {f['importer_peak_rss_mb']} MB"),
        ("", "relay CPU / RSS", f"{f['relay_cpu_s']} s / {f['relay_rss_mb']} MB"),
    ]
    for a, b, c in rows:
        print(f"{a:<18}{b:<28}{c:>14}")


async def run_identity_benchmark(settings: Settings, *, registrations: int, json_file: Path | None = None) -> int:
    """Registrations/s and sign-ins/s over HTTP against `sotay serve members`
    and `sotay serve identity` processes, next to the argon2id hashes/s this
    machine manages with the same parameters, measured in the same run."""
    async with scratch_system(settings, ["members", "identity"]) as (settings, infra, db_url):
        return await _run_identity(settings, infra, db_url, registrations, json_file)


async def _run_identity(settings: Settings, infra: Infrastructure, db_url: str, count: int,
                        json_file: Path | None) -> int:
    import httpx

    from services.identity.adapters.passwords import PasswordPool

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from sotay.kit.auth import Grant, mint_token

    password = "Mat khau cua dang vien"

    floor_hashes = max(40, count // 5)
    pool = PasswordPool(queue_limit=2 * floor_hashes)  # room for every hash of the floor at once
    started, cpu_before = time.perf_counter(), psutil.Process().cpu_times()
    await asyncio.gather(*(pool.hash(password) for _ in range(floor_hashes)))
    hashes_per_s = floor_hashes / (time.perf_counter() - started)
    cpu_after = psutil.Process().cpu_times()
    hash_cpu_ms = ((cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)) / floor_hashes * 1000
    pool.close()

    members = ServiceRuntime(members_definition(), settings, infra.nats_url, db_url)
    await members.migrate()
    units = build_org_tree(2023, scale=0.05)
    await insert_units(members.context, units)
    rows = list(generate_members(units, count, 7, pilot_only=False, today=date.today()))
    rows = [r for r in rows if r["phone"] and r["status"] == "active"]
    report = ImportReport(import_id=uuid7())
    async with members.member_keys():
        await MemberImporter(members.context.engine, members.context, actor="bench").run(enumerate(rows, 2), report)
    await members.context.engine.dispose()

    port = free_port()
    procs = [start_service("members", infra.nats_url, db_url, settings, free_port()),
             start_service("identity", infra.nats_url, db_url, settings, port)]
    base = f"http://127.0.0.1:{port}/api/identity/v1"
    try:
        await _wait_replica(db_url, len(rows))
        key = settings.signing_key()
        approver = {"Authorization": f"Bearer {mint_token(key, 'bench', [Grant('city_admin', 'city')])}"}
        async with httpx.AsyncClient(timeout=60) as client:
            await until_ready(client, f"http://127.0.0.1:{port}/readyz")
            bodies = [{"party_card_no": r["party_card_no"], "full_name": r["full_name"],
                       "date_of_birth": r["date_of_birth"], "phone": r["phone"], "password": password,
                       "platform": "mobile", "consent": REQUIRED_CONSENT} for r in rows]
            path = "/api/identity/v1"
            groups = {"identity": [procs[1].pid], "members": [procs[0].pid], "load generator": [os.getpid()]}
            machine = _MachineCpu(groups)
            reg_s, reg_lat = await keep_alive_load(port, [raw_request("POST", f"{path}/registrations", json.dumps(b).encode(),
                                                         "application/json") for b in bodies])
            reg_cpu_ms = machine.busy_s() / len(bodies) * 1000
            reg_by = {g: round(v / len(bodies) * 1000, 1) for g, v in machine.by_group_s().items()}
            ids = [r["id"] for r in await _queue(client, base, approver)]
            for i in range(0, len(ids), 500):
                await client.post(f"{base}/registrations/approve", json={"ids": ids[i:i + 500]}, headers=approver)
            logins = [raw_request("POST", f"{path}/token", urlencode({"grant_type": "password", "username":
                                                                    r["party_card_no"], "password": password}).encode(),
                               "application/x-www-form-urlencoded") for r in rows]
            machine = _MachineCpu(groups)
            sign_s, sign_lat = await keep_alive_load(port, logins)
            sign_cpu_ms = machine.busy_s() / len(logins) * 1000
            sign_by = {g: round(v / len(logins) * 1000, 1) for g, v in machine.by_group_s().items()}
        cpu = {name: round(cpu_seconds(p.pid), 1) for name, p in zip(("members", "identity"), procs)}
        rss = {name: round(psutil.Process(p.pid).memory_info().rss / 2**20) for name, p in
               zip(("members", "identity"), procs)}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)

    reg_rate, sign_rate = len(bodies) / reg_s, len(logins) / sign_s
    ratio = min(reg_rate, sign_rate) / hashes_per_s
    result = {
        "name": "identity", "target": "registrations/s and sign-ins/s at least 0.8x argon2id hashes/s",
        "figures": {"registrations": len(bodies), "registrations_per_s": round(reg_rate, 1),
                    "registration_p50_ms": percentile_ms(reg_lat, 50), "registration_p99_ms": percentile_ms(reg_lat, 99),
                    "sign_ins": len(logins), "sign_ins_per_s": round(sign_rate, 1),
                    "sign_in_p50_ms": percentile_ms(sign_lat, 50), "sign_in_p99_ms": percentile_ms(sign_lat, 99),
                    "cpu_s": cpu, "rss_mb": rss,
                    # CPU the whole machine spent per request (server, database, NATS, load generator):
                    # with every core busy, hash CPU / request CPU bounds the ratio on this machine.
                    "machine_cpu_ms_per_registration": round(reg_cpu_ms, 1),
                    "machine_cpu_ms_per_sign_in": round(sign_cpu_ms, 1),
                    "cpu_ms_per_registration_by_process": reg_by, "cpu_ms_per_sign_in_by_process": sign_by,
                    "ratio_ceiling_here": round(hash_cpu_ms / max(reg_cpu_ms, sign_cpu_ms), 2)},
        "floor": {"argon2id_hashes_per_s": round(hashes_per_s, 1), "parameters": "m=19 MiB, t=2, p=1",
                  "cpu_ms_per_hash": round(hash_cpu_ms, 1)},
        "ratio": round(ratio, 2), "met": ratio >= 0.8,
    }
    f = result["figures"]
    print()
    print(f"{'figure':<34}{'value':>16}")
    for label, value in [
        ("argon2id hashes/s (floor)", f"{hashes_per_s:.1f}"),
        ("registrations/s", f"{f['registrations_per_s']}"),
        ("  p50 / p99", f"{f['registration_p50_ms']} / {f['registration_p99_ms']} ms"),
        ("sign-ins/s", f"{f['sign_ins_per_s']}"),
        ("  p50 / p99", f"{f['sign_in_p50_ms']} / {f['sign_in_p99_ms']} ms"),
        ("ratio (slower of the two / floor)", f"{ratio:.2f}x"),
        ("target >= 0.8x", "met" if result["met"] else "NOT met"),
        ("CPU ms per argon2id hash", f"{hash_cpu_ms:.1f}"),
        ("machine CPU ms per registration", f"{reg_cpu_ms:.1f}"),
        ("machine CPU ms per sign-in", f"{sign_cpu_ms:.1f}"),
        ("ratio ceiling on this machine", f"{f['ratio_ceiling_here']:.2f}x"),
        ("CPU s members / identity", f"{cpu['members']} / {cpu['identity']}"),
        ("RSS MB members / identity", f"{rss['members']} / {rss['identity']}"),
    ]:
        print(f"{label:<34}{value:>16}")
    for phase, by in (("registration", reg_by), ("sign-in", sign_by)):
        print(f"CPU ms per {phase} by process: " + ", ".join(f"{g} {v}" for g, v in sorted(by.items(),
                                                                                           key=lambda kv: -kv[1])))
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0 if result["met"] else 1


class _MachineCpu:
    """Busy CPU seconds since creation: of the whole machine (every core, every
    process), and of each group of processes (server, database, NATS, …)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start, self.start_by = psutil.cpu_times(), self._by_group()

    def _by_group(self) -> dict[str, float]:
        by: dict[str, float] = {}
        for proc in psutil.process_iter(["pid", "name"]):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            name = next((g for g, pids in self.groups.items() if proc.pid in pids), proc.info["name"] or "?")
            by[name] = by.get(name, 0.0) + times.user + times.system
        return by

    def busy_s(self) -> float:
        end = psutil.cpu_times()
        return sum(getattr(end, f) - getattr(self.start, f) for f in ("user", "nice", "system", "irq", "softirq"))

    def by_group_s(self) -> dict[str, float]:
        end = self._by_group()
        return {g: end[g] - self.start_by.get(g, 0.0) for g in end if end[g] - self.start_by.get(g, 0.0) > 0.05}


# The load generator is one address standing for a whole city's: its per-address budgets are the
# city's (the checks still run, and cost what they cost). The bare identity app gets them too.
SERVICE_ENV = {"SOTAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR": "1000000000", "SOTAY_SIGN_IN_FAILURES_PER_ADDRESS": "1000000000"}


def start_service(name: str, nats_url: str, db_url: str, settings: Settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "SOTAY_NATS_URL": nats_url, "SOTAY_DATABASE_URL": db_url,
           "SOTAY_DATA_DIR": str(settings.data_dir), "SOTAY_HTTP_PORT": str(port), "SOTAY_LOG_LEVEL": "WARNING",
           **SERVICE_ENV}
    return subprocess.Popen([sys.executable, "-m", "sotay", "serve", name], env=env, stdout=subprocess.DEVNULL)


async def until_ready(client, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.get(url)).status_code == 200:
                return
        except Exception:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready")


async def _wait_replica(db_url: str, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = await asyncpg.connect(plain_url(db_url))
        try:
            found = await conn.fetchval("SELECT count(*) FROM identity.registry_members")
        except asyncpg.UndefinedTableError:
            found = 0
        finally:
            await conn.close()
        if found >= expected:
            return
        await asyncio.sleep(0.3)
    raise TimeoutError("identity's registry replica did not catch up")


async def keep_alive_load(port: int | list[int], requests: list[bytes], concurrency: int = 16
                          ) -> tuple[float, list[float]]:
    """Send pre-encoded HTTP/1.1 requests over `concurrency` keep-alive
    connections (to the ports in turn, when given several: replicas, as a proxy
    spreads connections). A client this thin leaves the two cores to the server: an
    httpx client in the same run used more CPU per request than the server."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []

    ports = port if isinstance(port, list) else [port]

    async def connection(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                request = queue.get_nowait()
                started = time.perf_counter()
                writer.write(request)
                status, body = await read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status >= 300:
                    raise RuntimeError(f"{status}: {body[:200]!r}")
        finally:
            writer.close()
    started = time.perf_counter()
    await asyncio.gather(*(connection(ports[i % len(ports)]) for i in range(concurrency)))
    return time.perf_counter() - started, latencies


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
    return status, await reader.readexactly(length)


def raw_request(method: str, path: str, body: bytes = b"", content_type: str | None = None,
                headers: dict[str, str] | None = None) -> bytes:
    """A raw HTTP/1.1 request, encoded once, for the keep-alive load client."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def _queue(client, base: str, headers: dict) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"status": "pending", "match": "matched", "limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{base}/registrations", params=params, headers=headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def percentile_ms(latencies: list[float], pct: int) -> float:
    ordered = sorted(latencies)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000, 1)
