"""`sotay bench durability`: what JetStream's `sync_interval: always` costs on this machine.

NATS acknowledges a publish once the message is written to the stream's file, not once it is on
the disk: the server flushes its files to the disk every two minutes by default (`sync_interval`).
Jepsen's 2025 analysis of NATS 2.12 showed what that means: a power failure, or a kernel crash, of
a majority of a cluster's nodes loses writes that were acknowledged in the last interval. With
`sync_interval: always` each write is flushed before the acknowledgement.

This benchmark starts two embedded servers side by side in a temporary directory, one with the
default and one with `always`, creates the same file stream on each and, one server after the
other for a few rounds (so that what else the machine does falls on both alike):

- pipelined: publishes `--messages` messages of 512 bytes with up to 256 acknowledgements
  outstanding (as the outbox relay does) and reports messages per second;
- one by one: awaits each publish's acknowledgement (as a single command would) and reports the
  median and 99th percentile of its latency.

The figures depend on the disk: a laptop's SSD, a cloud volume and a RAID controller with a
battery differ by orders of magnitude for a flush. Run it on the machine the cluster will use.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import nats

from sotay.kit.embedded import EmbeddedNats

PAYLOAD = b"x" * 512
WINDOW = 256
ROUNDS = 3


async def _pipelined(js, subject: str, count: int) -> float:
    started = time.perf_counter()
    pending: list[asyncio.Future] = []
    for _ in range(count):
        pending.append(await js.publish_async(subject, PAYLOAD))
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return count / (time.perf_counter() - started)


async def _one_by_one(js, subject: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        await js.publish(subject, PAYLOAD)
        latencies.append(time.perf_counter() - started)
    return latencies


async def _connect(url: str, name: str):
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=WINDOW)
    await js.add_stream(name=name, subjects=[f"{name.lower()}.>"], storage="file")
    return nc, js


async def _measure(urls: dict[str, str], messages: int, singles: int) -> dict[str, dict]:
    connections = {way: await _connect(url, f"BENCH_{way.upper()}") for way, url in urls.items()}
    rates: dict[str, list[float]] = {way: [] for way in urls}
    latencies: dict[str, list[float]] = {way: [] for way in urls}
    try:
        for _ in range(ROUNDS):
            for way, (_, js) in connections.items():
                subject = f"bench_{way}.m"
                rates[way].append(await _pipelined(js, subject, messages))
                latencies[way].extend(await _one_by_one(js, subject, singles))
    finally:
        for nc, _ in connections.values():
            await nc.close()
    figures = {}
    for way in urls:
        ordered = sorted(latencies[way])
        figures[way] = {
            "pipelined_msgs_per_s": round(statistics.median(rates[way])),
            "single_p50_ms": round(statistics.median(ordered) * 1000, 3),
            "single_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
        }
    return figures


async def run_durability_benchmark(*, messages: int, singles: int, json_file: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="sotay-bench-sync-") as scratch:
        root = Path(scratch)
        servers = {}
        for way, block in (("default", "jetstream {}"), ("always", "jetstream { sync_interval: always }")):
            config = root / f"{way}.conf"
            config.write_text(block + "\n")
            servers[way] = EmbeddedNats(root / way, config=config)
        try:
            urls = {way: server.start() for way, server in servers.items()}
            figures = await _measure(urls, messages, singles)
        finally:
            for server in servers.values():
                server.stop()
    default, always = figures["default"], figures["always"]
    print(f"JetStream file stream, {len(PAYLOAD)}-byte messages, median of {ROUNDS} rounds, same run:")
    print(f"{'sync_interval':<16}{'pipelined msg/s':>18}{'one-by-one p50 ms':>20}{'p99 ms':>10}")
    for way, row in figures.items():
        print(f"{way:<16}{row['pipelined_msgs_per_s']:>18,}{row['single_p50_ms']:>20}{row['single_p99_ms']:>10}")
    print(f"always / default: pipelined {always['pipelined_msgs_per_s'] / default['pipelined_msgs_per_s']:.2f}x, "
          f"one-by-one p50 {always['single_p50_ms'] / default['single_p50_ms']:.1f}x")
    if json_file:
        json_file.write_text(json.dumps(figures, indent=2))
    return 0
