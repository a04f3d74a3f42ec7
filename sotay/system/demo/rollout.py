"""The demo's rollout: registrations and accounts for the demo registry, in
the proportions of the press report the project started from (the pilot of
9 committees: 80.16% of eligible members installed, 6.2% of them on
computers, 2.1% of them still waiting for approval).

It is a loader, not a use case: it writes registrations with their
registrants' consent to the privacy notice (the required purpose, and push
notifications for some), accounts, grants and their events
(RegistrationSubmitted, ConsentGiven, AccountApproved) in bulk, the way
members' demo loader writes members, so that `sotay up --demo` shows a
rollout under way in a minute rather than after ~90,000 approvals one by
one. Every demo account signs in with DEMO_PASSWORD."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text

from services.identity.adapters.passwords import HASHER
from services.identity.domain import CURRENT_NOTICE
from sotay.contracts.identity import AccountApproved, ConsentGiven, RegistrationSubmitted
from sotay.system.demo.registry import build_org_tree, generate_members
from sotay.contracts.fields import normalise_phone
from sotay.kit.events import make_message, uuid7
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext

DEMO_PASSWORD = "So tay dang vien 2023"
INSTALLED_OF_ELIGIBLE = 0.8016
WEB_SHARE = 5_503 / 88_279
PENDING_SHARE = 1_824 / 88_279
ACTIVE_STANDING = ("active", "probationary", "exempt")
PUSH_SHARE = 0.4  # registrants who also ticked push notifications
CHUNK = 5_000


async def load_demo_rollout(ctx: ServiceContext, *, members: int, seed: int = 2023,
                            wait_s: float = 900.0) -> dict[str, Any]:
    async with ctx.engine.connect() as db:
        if (await db.execute(text("SELECT EXISTS (SELECT 1 FROM registrations)"))).scalar_one():
            return {"loaded": False, "reason": "identity already has registrations"}
    rows = [r for r in generate_members(build_org_tree(seed), members, seed, today=date.today())
            if r["status"] in ACTIVE_STANDING and r["eligible"] == "true"]
    # Only members with a phone can sign up; they stand for all the eligible ones.
    with_phone = [r for r in rows if r["phone"]]
    share = min(1.0, INSTALLED_OF_ELIGIBLE * len(rows) / max(1, len(with_phone)))
    rng, ticks = random.Random(seed + 1), random.Random(seed + 2)
    chosen = [r for r in with_phone if rng.random() < share]
    await _until_replica_holds(ctx, members, wait_s)
    password_hash = await asyncio.to_thread(HASHER.hash, DEMO_PASSWORD)
    registered = approved = 0
    for start in range(0, len(chosen), CHUNK):
        part, now = chosen[start:start + CHUNK], datetime.now(UTC)
        async with ctx.engine.begin() as db:
            # The replica finds a member by their card's keyed hash (it holds nothing else of them).
            hashed = {ctx.pii_hash(r["party_card_no"]): r["party_card_no"] for r in part}
            found = {hashed[r.card_hash]: r for r in await db.execute(text(
                "SELECT card_hash, member_id, unit, unit_path, committee FROM registry_members "
                "WHERE card_hash = ANY(:c)"), {"c": list(hashed)})}
            regs, accounts, events, consents = [], [], [], []
            for r in part:
                entry = found.get(r["party_card_no"])
                if entry is None:
                    continue
                reg_id, platform = uuid7(), "web" if rng.random() < WEB_SHARE else "mobile"
                decided = rng.random() >= PENDING_SHARE
                regs.append((reg_id, r, entry, platform, "approved" if decided else "pending"))
                events.append(make_message(RegistrationSubmitted(
                    registration_id=str(reg_id), platform=platform, match_result="matched", match_reasons=[],
                    member_id=str(entry.member_id), unit=entry.unit),
                    aggregate_id=str(reg_id), committee=entry.committee, orgunit=entry.unit))
                purposes = [*CURRENT_NOTICE.required, *(["push"] if ticks.random() < PUSH_SHARE else [])]
                consents.append((uuid7(), reg_id, purposes, platform))
                events.append(make_message(ConsentGiven(
                    registration_id=str(reg_id), account_id=None, member_id=str(entry.member_id),
                    notice_version=CURRENT_NOTICE.version, purposes=purposes, method=platform, at=now),
                    aggregate_id=str(reg_id), committee=entry.committee, orgunit=entry.unit, at=now))
                if decided:
                    account_id = uuid7()
                    accounts.append((account_id, reg_id, r, entry, platform))
                    events.append(make_message(AccountApproved(
                        account_id=str(account_id), registration_id=str(reg_id), member_id=str(entry.member_id),
                        unit=entry.unit, platform=platform),
                        aggregate_id=str(account_id), committee=entry.committee, orgunit=entry.unit))
            await _insert(db, regs, accounts, password_hash)
            await _insert_consents(db, consents)
            await add_events(db, "identity", events)
        registered, approved = registered + len(regs), approved + len(accounts)
    return {"loaded": True, "registrations": registered, "approved": approved, "pending": registered - approved}


async def _until_replica_holds(ctx: ServiceContext, members: int, wait_s: float) -> None:
    """The registry replica fills from members' events: wait until it holds the demo."""
    deadline, last, still = time.monotonic() + wait_s, -1, 0
    while time.monotonic() < deadline:
        async with ctx.engine.connect() as db:
            held = (await db.execute(text("SELECT count(*) FROM registry_members"))).scalar_one()
        if held >= members:
            return
        still = still + 1 if held == last and held > 0 else 0
        if still >= 30:  # no change for 30 s: some rows were refused by the registry; go with what is there
            return
        last = held
        await asyncio.sleep(1.0)
    raise TimeoutError("the registry replica did not fill in time")


async def _insert_consents(db, consents) -> None:
    """The ledger's rows: one per purpose, the client said to be the demo."""
    rows = [(c[0], purpose, c[1], c[3]) for c in consents for purpose in c[2]]
    if not rows:
        return
    await db.execute(text(
        "INSERT INTO consents (id, purpose, registration_id, notice_version, action, method, client, address_hash) "
        "SELECT c.id, c.purpose, c.reg, :v, 'given', c.method, 'demo', 'demo' FROM unnest(CAST(:id AS uuid[]), "
        "CAST(:purpose AS text[]), CAST(:reg AS uuid[]), CAST(:method AS text[])) AS c (id, purpose, reg, method)"),
        {"v": CURRENT_NOTICE.version, "id": [r[0] for r in rows], "purpose": [r[1] for r in rows],
         "reg": [r[2] for r in rows], "method": [r[3] for r in rows]})


async def _insert(db, regs, accounts, password_hash: str) -> None:
    if not regs:
        return
    await db.execute(text(
        "INSERT INTO registrations (id, party_card_no, full_name, date_of_birth, phone, password_hash, platform, "
        "match_result, match_reasons, member_id, unit, unit_path, committee, status, decided_by, decided_at) "
        "SELECT r.id, r.card, r.name, r.born, r.phone, :h, r.platform, 'matched', CAST('[]' AS jsonb), r.member, "
        "r.unit, r.path, r.committee, r.status, CASE WHEN r.status = 'approved' THEN 'demo' END, "
        "CASE WHEN r.status = 'approved' THEN now() END FROM unnest(CAST(:id AS uuid[]), CAST(:card AS text[]), "
        "CAST(:name AS text[]), CAST(:born AS date[]), CAST(:phone AS text[]), CAST(:platform AS text[]), "
        "CAST(:member AS uuid[]), CAST(:unit AS text[]), CAST(:path AS text[]), CAST(:committee AS text[]), "
        "CAST(:status AS text[])) AS r (id, card, name, born, phone, platform, member, unit, path, committee, status)"),
        {"h": password_hash, "id": [g[0] for g in regs], "card": [g[1]["party_card_no"] for g in regs],
         "name": [g[1]["full_name"] for g in regs], "born": [date.fromisoformat(g[1]["date_of_birth"]) for g in regs],
         "phone": [normalise_phone(g[1]["phone"]) for g in regs], "platform": [g[3] for g in regs],
         "member": [g[2].member_id for g in regs], "unit": [g[2].unit for g in regs],
         "path": [g[2].unit_path for g in regs], "committee": [g[2].committee for g in regs],
         "status": [g[4] for g in regs]})
    if not accounts:
        return
    await db.execute(text(
        "INSERT INTO accounts (id, member_id, party_card_no, phone, password_hash, platform, unit, unit_path, "
        "committee, registration_id) SELECT a.id, a.member, a.card, a.phone, :h, a.platform, a.unit, a.path, "
        "a.committee, a.reg FROM unnest(CAST(:id AS uuid[]), CAST(:member AS uuid[]), CAST(:card AS text[]), "
        "CAST(:phone AS text[]), CAST(:platform AS text[]), CAST(:unit AS text[]), CAST(:path AS text[]), "
        "CAST(:committee AS text[]), CAST(:reg AS uuid[])) "
        "AS a (id, member, card, phone, platform, unit, path, committee, reg)"),
        {"h": password_hash, "id": [a[0] for a in accounts], "member": [a[3].member_id for a in accounts],
         "card": [a[2]["party_card_no"] for a in accounts],
         "phone": [normalise_phone(a[2]["phone"]) for a in accounts], "platform": [a[4] for a in accounts],
         "unit": [a[3].unit for a in accounts], "path": [a[3].unit_path for a in accounts],
         "committee": [a[3].committee for a in accounts], "reg": [a[1] for a in accounts]})
    await db.execute(text(
        "INSERT INTO grants (account_id, role, unit, granted_by) SELECT id, 'member', unit, 'demo' "
        "FROM unnest(CAST(:id AS uuid[]), CAST(:unit AS text[])) AS g (id, unit)"),
        {"id": [a[0] for a in accounts], "unit": [a[3].unit for a in accounts]})
