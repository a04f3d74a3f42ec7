"""The suite's dashboard freshness scenario: how soon the dashboard shows a change committed in
the registry, while the registry changes steadily.

The load: members' own rules change members' eligibility, RATE events a second, committed
TICK apart by members' bulk path (`RegistryBatch`: the rows, their history and their events in
the outbox, in one transaction, as a reconciliation applies them). Each member of the load is
made ineligible and eligible again in the same transaction (two events; their figures come back
where they were, so the scenarios after this one find the registry as it was). The load's
members are outside the probe committee.

The probe: every PROBE_EVERY seconds one eligible member of the probe committee (the largest)
is made ineligible in a transaction of their own. From that commit to the first RolloutSnapshot
of the committee that counts it (its `members_eligible` at or below what it was less the probes
so far; a core NATS subscription to `sotay.metrics.rollout.<committee>`): members' relay,
the consumers of metrics, its fold and its snapshot round, and metrics' relay. At the end the
probes' members are made eligible again.

Target (issue 22): p99 under 500 ms with the load at 2,000 events/s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg

from services.members.adapters import registry
from services.members.handlers.registry_batch import RegistryBatch
from sotay.kit.service import ServiceContext
from sotay.system.bench import percentile_ms

RATE = 2000  # events a second
TICK = 0.05  # seconds between the load's transactions
PROBE_EVERY = 0.25  # seconds
TARGET_P99_MS = 500
ANSWER_WITHIN_S = 120  # after the load, for the last probes (a backlog the load left drains first)
REASON = "không có điện thoại"  # the load's ineligibility, undone in the same transaction
ACTOR = "bench-freshness"


class Freshness:
    """One run of the scenario on a running system; `ctx` is a members service context in this
    process (with its member keys open), `db` a plain asyncpg connection, `nc` a NATS client,
    `figures` a unit's figures as the dashboard reads them (metrics' API)."""

    def __init__(self, ctx: ServiceContext, db: asyncpg.Connection, nc,
                 figures: Callable[[str], Awaitable[dict[str, Any]]], *, seconds: float, rate: int = RATE) -> None:
        self.ctx, self.db, self.nc, self.figures, self.seconds, self.rate = ctx, db, nc, figures, seconds, rate
        self.today = date.today()
        self.sent = 0
        self.probes: list[tuple[float, int]] = []  # (commit time, members_eligible that counts it)
        self.latencies: list[float] = []
        self.lowest: int | None = None

    async def run(self) -> dict[str, Any]:
        committee, city_path = await self._probe_committee()
        probe_ids = await self._eligible_members(committee, inside=True,
                                                 limit=int(self.seconds / PROBE_EVERY) + 20)
        load_ids = await self._eligible_members(committee, inside=False, limit=20_000)
        self.writable = [city_path]
        base = (await self.figures(committee))["members_eligible"]  # as metrics counts it, before any probe
        subscription = await self.nc.subscribe(f"sotay.metrics.rollout.{committee}", cb=self._on_snapshot(committee))
        started = time.perf_counter()
        try:
            load = asyncio.create_task(self._load(load_ids, started))
            probed = await self._probe(probe_ids, base, started)
            await load
            rate = self.sent / (time.perf_counter() - started)
            deadline = time.perf_counter() + ANSWER_WITHIN_S
            while self.probes and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await subscription.unsubscribe()
        unanswered = len(self.probes)
        await self._change(probed, eligible=True)  # the registry as it was
        p50 = percentile_ms(self.latencies, 50) if self.latencies else None
        p99 = percentile_ms(self.latencies, 99) if self.latencies else None
        met = p99 is not None and p99 < TARGET_P99_MS and unanswered == 0 and rate >= 0.95 * self.rate
        return {
            "figures": {"load_events": self.sent, "load_events_per_s": round(rate), "load_offered_per_s": self.rate,
                        "probes": len(self.latencies) + unanswered, "probes_unanswered": unanswered,
                        "probe_committee": committee, "commit_to_snapshot_p50_ms": p50,
                        "commit_to_snapshot_p99_ms": p99},
            "p99_ms": p99, "met": met,
            "target": f"p99 from an event's commit to the first snapshot counting it < {TARGET_P99_MS} ms "
                      f"under a steady {self.rate:,} events/s",
        }

    # --- the load and the probes ------------------------------------------------------------------

    async def _load(self, ids: list[Any], started: float) -> None:
        """Members made ineligible and eligible again, two events each, a transaction every TICK,
        as many as keep the offered rate (open loop: a slow transaction is followed by a larger one)."""
        at = 0
        while (elapsed := time.perf_counter() - started) < self.seconds:
            due = (int(elapsed * self.rate) - self.sent) // 2
            if due > 0:
                chosen = [ids[(at + i) % len(ids)] for i in range(min(due, len(ids)))]
                at += len(chosen)
                await self._change(chosen, eligible=False, then_back=True)
                self.sent += 2 * len(chosen)
            await asyncio.sleep(TICK)

    async def _probe(self, ids: list[Any], base: int, started: float) -> list[Any]:
        probed = []
        next_at = started
        for member_id in ids:
            if time.perf_counter() - started >= self.seconds:
                break
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += PROBE_EVERY
            await self._change([member_id], eligible=False)
            probed.append(member_id)
            self.probes.append((time.perf_counter(), base - len(probed)))
            self._answer(time.perf_counter())  # a snapshot may have come before the commit returned
        return probed

    async def _change(self, ids: list[Any], *, eligible: bool, then_back: bool = False) -> None:
        """The members' eligibility changed by members' rules, written with their events."""
        async with self.ctx.engine.begin() as conn:
            rows = await registry.members_by_ids(conn, ids, lock=True)
            batch = RegistryBatch(self.ctx, ACTOR, writable=self.writable, units={}, taken=(set(), {}),
                                  today=self.today, reason=None, source="api")
            for member_id in ids:
                with batch.member(rows[member_id]):
                    status = batch.row["status"]
                    batch.change_status(status, eligible=eligible, ineligible_reason=None if eligible else REASON)
                    if then_back:
                        batch.change_status(status, eligible=not eligible,
                                            ineligible_reason=REASON if eligible else None)
            await batch.write(conn)

    def _on_snapshot(self, committee: str):
        async def on_snapshot(msg) -> None:
            data = json.loads(msg.data)["data"]
            if data["unit_code"] == committee:
                seen = data["members_eligible"]
                self.lowest = seen if self.lowest is None else min(self.lowest, seen)
                self._answer(time.perf_counter())
        return on_snapshot

    def _answer(self, now: float) -> None:
        while self.probes and self.lowest is not None and self.lowest <= self.probes[0][1]:
            self.latencies.append(now - self.probes.pop(0)[0])

    # --- the registry as read -------------------------------------------------------------------

    async def _probe_committee(self) -> tuple[str, str]:
        """The committee with the most members, and the city's path (the bench writes everywhere)."""
        committee = await self.db.fetchval(
            "SELECT u.committee FROM members.members m JOIN members.org_units u ON u.id = m.unit_id "
            "WHERE u.kind <> 'city' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        city = await self.db.fetchval(
            "SELECT path FROM members.org_units WHERE parent_id IS NULL ORDER BY path LIMIT 1")
        return committee, city

    async def _eligible_members(self, committee: str, *, inside: bool, limit: int) -> list[Any]:
        return [r["id"] for r in await self.db.fetch(
            "SELECT m.id FROM members.members m JOIN members.org_units u ON u.id = m.unit_id "
            f"WHERE (u.committee = $1) = $2 AND m.status = 'active' AND m.eligible ORDER BY m.id LIMIT {int(limit)}",
            committee, inside)]
