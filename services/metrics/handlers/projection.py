"""The live projections, a fetched batch at a time: the states the batch's
events concern are read in one query, the events applied to them in memory
in stream order (domain/rollout.py), the new states written back, and the counter
changes of the whole batch appended to `counter_deltas` in one statement.
The kit's consumer runs this in one transaction with the batch's inbox rows,
so a redelivered event is never applied twice; should the batch fail, it
applies the events again one at a time.

Events about one member arrive on two streams (members and identity) through
two consumers; transaction-scoped advisory locks on the batch's members
serialise them, so "has this member installed?" is decided on committed data.
Replicas sharing a consumer apply batches side by side: locks on the batch's
registrations serialise two events of one registration (tests/chaos).

`fold` (adapters/counters.py) moves the appended deltas into the subtree
counters; the snapshot publisher runs it each round.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.adapters import counters, locks
from services.metrics.adapters import projection as tables
from services.metrics.domain import counters as rules
from services.metrics.domain import rollout
from services.metrics.domain.counters import (
    CITY,
    DECISION_NAMES,
    MEMBER_NAMES,
    TOUCH,
    UNIT_NAMES,
    event_name,
)
from services.metrics.domain.rollout import Deltas, MemberState
from sotay.contracts.identity import AccountApproved
from sotay.contracts.members import OrgUnitCreated, OrgUnitUpdated, SubjectRequestEscalated, SubjectRequestSettled
from sotay.kit.events import sequence_of

ESCALATED, SETTLED = SubjectRequestEscalated.__name__, SubjectRequestSettled.__name__


async def add_counts(db: AsyncConnection, changes: dict[str, dict[str, int]]) -> None:
    """Counters moved outside the events (training sessions recorded here)."""
    deltas = Deltas()
    deltas.add(changes)
    await counters.append(db, deltas.rows())


# --- members and the org tree (SOTAY_MEMBERS) ----------------------------------------------------


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    await tables.add_units(db, [e["data"] for e in envelopes if event_name(e) == OrgUnitCreated.__name__])
    for e in envelopes:
        if event_name(e) == OrgUnitUpdated.__name__:
            await tables.update_unit(db, e["data"])
    # A new or renamed unit has figures of its own to publish, whatever its counters.
    await counters.append(db, [(e["data"]["code"], TOUCH, 0) for e in envelopes if event_name(e) in UNIT_NAMES])

    # Data-subject requests overdue at their unit (escalated) until settled: a count, by the unit.
    await counters.append(db, [(e["data"]["unit"], "requests_overdue", 1 if event_name(e) == ESCALATED else -1)
                               for e in envelopes if event_name(e) in (ESCALATED, SETTLED)])
    member_events = [e for e in envelopes if event_name(e) in MEMBER_NAMES]
    if not member_events:
        return
    ids = sorted({e["data"]["member_id"] for e in member_events})
    await locks.lock_members(db, ids)
    states = await tables.members(db, ids)
    # Whether a member has installed is ours to keep; only for one we have not
    # seen yet do their registrations (which may have come first) say so.
    installed = await tables.installed(db, [i for i in ids if i not in states])
    deltas, changed = Deltas(), {}
    for e in member_events:  # in stream order
        d, version = e["data"], sequence_of(e)
        old, held = states.get(d["member_id"], (None, -1))
        if version <= held:
            continue  # an older snapshot than the one we hold
        new = rollout.member_from_snapshot(d, old.installed if old else d["member_id"] in installed)
        deltas.member(old, new)
        states[d["member_id"]] = changed[d["member_id"]] = (new, version)
    await tables.write_members(db, changed)
    await counters.append(db, deltas.rows())


# --- registrations and accounts (SOTAY_IDENTITY) ---------------------------------------------------


async def apply_accounts_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    await locks.lock_members(db, [e["data"].get("member_id") for e in envelopes])
    reg_ids = sorted({e["data"]["registration_id"] for e in envelopes if "registration_id" in e["data"]})
    # A registration that matched nobody has no member to lock: two replicas applying its submission
    # and its rejection side by side would each read it as new and both count it. Its own lock
    # (taken after the members', as everywhere) makes the second read what the first wrote.
    await locks.lock(db, "registration", reg_ids)
    account_ids = sorted({e["data"]["account_id"] for e in envelopes if e["data"].get("account_id")})
    regs = await tables.registrations(db, reg_ids, account_ids)
    by_account = {reg["account_id"]: rid for rid, reg in regs.items() if reg["account_id"]}

    deltas, changed, members_to_check = Deltas(), set(), set()
    for e in envelopes:  # in stream order
        name, d = event_name(e), e["data"]
        rid = d.get("registration_id") or by_account.get(d.get("account_id"))
        if rid is None and name not in DECISION_NAMES:
            continue  # an account with no registration: a staff account
        reg = regs.get(rid) if rid else None
        old = reg["state"] if reg else None
        new = rollout.registration_after(name, d, old, CITY)
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
        await tables.write_registrations(db, regs, sorted(changed))
    if members_to_check:
        # Whether those members count as installed, now that their registrations moved.
        mids = sorted(members_to_check)
        members, installed = await tables.members(db, mids), await tables.installed(db, mids)
        flipped = {}
        for mid, (state, version) in members.items():
            now = mid in installed
            if now != state.installed:
                new = MemberState(state.unit, state.status, state.eligible, state.reason, now)
                deltas.member(state, new)
                flipped[mid] = (new, version)
        await tables.write_members(db, flipped)
    await counters.append(db, deltas.rows())


# --- reading and writing (SOTAY_CONTENT) --------------------------------------------------------------


async def apply_content_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    deltas, last_read = rules.content_changes(envelopes)
    rows: list[tuple[str, str, int]] = []
    if last_read:
        # A reader counts on the day of their last read, in the unit they read from:
        # a later day moves them from the one day to the other.
        accounts = sorted(last_read)
        await locks.lock(db, "reader", accounts)
        moved, rows = rules.readers_moved(last_read, await tables.readers(db, accounts))
        await tables.write_readers(db, moved, last_read)
    await counters.append(db, rows)
    await counters.append(db, deltas.rows())
