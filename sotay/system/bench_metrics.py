"""`sotay bench metrics`: the rollout projections against a raw consume.

On real servers (embedded ones in a temporary directory unless configured)
it publishes, straight to JetStream, the events a Hanoi-like rollout would
produce: the org tree, members entering the registry, registrations on both
platforms and approvals. Then, in the same run:

- floor: a raw nats-py pull consume (no acks) of those streams;
- absorb: a `sotay serve metrics` process started on the backlog, until its
  consumers have nothing pending: events/s;
- latency: a steady 2,000 events/s of member updates, with a probe member
  registered in a probe cell every 0.25 s; the time from the probe's publish
  to the first RolloutSnapshot of the probe cell that counts it, p50/p99;
- replay: the service stopped, `sotay replay metrics` of everything: events/s.

Targets: replay at least half the raw consume rate; snapshot p99 under 1 s.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from sotay.system.demo.registry import build_org_tree
from sotay.contracts.members import MemberRegistered, MemberUpdated, OrgUnitCreated
from sotay.system.bench import percentile_ms, start_service, scratch_system
from sotay.kit.embedded import free_port
from sotay.kit.events import message_from_payload, uuid7
from sotay.kit.service import ServiceRuntime, nats_servers
from sotay.kit.settings import Settings
from sotay.kit.publishing import server_has_atomic_batches
from sotay.kit.streams import ensure_streams

STREAMS = ("SOTAY_MEMBERS", "SOTAY_IDENTITY", "SOTAY_CONTENT")


async def run_metrics_benchmark(settings: Settings, *, members: int, rate: int, seconds: float,
                                json_file: Path | None = None) -> int:
    async with scratch_system(settings, ["metrics"]) as (settings, infra, db_url):
        return await _run(settings, infra, db_url, members, rate, seconds, json_file)


def _member(member_id: str, unit: str, path: list[str], status: str = "active",
            eligible: bool = True) -> dict:
    # Metrics reads nothing of the person: the snapshot's sealed part is left out (None).
    return {"member_id": member_id, "unit": unit, "unit_path": path, "status": status, "eligible": eligible,
            "ineligible_reason": None if eligible else "không có điện thoại", "personal": None}


class Publisher:
    def __init__(self, js) -> None:
        self.js, self.pending, self.count = js, [], 0

    async def send(self, event_type, data: dict, *, aggregate: str, committee: str, sequence: int | None = None):
        message = message_from_payload(event_type, data, aggregate_id=aggregate, committee=committee,
                                       orgunit=data.get("unit") or data.get("code"), sequence=sequence)
        self.pending.append(await self.js.publish_async(message.subject, message.body(),
                                                        headers={"Nats-Msg-Id": str(message.id)}))
        self.count += 1
        if len(self.pending) >= 2000:
            await self.flush()

    async def flush(self) -> None:
        await asyncio.gather(*self.pending)
        self.pending = []


async def _run(settings, infra, db_url: str, member_count: int, rate: int, seconds: float,
               json_file: Path | None) -> int:
    from sotay.system.registry import load
    from sotay.contracts.identity import AccountApproved, RegistrationSubmitted
    from services.metrics.handlers.rebuild import replay

    nc = await nats.connect(nats_servers(infra.nats_url))
    js = nc.jetstream()
    metrics = ServiceRuntime(load("metrics"), settings, infra.nats_url, db_url)
    await metrics.migrate()
    await metrics.context.engine.dispose()
    await ensure_streams(js, atomic=server_has_atomic_batches(nc), replicas=1,
                         duplicate_window_s=settings.duplicate_window_s)

    # The backlog: tree, members, registrations and approvals.
    rng = random.Random(5)
    units = build_org_tree(2023, scale=0.25)
    paths: dict[str, list[str]] = {}
    pub = Publisher(js)
    for u in units:
        paths[u.code] = (paths[u.parent] if u.parent else []) + [u.code]
        committee = paths[u.code][1] if len(paths[u.code]) > 1 else "city"
        await pub.send(OrgUnitCreated, {"unit_id": str(uuid7()), "code": u.code, "name": u.name, "kind": u.kind,
                                        "parent": u.parent, "committee": committee, "path": paths[u.code],
                                        "wave": u.wave}, aggregate=u.code, committee=committee, sequence=1)
    cells = [u.code for u in units if u.kind == "cell"]
    people = []
    for i in range(member_count):
        cell = rng.choice(cells)
        member_id = str(uuid7())
        people.append((member_id, cell))
        await pub.send(MemberRegistered, {**_member(member_id, cell, paths[cell]), "source": "import"},
                       aggregate=member_id, committee=paths[cell][1], sequence=1)
    for member_id, cell in people[: member_count * 2 // 3]:
        reg_id = str(uuid7())
        platform = "mobile" if rng.random() < 0.9 else "web"
        await pub.send(RegistrationSubmitted, {"registration_id": reg_id, "platform": platform,
                                               "match_result": "matched", "match_reasons": [],
                                               "member_id": member_id, "unit": cell},
                       aggregate=reg_id, committee=paths[cell][1])
        if rng.random() < 0.85:
            account_id = str(uuid7())
            await pub.send(AccountApproved, {"account_id": account_id, "registration_id": reg_id,
                                             "member_id": member_id, "unit": cell, "platform": platform},
                           aggregate=account_id, committee=paths[cell][1])
    await pub.flush()
    backlog = pub.count
    print(f"published {backlog:,} events ({len(units):,} units, {member_count:,} members)", flush=True)

    # Floor: a raw consume of the same streams.
    consumed, consume_s = await raw_consume(js)
    raw_rate = consumed / consume_s

    # Absorb: the service on the backlog.
    port = free_port()
    proc = start_service("metrics", infra.nats_url, db_url, settings, port)
    try:
        started = time.perf_counter()
        await _drained(js)
        absorb_rate = backlog / (time.perf_counter() - started)

        # Latency under a steady load, measured on a probe cell of its own.
        probe_cell, probe_path = cells[0], paths[cells[0]]
        base = sum(1 for _, cell in people if cell == probe_cell)
        await asyncio.sleep(1.0)  # the backlog's last snapshots out of the way
        seen_total, probes, latencies = {"n": 0}, [], []

        async def on_snapshot(msg):
            data = json.loads(msg.data)["data"]
            if data["unit_code"] == probe_cell:
                seen_total["n"] = max(seen_total["n"], data["members_total"])
                now = time.perf_counter()
                while probes and probes[0][1] <= seen_total["n"]:
                    latencies.append(now - probes.pop(0)[0])
        await nc.subscribe(f"sotay.metrics.rollout.{probe_path[1]}", cb=on_snapshot)
        versions: dict[str, int] = {}
        steady, tick, sent, probe_every = Publisher(js), 0.05, 0, 0.25
        started = time.perf_counter()
        next_probe = started
        while time.perf_counter() - started < seconds:
            due = int((time.perf_counter() - started) * rate) - sent
            for _ in range(max(0, due)):
                member_id, cell = people[rng.randrange(len(people))]
                versions[member_id] = versions.get(member_id, 1) + 1
                await steady.send(MemberUpdated, {**_member(member_id, cell, paths[cell],
                                                            eligible=versions[member_id] % 2 == 0),
                                                   "changed": ["eligible"]},
                                  aggregate=member_id, committee=paths[cell][1], sequence=versions[member_id])
                sent += 1
            if time.perf_counter() >= next_probe:
                member_id = str(uuid7())
                await steady.send(MemberRegistered, {**_member(member_id, probe_cell, probe_path),
                                                     "source": "api"},
                                  aggregate=member_id, committee=probe_path[1], sequence=1)
                await steady.flush()
                base += 1
                probes.append((time.perf_counter(), base))
                next_probe += probe_every
            await steady.flush()
            await asyncio.sleep(tick)
        await steady.flush()
        steady_rate = sent / (time.perf_counter() - started)
        print(f"steady load sent: {sent:,} events at {steady_rate:,.0f}/s; {len(latencies)} probes answered so far",
              flush=True)
        deadline = time.perf_counter() + 10
        while probes and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        unanswered = len(probes)
        await _drained(js)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            print("the metrics process did not stop within 60 s of SIGTERM; killed", flush=True)
            proc.kill()
            proc.wait()

    # Replay: everything again, service stopped.
    stats = await replay(db_url, js, ack_wait=settings.ack_wait_s, max_ack_pending=settings.consumer_batch * 4)
    await nc.close()

    ratio = stats.per_s / raw_rate
    p50, p99 = (percentile_ms(latencies, 50), percentile_ms(latencies, 99)) if latencies else (None, None)
    met = ratio >= 0.5 and p99 is not None and p99 < 1000 and unanswered == 0
    result = {
        "name": "metrics", "target": "replay >= 0.5x raw consume; snapshot latency p99 < 1 s at 2,000 events/s",
        "figures": {"backlog_events": backlog, "absorb_events_per_s": round(absorb_rate),
                    "steady_events_per_s": round(steady_rate), "probes": len(latencies) + unanswered,
                    "probes_unanswered": unanswered, "snapshot_latency_p50_ms": p50,
                    "snapshot_latency_p99_ms": p99, "replay_events": stats.events,
                    "replay_events_per_s": round(stats.per_s)},
        "floor": {"raw_consume_events_per_s": round(raw_rate)},
        "ratio": round(ratio, 2), "met": met,
    }
    print()
    for label, value in [
        ("raw nats-py consume (floor)", f"{raw_rate:,.0f} events/s"),
        ("absorbed by the projections", f"{absorb_rate:,.0f} events/s ({backlog:,} events)"),
        ("steady load", f"{steady_rate:,.0f} events/s for {seconds:.0f} s"),
        ("event → snapshot p50 / p99", f"{p50} / {p99} ms ({len(latencies)} probes, {unanswered} unanswered)"),
        ("replay", f"{stats.per_s:,.0f} events/s ({stats.events:,} events)"),
        ("replay / raw consume", f"{ratio:.2f}x (target >= 0.5x)"),
        ("targets", "met" if met else "NOT met"),
    ]:
        print(f"{label:<32}{value:>44}")
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0 if met else 1


async def raw_consume(js, streams: tuple[str, ...] = STREAMS) -> tuple[int, float]:
    """A raw nats-py pull consume (no acks) of everything now in the streams: (messages, seconds)."""
    started, consumed = time.perf_counter(), 0
    for stream in streams:
        last = (await js.stream_info(stream)).state.last_seq
        if not last:
            continue
        sub = await js.pull_subscribe(">", stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
        seen = 0
        while seen < last:
            messages = await sub.fetch(500, timeout=5)
            consumed += len(messages)
            seen = messages[-1].metadata.sequence.stream
        await sub.unsubscribe()
    return consumed, time.perf_counter() - started


async def _drained(js, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    names = {"SOTAY_MEMBERS": "metrics-registry", "SOTAY_IDENTITY": "metrics-accounts",
             "SOTAY_CONTENT": "metrics-content"}
    while time.monotonic() < deadline:
        try:
            infos = [await js.consumer_info(stream, name) for stream, name in names.items()]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                return
        except nats.js.errors.NotFoundError:
            pass  # not created yet
        await asyncio.sleep(0.2)
    raise TimeoutError("the metrics consumers did not catch up")

