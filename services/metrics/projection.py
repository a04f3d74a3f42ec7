"""The live projections, a fetched batch at a time: the states the batch's
events concern are read in one query, the events applied to them in memory
in stream order (domain.py), the new states written back, and the counter
changes of the whole batch appended to `counter_deltas` in one statement.
The kit's consumer runs this in one transaction with the batch's inbox rows,
so a redelivered event is never applied twice; should the batch fail, it
applies the events again one at a time.

Events about one member arrive on two streams (members and identity) through
two consumers; transaction-scoped advisory locks on the batch's members
serialise them, so "has this member installed?" is decided on committed data.
Replicas sharing a consumer apply batches side by side: locks on the batch's
registrations serialise two events of one registration (tests/chaos).

`fold` moves the appended deltas into the subtree counters (see
migrations/003_counters.sql); the snapshot publisher runs it each round.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics import domain
from services.metrics.domain import Deltas, MemberState, RegistrationState
from sotay.contracts.content import ArticlePublished, ArticleRead, FeedbackPosted
from sotay.contracts.identity import AccountApproved, AccountRejected, RegistrationSubmitted
from sotay.contracts.members import MEMBER_SNAPSHOTS, UNIT_EVENTS, OrgUnitCreated, OrgUnitUpdated
from sotay.kit.db import org_path, path_codes

CITY = "city"
TOUCH = "touch"  # a delta of 0 that only says: this unit's own figures changed


UNIT_NAMES = frozenset(t.__name__ for t in UNIT_EVENTS)
MEMBER_NAMES = frozenset(t.__name__ for t in MEMBER_SNAPSHOTS)
# The events of a registration's life that carry its id (the others only an account's).
DECISION_NAMES = frozenset(t.__name__ for t in (RegistrationSubmitted, AccountApproved, AccountRejected))


def _event(envelope: dict[str, Any]) -> str:
    return envelope["type"].split(".")[2]


def _lock_key(kind: str, value: Any) -> int:
    return int.from_bytes(hashlib.sha256(f"metrics-{kind}:{value}".encode()).digest()[:8], "big", signed=True)


async def _lock(db: AsyncConnection, kind: str, values: Iterable[Any]) -> None:
    keys = sorted({_lock_key(kind, v) for v in values if v is not None})
    if keys:  # in one order everywhere, so two consumers never wait on each other in a circle
        await db.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:k AS bigint[])) AS k ORDER BY k"),
                         {"k": keys})


async def _lock_members(db: AsyncConnection, member_ids: Iterable[Any]) -> None:
    await _lock(db, "member", member_ids)


async def append(db: AsyncConnection, rows: list[tuple[str, str, int]]) -> None:
    """Append (unit, metric, change) rows to counter_deltas."""
    if rows:
        await db.execute(text(
            "INSERT INTO counter_deltas (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), "
            "CAST(:m AS text[]), CAST(:n AS integer[]))"),
            {"u": [r[0] for r in rows], "m": [r[1] for r in rows], "n": [r[2] for r in rows]})


async def write_deltas(db: AsyncConnection, deltas: Deltas) -> None:
    await append(db, deltas.rows())


async def add_counts(db: AsyncConnection, changes: dict[str, dict[str, int]]) -> None:
    """Counters moved outside the events (training sessions recorded here)."""
    deltas = Deltas()
    deltas.add(changes)
    await write_deltas(db, deltas)


# --- folding the deltas into the subtree counters ------------------------------------------------------


def _above(path: str | None) -> list[str]:
    """The unit of `path` and every unit above it; the city alone for a unit the tree does not know."""
    return path_codes(path) if path else [CITY]


def oldest_reader_day(today: date) -> str:
    """The metric of the oldest day whose readers are still kept (readers_7d
    looks 6 days back; a day more is kept)."""
    return f"readers:{date.fromordinal(today.toordinal() - 7).isoformat()}"


@dataclass
class Folded:
    """What a fold moved: the new value of every counter that changed, and the
    units whose own figures changed without their counters (new, renamed)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    @property
    def units(self) -> set[str]:
        return {unit for unit, _ in self.counts} | self.touched


async def fold(db: AsyncConnection, today: date, held: dict[str, dict[str, int]] | None = None) -> Folded:
    """Move every appended delta into `counters`. One folder at a time (the
    transaction-scoped lock makes a second one wait). `held` is the counters as
    the caller knows them to be (the publisher keeps them); without it, the
    counters a fold changes are read first. Reader counts of days before the
    kept window are dropped, as `prune_readers` drops them."""
    await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("fold", "counters")})
    oldest = oldest_reader_day(today)
    moved = await db.execute(text(
        "WITH moved AS (DELETE FROM counter_deltas RETURNING unit, metric, n) "
        "SELECT m.unit, m.metric, sum(m.n)::integer AS n, u.path FROM moved m LEFT JOIN units u ON u.code = m.unit "
        "GROUP BY m.unit, m.metric, u.path"))
    totals: Counter = Counter()
    orphans: Counter = Counter()
    out = Folded()
    for unit, metric, n, path in moved:
        if metric == TOUCH:
            if path:
                out.touched.add(unit)
            continue
        if not n or (metric.startswith("readers:") and metric < oldest):
            continue
        if path is None:
            orphans[(unit, metric)] += n
        for target in _above(path):
            totals[(target, metric)] += n
    # Orphans whose unit is known now: their counts go to the unit and the units
    # above it (the city has had them since they were folded).
    for metric, n, path in await db.execute(text(
            "DELETE FROM orphan_counters o USING units u WHERE o.unit = u.code RETURNING o.metric, o.n, u.path")):
        for target in path_codes(path):
            if target != CITY:
                totals[(target, metric)] += n
    if orphans:
        keys = sorted(orphans)
        await db.execute(text(
            "INSERT INTO orphan_counters (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), "
            "CAST(:m AS text[]), CAST(:n AS integer[])) ON CONFLICT (unit, metric) "
            "DO UPDATE SET n = orphan_counters.n + EXCLUDED.n"),
            {"u": [k[0] for k in keys], "m": [k[1] for k in keys], "n": [orphans[k] for k in keys]})
    keys = sorted(k for k, n in totals.items() if n)
    if not keys:
        return out
    params = {"u": [k[0] for k in keys], "m": [k[1] for k in keys]}
    if held is None:
        held = {}
        for unit, metric, n in await db.execute(text(
                "SELECT c.unit, c.metric, c.n FROM counters c JOIN unnest(CAST(:u AS text[]), CAST(:m AS text[])) "
                "AS k (unit, metric) ON c.unit = k.unit AND c.metric = k.metric"), params):
            held.setdefault(unit, {})[metric] = n
    out.counts = {(u, m): held.get(u, {}).get(m, 0) + totals[(u, m)] for u, m in keys}
    # The new values, not the changes: the CHECK (n >= 0) then judges the sum, and
    # a counter that would go below zero fails the fold and nothing moves.
    await db.execute(text(
        "INSERT INTO counters (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), CAST(:m AS text[]), "
        "CAST(:n AS integer[])) ON CONFLICT (unit, metric) DO UPDATE SET n = EXCLUDED.n"),
        params | {"n": [out.counts[k] for k in keys]})
    return out


async def prune_readers(db: AsyncConnection, today: date) -> None:
    """Drop the reader counts of days no figure looks at any more (once a day)."""
    await db.execute(text("DELETE FROM counters WHERE metric LIKE 'readers:%' AND metric < :oldest"),
                     {"oldest": oldest_reader_day(today)})
    await db.execute(text("DELETE FROM orphan_counters WHERE metric LIKE 'readers:%' AND metric < :oldest"),
                     {"oldest": oldest_reader_day(today)})


# --- members and the org tree (SOTAY_MEMBERS) ----------------------------------------------------


async def _members(db: AsyncConnection, ids: list[Any]) -> dict[str, tuple[MemberState, int]]:
    rows = await db.execute(text("SELECT member_id::text, unit, status, eligible, reason, installed, version "
                                 "FROM members WHERE member_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
    return {m: (MemberState(unit, status, eligible, reason, installed), version)
            for m, unit, status, eligible, reason, installed, version in rows}


async def _installed(db: AsyncConnection, ids: list[Any]) -> set[str]:
    rows = await db.execute(text(
        "SELECT DISTINCT member_id FROM registrations WHERE member_id = ANY(CAST(:ids AS uuid[])) "
        "AND status IN ('pending', 'approved')"), {"ids": ids})
    return {str(r.member_id) for r in rows}


async def _write_members(db: AsyncConnection, changed: dict[str, tuple[MemberState, int]]) -> None:
    if not changed:
        return
    ids = list(changed)
    states = [changed[i][0] for i in ids]
    await db.execute(text(
        "INSERT INTO members (member_id, unit, status, eligible, reason, installed, version) "
        "SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:unit AS text[]), CAST(:status AS text[]), "
        "CAST(:eligible AS boolean[]), CAST(:reason AS text[]), CAST(:installed AS boolean[]), "
        "CAST(:version AS integer[])) ON CONFLICT (member_id) DO UPDATE SET unit = EXCLUDED.unit, "
        "status = EXCLUDED.status, eligible = EXCLUDED.eligible, reason = EXCLUDED.reason, "
        "installed = EXCLUDED.installed, version = EXCLUDED.version"),
        {"id": ids, "unit": [s.unit for s in states], "status": [s.status for s in states],
         "eligible": [s.eligible for s in states], "reason": [s.reason for s in states],
         "installed": [s.installed for s in states], "version": [changed[i][1] for i in ids]})


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    created = [e["data"] for e in envelopes if _event(e) == OrgUnitCreated.__name__]
    if created:
        await db.execute(text(
            "INSERT INTO units (code, unit_id, name, kind, path, committee, wave) SELECT * FROM unnest("
            "CAST(:code AS text[]), CAST(:id AS text[]), CAST(:name AS text[]), CAST(:kind AS text[]), "
            "CAST(:path AS text[]), CAST(:committee AS text[]), CAST(:wave AS integer[])) ON CONFLICT (code) DO NOTHING"),
            {"code": [d["code"] for d in created], "id": [d["unit_id"] for d in created],
             "name": [d["name"] for d in created], "kind": [d["kind"] for d in created],
             "path": [org_path(d["path"]) for d in created], "committee": [d["committee"] for d in created],
             "wave": [d.get("wave") for d in created]})
    for e in envelopes:
        if _event(e) == OrgUnitUpdated.__name__:
            d = e["data"]
            await db.execute(text("UPDATE units SET name = :n, wave = :w, closed = :x WHERE code = :c"),
                             {"n": d["name"], "w": d.get("wave"), "x": d["closed"], "c": d["code"]})
    # A new or renamed unit has figures of its own to publish, whatever its counters.
    await append(db, [(e["data"]["code"], TOUCH, 0) for e in envelopes if _event(e) in UNIT_NAMES])

    member_events = [e for e in envelopes if _event(e) in MEMBER_NAMES]
    if not member_events:
        return
    ids = sorted({e["data"]["member_id"] for e in member_events})
    await _lock_members(db, ids)
    states = await _members(db, ids)
    # Whether a member has installed is ours to keep; only for one we have not
    # seen yet do their registrations (which may have come first) say so.
    installed = await _installed(db, [i for i in ids if i not in states])
    deltas, changed = Deltas(), {}
    for e in member_events:  # in stream order
        d, version = e["data"], e.get("sequence") or 0
        old, held = states.get(d["member_id"], (None, -1))
        if version <= held:
            continue  # an older snapshot than the one we hold
        new = domain.member_from_snapshot(d, old.installed if old else d["member_id"] in installed)
        deltas.member(old, new)
        states[d["member_id"]] = changed[d["member_id"]] = (new, version)
    await _write_members(db, changed)
    await write_deltas(db, deltas)


# --- registrations and accounts (SOTAY_IDENTITY) ---------------------------------------------------


async def apply_accounts_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    await _lock_members(db, [e["data"].get("member_id") for e in envelopes])
    reg_ids = sorted({e["data"]["registration_id"] for e in envelopes if "registration_id" in e["data"]})
    # A registration that matched nobody has no member to lock: two replicas applying its submission
    # and its rejection side by side would each read it as new and both count it. Its own lock
    # (taken after the members', as everywhere) makes the second read what the first wrote.
    await _lock(db, "registration", reg_ids)
    account_ids = sorted({e["data"]["account_id"] for e in envelopes if e["data"].get("account_id")})
    rows = await db.execute(text(
        "SELECT registration_id, account_id, member_id, unit, platform, status, activated FROM registrations "
        "WHERE registration_id = ANY(CAST(:r AS uuid[])) OR account_id = ANY(CAST(:a AS uuid[]))"),
        {"r": reg_ids, "a": account_ids})
    regs: dict[str, dict[str, Any]] = {}
    for r in rows:
        regs[str(r.registration_id)] = {"account_id": str(r.account_id) if r.account_id else None,
                                        "member_id": str(r.member_id) if r.member_id else None,
                                        "state": RegistrationState(r.unit, r.platform, r.status, r.activated)}
    by_account = {reg["account_id"]: rid for rid, reg in regs.items() if reg["account_id"]}

    deltas, changed, members_to_check = Deltas(), set(), set()
    for e in envelopes:  # in stream order
        name, d = _event(e), e["data"]
        rid = d.get("registration_id") or by_account.get(d.get("account_id"))
        if rid is None and name not in DECISION_NAMES:
            continue  # an account with no registration: a staff account
        reg = regs.get(rid) if rid else None
        old = reg["state"] if reg else None
        new = domain.registration_after(name, d, old, CITY)
        if new is None:
            continue
        if reg is None:
            reg = regs[rid] = {"account_id": None, "member_id": d.get("member_id"), "state": None}
        if d.get("account_id") and name == AccountApproved.__name__:
            reg["account_id"] = d["account_id"]
            by_account[d["account_id"]] = rid
        reg["member_id"] = reg["member_id"] or d.get("member_id")
        reg["state"] = new
        deltas.registration(old, new)
        changed.add(rid)
        if reg["member_id"]:
            members_to_check.add(reg["member_id"])

    if changed:
        ids = sorted(changed)
        states = [regs[i]["state"] for i in ids]
        await db.execute(text(
            "INSERT INTO registrations (registration_id, account_id, member_id, unit, platform, status, activated) "
            "SELECT * FROM unnest(CAST(:r AS uuid[]), CAST(:a AS uuid[]), CAST(:m AS uuid[]), CAST(:u AS text[]), "
            "CAST(:p AS text[]), CAST(:s AS text[]), CAST(:act AS boolean[])) ON CONFLICT (registration_id) DO UPDATE "
            "SET account_id = coalesce(EXCLUDED.account_id, registrations.account_id), "
            "member_id = coalesce(EXCLUDED.member_id, registrations.member_id), unit = EXCLUDED.unit, "
            "platform = EXCLUDED.platform, status = EXCLUDED.status, activated = EXCLUDED.activated"),
            {"r": ids, "a": [regs[i]["account_id"] for i in ids], "m": [regs[i]["member_id"] for i in ids],
             "u": [s.unit for s in states], "p": [s.platform for s in states], "s": [s.status for s in states],
             "act": [s.activated for s in states]})
    if members_to_check:
        # Whether those members count as installed, now that their registrations moved.
        mids = sorted(members_to_check)
        members, installed = await _members(db, mids), await _installed(db, mids)
        flipped = {}
        for mid, (state, version) in members.items():
            now = mid in installed
            if now != state.installed:
                new = MemberState(state.unit, state.status, state.eligible, state.reason, now)
                deltas.member(state, new)
                flipped[mid] = (new, version)
        await _write_members(db, flipped)
    await write_deltas(db, deltas)


# --- reading and writing (SOTAY_CONTENT) --------------------------------------------------------------


async def apply_content_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    deltas = Deltas()
    last_read: dict[str, tuple[date, str]] = {}
    for e in envelopes:
        name, d = _event(e), e["data"]
        if name == ArticleRead.__name__ and d.get("unit"):  # a staff reader has no unit of their own
            day = date.fromisoformat(d["day"])
            if d["account_id"] not in last_read or last_read[d["account_id"]][0] < day:
                last_read[d["account_id"]] = (day, d["unit"])
        elif name == ArticlePublished.__name__:
            deltas.add({d["author_unit"]: {"articles_published": 1}})
        elif name == FeedbackPosted.__name__ and d.get("unit"):
            deltas.add({d["unit"]: {"feedback_posted": 1}})
    rows: list[tuple[str, str, int]] = []
    if last_read:
        # A reader counts on the day of their last read, in the unit they read from:
        # a later day moves them from the one day to the other.
        accounts = sorted(last_read)
        await _lock(db, "reader", accounts)
        held = {r.account_id: (r.last_day, r.unit) for r in await db.execute(text(
            "SELECT account_id, unit, last_day FROM readers WHERE account_id = ANY(:a)"), {"a": accounts})}
        moved = [a for a in accounts if a not in held or held[a][0] < last_read[a][0]]
        for a in moved:
            if a in held:
                rows.append((held[a][1], f"readers:{held[a][0].isoformat()}", -1))
            rows.append((last_read[a][1], f"readers:{last_read[a][0].isoformat()}", 1))
        if moved:
            await db.execute(text(
                "INSERT INTO readers (account_id, unit, last_day) SELECT * FROM unnest(CAST(:a AS text[]), "
                "CAST(:u AS text[]), CAST(:d AS date[])) ON CONFLICT (account_id) DO UPDATE "
                "SET unit = EXCLUDED.unit, last_day = EXCLUDED.last_day"),
                {"a": moved, "u": [last_read[a][1] for a in moved], "d": [last_read[a][0] for a in moved]})
    await append(db, rows)
    await write_deltas(db, deltas)
