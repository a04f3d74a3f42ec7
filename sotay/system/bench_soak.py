"""`sotay bench soak`: a steady mixed load for a long time (an hour by default), to see that
nothing grows that should not: each service's resident memory and open file descriptors,
PostgreSQL's connections, the consumers' lag, the outbox backlog and the requests' latency,
sampled every interval.

The system is the suite's (sotay/system/bench_suite.py): embedded NATS and PostgreSQL, the four
services as `sotay serve` processes, a registry of `--members` imported first and 100 articles
published. Then, open loop (each request is due at its time whatever became of the ones before,
its latency counted from when it was due):

- registrations at `--rate` a second (94% on phones, 90% matching the registry), the matched ones
  approved by a unit admin in bulk every 10 s;
- members reading: `10 x rate` sessions a second, each the feed, an article of it and the read
  recorded (three requests with the member's token);
- transfers of members to a sibling cell at `rate / 5` a second (city admin);
- the city's dashboard at one request a second.

Verdict: flat when, between the first and the last third of the samples (the first interval is
warm-up and left out), the median of each service's memory and descriptors, of PostgreSQL's
connections and of the p99 latency grows by at most 1.2x (memory, descriptors, connections) or
1.5x (latency); the lag stays bounded (the last third's peak under 2x the first third's, or under
200 messages); no request failed; and at the end, once the load stops, every consumer catches up
and the dashboard counts exactly the registrations and approvals that were acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from sotay.kit.auth import Grant, mint_token
from sotay.kit.service import ServiceRuntime
from sotay.kit.settings import Settings
from sotay.system.bench import members_definition, percentile_ms, scratch_system
from sotay.system.bench_suite import CITY, KEEP_ALIVE, QUICK, SERVICES, Size, SizeRun, status_mb

APPROVE_EVERY_S = 10.0
GROWTH = {"memory": 1.2, "descriptors": 1.2, "connections": 1.2, "latency": 1.5}
LAG_FLOOR = 200  # a lag below this is noise, whatever the ratio


async def run_soak_benchmark(settings: Settings, *, minutes: float, interval_s: float, members: int, rate: float,
                             tree_scale: float | None = None, json_file: Path | None = None,
                             svg_file: Path | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    size = Size("soak", members=members, registrations=min(members, int(minutes * 60 * rate * 1.2) + 10),
                readers=min(members, 2_000), tree_scale=tree_scale or QUICK.tree_scale)
    async with scratch_system(settings, list(SERVICES)) as (s, infra, db_url):
        soak = Soak(s, infra.nats_url, db_url, size, servers=infra.server_pids())
        report = await soak.soak(minutes=minutes, interval_s=interval_s, rate=rate)
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [report]}, indent=2, default=str))
    if svg_file:
        from sotay.system.soak_plot import soak_svg
        svg_file.write_text(soak_svg(report))
    print_soak(report)
    return 0 if report["met"] else 1


class Soak(SizeRun):
    """The suite's system for one size, set up as the suite does (org tree, registry load, articles),
    then held under the steady load."""

    async def soak(self, *, minutes: float, interval_s: float, rate: float) -> dict[str, Any]:
        await self.open_clients(timeout=60, limits=httpx.Limits(max_connections=64,
                                                                keepalive_expiry=KEEP_ALIVE.keepalive_expiry))
        try:
            members = ServiceRuntime(members_definition(), self.settings, self.nats_url, self.db_url)
            try:
                await self._set_up(members)
            finally:
                await members.context.engine.dispose()
            await self._publish_articles()
            await self.caught_up()
            return await self._steady(minutes, interval_s, rate)
        finally:
            self.services.stop_all()
            await self.close_clients()

    async def _set_up(self, members: ServiceRuntime) -> None:
        started = time.perf_counter()
        await self.start_system(members)
        async with members.member_keys():
            await self.registry_load(members.context)
        print(f"  set up: {len(self.units):,} units, {self.size.members:,} members in "
              f"{time.perf_counter() - started:.0f} s", flush=True)

    # --- the load ---------------------------------------------------------------------------------

    async def _steady(self, minutes: float, interval_s: float, rate: float) -> dict[str, Any]:
        rng = random.Random(5)
        bodies, _ = self._registrations(rng, self.size.registrations)
        readers = [(card, unit) for card, _, _, _, unit in self.rows]
        movers = await self._movers(rng)
        approver = {"Authorization": "Bearer " + mint_token(self.key, "soak-unit-admin", [Grant("unit_admin", CITY)])}
        self.sent: dict[str, list[float]] = {}
        self.failed: list[str] = []
        self.acknowledged = {"registrations": 0, "approvals": 0, "transfers": 0, "reads": 0}
        self.in_flight: set[asyncio.Task] = set()
        duration = minutes * 60
        kinds_per_s = {"registration": rate, "reading": 10 * rate, "transfer": rate / 5, "dashboard": 1.0}
        print(f"  steady load for {minutes:g} min: " + ", ".join(f"{k} {v:g}/s" for k, v in kinds_per_s.items()),
              flush=True)

        samples: list[dict[str, Any]] = []
        started = time.perf_counter()
        self._last_sample_s = 0.0
        stop = asyncio.Event()
        tokens = {}

        def reader_auth(card: str, unit: str) -> dict[str, str]:
            if card not in tokens:
                tokens[card] = {"Authorization": "Bearer " + mint_token(
                    self.key, f"account-{card}", [Grant("member", unit)], member_card_no=card, unit=unit)}
            return tokens[card]

        async def registration(i: int, due: float) -> None:
            body = bodies[i % len(bodies)]
            answer = await self._call("registration", due, "POST", self.url("identity", "/registrations"), json=body)
            if answer is not None:
                self.acknowledged["registrations"] += 1

        async def reading(i: int, due: float) -> None:
            card, unit = readers[rng.randrange(len(readers))]
            auth = reader_auth(card, unit)
            feed = await self._call("feed", due, "GET", self.url("content", "/feed"), headers=auth)
            if not feed or not feed["items"]:
                return
            article = feed["items"][i % len(feed["items"])]["id"]
            now = time.perf_counter()
            if await self._call("article", now, "GET", self.url("content", f"/articles/{article}"), headers=auth):
                now = time.perf_counter()
                if await self._call("read", now, "POST", self.url("content", f"/articles/{article}/read"),
                                    headers=auth) is not None:
                    self.acknowledged["reads"] += 1

        async def transfer(i: int, due: float) -> None:
            member_id, cells = movers[i % len(movers)]
            to = cells[(i // len(movers)) % len(cells)]
            answer = await self._call("transfer", due, "POST", self.url("members", f"/members/{member_id}/transfers"),
                                      json={"to_unit": to}, headers=self.admin)
            if answer is not None:
                self.acknowledged["transfers"] += 1

        async def dashboard(i: int, due: float) -> None:
            await self._call("dashboard", due, "GET", self.url("metrics", "/rollout"), params={"unit": CITY},
                             headers=self.admin)

        async def paced(kind: str, per_s: float, work) -> None:
            i = 0
            while not stop.is_set():
                due = started + i / per_s
                if (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                if stop.is_set():
                    return
                task = asyncio.create_task(work(i, due))
                self.in_flight.add(task)
                task.add_done_callback(self.in_flight.discard)
                i += 1

        async def approvals() -> None:
            while not stop.is_set():
                await asyncio.sleep(APPROVE_EVERY_S)
                ids = await self._matched_pending(approver)
                for at in range(0, len(ids), 500):
                    due = time.perf_counter()
                    answer = await self._call("approval", due, "POST", self.url("identity", "/registrations/approve"),
                                              json={"ids": ids[at:at + 500]}, headers=approver)
                    if answer is not None:
                        self.acknowledged["approvals"] += answer["approved"]

        load = [asyncio.create_task(paced("registration", kinds_per_s["registration"], registration)),
                asyncio.create_task(paced("reading", kinds_per_s["reading"], reading)),
                asyncio.create_task(paced("transfer", kinds_per_s["transfer"], transfer)),
                asyncio.create_task(paced("dashboard", kinds_per_s["dashboard"], dashboard)),
                asyncio.create_task(approvals())]
        try:
            # On a fixed schedule (a sample every interval from the start, one late when taking the
            # last was slow), so a loaded machine takes as many samples as a quiet one.
            for due in range(1, math.ceil(duration / interval_s - 1e-6) + 1):
                await asyncio.sleep(max(0.0, started + min(due * interval_s, duration) - time.perf_counter()))
                samples.append(await self._sample(time.perf_counter() - started))
                last = samples[-1]
                print(f"  {last['minute']:6.1f} min  p99 {last['p99_ms']:7.1f} ms  lag {last['lag']:5d}  "
                      f"backlog {last['outbox_backlog']:4d}  pg conns {last['pg_connections']:3d}  "
                      + "  ".join(f"{n} {v:.0f} MB" for n, v in last['rss_mb'].items()), flush=True)
        finally:
            stop.set()
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)
            if self.in_flight:
                await asyncio.gather(*list(self.in_flight), return_exceptions=True)
        # The last approvals, then the dashboard must count what was acknowledged.
        self.acknowledged["approvals"] += await self.approve_matched(approver)
        await self.caught_up(timeout=600)
        city = await self.city()
        installed = await self.db.fetchval("SELECT count(*) FROM identity.registrations")
        exact = {"accounts_installed": (city["accounts_installed"], installed),
                 "accounts_approved": (city["accounts_approved"], self.acknowledged["approvals"])}
        return verdict(samples, {"minutes": minutes, "interval_s": interval_s, "members": self.size.members,
                                 "offered_per_s": kinds_per_s, "acknowledged": self.acknowledged,
                                 "failed": self.failed[:20], "failures": len(self.failed),
                                 "dashboard_exact": {k: {"dashboard": a, "acknowledged": b} for k, (a, b)
                                                     in exact.items()},
                                 "exact": all(a == b for a, b in exact.values())})

    async def _call(self, kind: str, due: float, method: str, url: str, **kw) -> Any:
        """One request; its latency (from when it was due) in this interval's figures; None if it failed."""
        try:
            answer = await self.http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.failed.append(f"{kind}: {type(exc).__name__}")
            return None
        self.sent.setdefault(kind, []).append(time.perf_counter() - due)
        if answer.status_code >= 300:
            self.failed.append(f"{kind}: {answer.status_code} {answer.text[:120]}")
            return None
        return answer.json()

    async def _movers(self, rng: random.Random, count: int = 2_000) -> list[tuple[str, list[str]]]:
        """Members whose cell has open sibling cells, each with the codes of those cells."""
        rows = await self.db.fetch(
            """SELECT m.id::text AS id, array_agg(s.code ORDER BY s.code) AS cells
                 FROM members.members m JOIN members.org_units u ON u.id = m.unit_id
                 JOIN members.org_units s ON s.parent_id = u.parent_id AND s.id <> u.id
                                         AND s.kind = 'cell' AND s.closed_at IS NULL
                WHERE m.status = 'active' GROUP BY m.id LIMIT $1""", count * 4)
        picked = rng.sample(rows, min(count, len(rows)))
        return [(r["id"], list(r["cells"])) for r in picked]

    # --- one sample ------------------------------------------------------------------------------------

    async def _sample(self, at_s: float) -> dict[str, Any]:
        sent, self.sent = self.sent, {}
        everything = [x for v in sent.values() for x in v]
        lag = await self.consumer_lag()
        backlog = 0
        for schema in SERVICES:
            backlog += await self.db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
        pids = {n: p.pid for n, p in self.services.procs.items()}
        span_s, self._last_sample_s = at_s - self._last_sample_s, at_s
        return {"minute": round(at_s / 60, 2), "requests": len(everything),
                "per_s": {k: round(len(v) / span_s, 1) for k, v in sent.items()},
                "p50_ms": percentile_ms(everything, 50) if everything else 0.0,
                "p99_ms": percentile_ms(everything, 99) if everything else 0.0,
                "p99_ms_by_kind": {k: percentile_ms(v, 99) for k, v in sent.items() if v},
                "failures_so_far": len(self.failed),
                "rss_mb": {n: round(status_mb(pid, "VmRSS:"), 1) for n, pid in pids.items()},
                "descriptors": {n: _descriptors(pid) for n, pid in pids.items()},
                "pg_connections": await self.db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"),
                "lag": lag, "outbox_backlog": backlog, "load_1m": round(os.getloadavg()[0], 2)}


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the verdict -------------------------------------------------------------------------------------


def verdict(samples: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """Flat or not: the first and the last third of the samples after the warm-up, compared."""
    steady = samples[1:] if len(samples) > 3 else samples
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]

    def growth(pick) -> float:
        before = statistics.median(pick(s) for s in first)
        after = statistics.median(pick(s) for s in last)
        return round(after / before, 2) if before else (1.0 if not after else float("inf"))

    checks: dict[str, dict[str, Any]] = {}
    for name in samples[0]["rss_mb"] if samples else []:
        checks[f"{name} memory"] = {"growth": growth(lambda s, n=name: s["rss_mb"][n]), "limit": GROWTH["memory"]}
        checks[f"{name} descriptors"] = {"growth": growth(lambda s, n=name: s["descriptors"][n]),
                                         "limit": GROWTH["descriptors"]}
    checks["PostgreSQL connections"] = {"growth": growth(lambda s: s["pg_connections"]),
                                        "limit": GROWTH["connections"]}
    checks["p99 latency"] = {"growth": growth(lambda s: s["p99_ms"]), "limit": GROWTH["latency"]}
    for check in checks.values():
        check["met"] = check["growth"] <= check["limit"]
    lag_first = max((s["lag"] for s in first), default=0)
    lag_last = max((s["lag"] for s in last), default=0)
    checks["consumer lag"] = {"first_third_peak": lag_first, "last_third_peak": lag_last,
                              "met": lag_last <= max(LAG_FLOOR, 2 * lag_first)}
    met = all(c["met"] for c in checks.values()) and run["failures"] == 0 and run["exact"]
    return {"scenario": "soak", **run, "checks": checks, "samples": samples, "met": met,
            "target": "memory, descriptors and connections within 1.2x, p99 within 1.5x, lag bounded "
                      "(first vs last third); no failed request; the dashboard exact at the end"}


def print_soak(report: dict[str, Any]) -> None:
    print(f"soak: {report['minutes']:g} min, {report['members']:,} members, "
          f"{len(report['samples'])} samples every {report['interval_s']:g} s")
    print("acknowledged: " + ", ".join(f"{k} {v:,}" for k, v in report["acknowledged"].items())
          + f"; failed requests: {report['failures']}")
    print(f"{'check':<28}{'growth / peak':>24}{'limit':>8}  met")
    for name, check in report["checks"].items():
        if "growth" in check:
            print(f"{name:<28}{check['growth']:>23.2f}x{check['limit']:>7.1f}x  {'yes' if check['met'] else 'NO'}")
        else:
            shown = f"{check['first_third_peak']} -> {check['last_third_peak']}"
            print(f"{name:<28}{shown:>24}{'':>8}  {'yes' if check['met'] else 'NO'}")
    for name, pair in report["dashboard_exact"].items():
        print(f"{name:<28}dashboard {pair['dashboard']:,}, acknowledged {pair['acknowledged']:,}")
    print(f"target: {report['target']}: {'met' if report['met'] else 'NOT met'}")
