"""Faults under a sustained workload (issue 23): the harness's workload (tests/chaos/harness.py,
`Workload.mixed` and `import_burst`) runs without a pause while each fault is injected, held and
healed, in rounds; after each, the system is checked exact (the harness's `settle`).

For each fault this measures the throughput (acknowledged commands a second) before, during and
after it, the recovery (from the fault's end until the throughput over the last 2 s is back to
3/4 of before and the consumers' backlog back to what it was before), the time to settle once
the workload pauses, and the redeliveries the consumers counted (sotay_consumer_redeliveries)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from sotay.kit.keys import metrics_token
from sotay.kit.settings import Settings
from tests.chaos.harness import CONSUMERS, Env, settle

# --- measuring ---------------------------------------------------------------------------------


class Meter:
    """Acknowledged commands and the consumers' backlog (pending + unacknowledged), sampled."""

    def __init__(self, env: Env, every_s: float = 0.25) -> None:
        self.env = env
        self.every_s = every_s
        self.samples: list[tuple[float, int, int | None]] = []  # when, commands so far, backlog
        self._task: asyncio.Task | None = None

    async def backlog(self) -> int | None:
        try:
            infos = await asyncio.wait_for(asyncio.gather(*(
                self.env.js.consumer_info(stream, name) for stream, names in CONSUMERS.items() for name in names)), 1.5)
        except Exception:  # NATS down: no reading
            return None
        return sum(i.num_pending + i.num_ack_pending for i in infos)

    async def _run(self) -> None:
        lag_every, next_lag = 1.0, 0.0
        lag: int | None = None
        while True:
            now = time.monotonic()
            if now >= next_lag:
                lag, next_lag = await self.backlog(), now + lag_every
            self.samples.append((time.monotonic(), self.env.w.ledger.commands, lag))
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def commands_at(self, t: float) -> int:
        before = [c for when, c, _ in self.samples if when <= t]
        return before[-1] if before else 0

    def rate(self, t0: float, t1: float) -> float:
        return (self.commands_at(t1) - self.commands_at(t0)) / max(t1 - t0, 1e-6)

    def max_backlog(self, t0: float, t1: float) -> int:
        return max((lag for when, _, lag in self.samples if t0 <= when <= t1 and lag is not None), default=0)

    def backlog_now(self) -> int | None:
        return self.samples[-1][2] if self.samples else None


async def redeliveries(env: Env) -> dict[str, tuple[int, int]]:
    """Each service process's count of redelivered messages (its pid with it: a restart starts at 0)."""
    token = metrics_token(Settings(data_dir=env.chaos.data_dir))
    found = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for name, service in env.chaos.services.items():
            proc = env.chaos.processes.running[name]
            try:
                answer = await client.get(f"{service.base}/metrics", headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                continue
            n = sum(float(m.group(1)) for m in re.finditer(
                r"^sotay_consumer_redeliveries_total\{[^}]*\} ([0-9.e+]+)$", answer.text, re.M))
            found[name] = (proc.pid, int(n))
    return found


def redelivered_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> int:
    total = 0
    for name, (pid, n) in after.items():
        was = before.get(name)
        total += n - was[1] if was and was[0] == pid else n
    return total


# --- the load ------------------------------------------------------------------------------------


class Load:
    """The harness's mixed workload, batch after batch, and an import of `import_size` members every
    `import_every_s`, until stopped; `pause` lets what is in flight finish and starts nothing new."""

    def __init__(self, env: Env, *, concurrency: int = 8, batch: int = 40, import_every_s: float = 10,
                 import_size: int = 100, people_low: int = 300, people_batch: int = 1500) -> None:
        self.env = env
        self.concurrency, self.batch = concurrency, batch
        self.import_every_s, self.import_size = import_every_s, import_size
        self.people_low, self.people_batch = people_low, people_batch
        self.imports = 0
        self._go = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._busy = 0

    def start(self) -> None:
        self._go.set()
        self._tasks = [asyncio.create_task(self._commands()), asyncio.create_task(self._imports())]

    async def _step(self, work: Callable[[], Awaitable]) -> None:
        await self._go.wait()
        self._busy += 1
        self._idle.clear()
        try:
            await work()
        finally:
            self._busy -= 1
            if not self._busy:
                self._idle.set()

    async def _commands(self) -> None:
        w = self.env.w
        while True:
            if len(w.unregistered) < self.people_low:  # more people who can register: an import at once
                await self._step(lambda: self.env.more_people(self.people_batch, first=len(self.env.people)))
            await self._step(lambda: w.mixed(self.batch, concurrency=self.concurrency))

    async def _imports(self) -> None:
        while True:
            await asyncio.sleep(self.import_every_s)
            await self._step(lambda: self.env.w.import_burst(self.import_size))
            self.imports += 1

    async def pause(self) -> None:
        self._go.clear()
        if self._busy:
            await self._idle.wait()

    def resume(self) -> None:
        self._go.set()

    async def stop(self) -> None:
        await self.pause()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.resume()


# --- the faults ----------------------------------------------------------------------------------


async def disk_full(env: Env, rep: int, hold_s: float) -> dict:
    """PostgreSQL's data directory's filesystem full (a ballast file), then space returns."""
    assert env.disk is not None, "no filesystem of its own for PostgreSQL's data directory"
    retries = env.w.ledger.retries
    ballast = await asyncio.to_thread(env.disk.fill)
    await asyncio.sleep(hold_s)
    refused = env.w.ledger.retries - retries
    await asyncio.to_thread(env.disk.free)
    notes = {"refused": refused}
    if env.chaos.postgres.process.poll() is not None:  # it stopped; its supervisor starts it again
        env.chaos.postgres.process = None
        await asyncio.to_thread(env.chaos.start_postgres)
        notes["postgres restarted"] = 1
    notes["ballast MB"] = round(ballast / 2**20)
    return notes


async def slow_postgres(env: Env, rep: int, hold_s: float, delay_s: float = 0.1) -> dict:
    """Every service's PostgreSQL connection 2 × delay_s slower a round trip."""
    env.pg_proxy.delay(delay_s)
    await asyncio.sleep(hold_s)
    env.pg_proxy.delay(0)
    return {"round trip +ms": round(2 * delay_s * 1000)}


async def nats_partition(env: Env, rep: int, hold_s: float) -> dict:
    """identity cut off from NATS (nothing through either way, new connections hang); healed with
    its connections kept (odd rounds: what waited arrives late) or cut (even: it connects again)."""
    before = env.nats_proxy.connections
    env.nats_proxy.partition()
    await asyncio.sleep(hold_s)
    cut = rep % 2 == 1
    env.nats_proxy.heal(cut=cut)
    if cut:
        started = time.monotonic()
        while env.nats_proxy.connections == before:  # identity connects again
            assert time.monotonic() - started < 60, "identity did not connect to NATS again"
            await asyncio.sleep(0.1)
    return {"healed": "cut" if cut else "kept"}


SKEWS = [{"content": 300, "metrics-2": -20}, {"content": -20, "metrics-2": 300}, {"content": 300, "metrics-2": 300}]


async def clock_skew(env: Env, rep: int, hold_s: float) -> dict:
    """content's and metrics-2's wall clocks jump (5 min ahead, or 20 s behind: within the tokens'
    30 s leeway), then back."""
    assert env.clocks, "libfaketime is not installed"
    skew = SKEWS[rep % len(SKEWS)]
    for name, offset in skew.items():
        env.clocks[name].set(offset)
    await asyncio.sleep(hold_s + 1)  # each reads its clock file at most once a second
    for name in skew:
        env.clocks[name].set(0)
    await asyncio.sleep(1)
    return {"skew": " ".join(f"{n}{o:+d}s" for n, o in skew.items())}


async def kill_consumer(env: Env, rep: int, hold_s: float) -> dict:
    victim = ("content", "metrics-1", "identity")[rep % 3]
    env.chaos.kill(victim)
    await asyncio.sleep(hold_s)
    env.chaos.start(victim)  # the fault ends here; readiness is part of the recovery
    return {"killed": victim}


async def nats_killed(env: Env, rep: int, hold_s: float) -> dict:
    await asyncio.to_thread(env.chaos.stop_nats, signal.SIGKILL)
    await asyncio.sleep(hold_s)
    env.chaos.start_nats()
    await env.chaos.wait_nats()
    return {}


async def postgres_killed(env: Env, rep: int, hold_s: float) -> dict:
    await asyncio.to_thread(env.chaos.kill_postgres, signal.SIGKILL)
    await asyncio.sleep(hold_s)
    await asyncio.to_thread(env.chaos.start_postgres)
    return {}


@dataclass
class Fault:
    name: str
    inject: Callable[[Env, int, float], Awaitable[dict]]
    hold_s: float


NEW_FAULTS = [Fault("PostgreSQL's disk full", disk_full, 6), Fault("PostgreSQL slow (+200 ms a round trip)",
              slow_postgres, 8), Fault("identity cut off from NATS", nats_partition, 10),
              Fault("clocks skewed (content, metrics-2)", clock_skew, 8)]
OLD_FAULTS = [Fault("kill -9 a consumer process", kill_consumer, 1), Fault("nats-server killed -9", nats_killed, 2),
              Fault("PostgreSQL killed -9", postgres_killed, 2)]


# --- a run ---------------------------------------------------------------------------------------


@dataclass
class Episode:
    fault: str
    rep: int
    before: float  # commands a second
    during: float
    after: float
    recovery_s: float
    settle_s: float
    redelivered: int
    commands: int
    checks: int
    events: int
    notes: dict = field(default_factory=dict)


async def episode(env: Env, load: Load, meter: Meter, fault: Fault, rep: int, *, before_s: float,
                  after_s: float, hold_at_most_s: float = 60, recovery_timeout: float = 120) -> Episode:
    commands = env.w.ledger.commands
    await asyncio.sleep(before_s)
    counted = await redeliveries(env)
    started = time.monotonic()
    rate_before = meter.rate(started - before_s, started)
    backlog_before = meter.max_backlog(started - before_s, started)
    notes = await fault.inject(env, rep, min(fault.hold_s, hold_at_most_s))
    ended = time.monotonic()
    during = meter.rate(started, ended)
    # Recovered: the throughput over the last 2 s back to 3/4 of before, the backlog to before's.
    while True:
        await asyncio.sleep(0.25)
        now = time.monotonic()
        lag = meter.backlog_now()
        if now - ended >= 2 and meter.rate(now - 2, now) >= 0.75 * rate_before and lag is not None \
                and lag <= max(backlog_before, 20):
            recovery = now - ended - 1.0  # the 2 s window's middle: when the rate was back
            recovery = max(recovery, 0.0)
            break
        assert now - ended < recovery_timeout, \
            f"{fault.name}: not recovered within {recovery_timeout} s (rate {meter.rate(now - 2, now):.1f}/s, " \
            f"before {rate_before:.1f}/s; backlog {lag}, before {backlog_before})"
    await asyncio.sleep(max(0.0, ended + after_s - time.monotonic()))
    after = meter.rate(ended, ended + after_s)
    await load.pause()
    paused = time.monotonic()
    verdict, _ = await settle(env.db, env.js, env.w.ledger, env.chaos, timeout=150)
    settle_s = time.monotonic() - paused
    assert env.w.ledger.failures == [], env.w.ledger.failures
    redelivered = redelivered_between(counted, await redeliveries(env))
    load.resume()
    return Episode(fault.name, rep, rate_before, during, after, recovery, settle_s, redelivered,
                   env.w.ledger.commands - commands, verdict.checks, verdict.events, notes)


def summary(episodes: list[Episode]) -> str:
    """One line a fault: its rounds' mean throughputs, recoveries (each round), settle times, redeliveries."""
    header = ("fault", "rounds", "cmd/s before", "during", "after", "recovery s", "settle s", "redelivered",
              "notes")
    rows = []
    for name in dict.fromkeys(e.fault for e in episodes):
        mine = [e for e in episodes if e.fault == name]
        notes = "; ".join(", ".join(f"{k} {v}" for k, v in e.notes.items()) for e in mine if e.notes)
        rows.append((name, str(len(mine)), f"{statistics.mean(e.before for e in mine):.0f}",
                     f"{statistics.mean(e.during for e in mine):.0f}", f"{statistics.mean(e.after for e in mine):.0f}",
                     " / ".join(f"{e.recovery_s:.1f}" for e in mine), " / ".join(f"{e.settle_s:.1f}" for e in mine),
                     str(sum(e.redelivered for e in mine)), notes))
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(x[:-1], widths, strict=True)) + "  " + x[-1]
                     for x in [header, *rows])


LOAD_TABLES: list[str] = []  # printed at the end of the run (conftest.py)
