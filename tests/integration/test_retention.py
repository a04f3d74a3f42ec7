"""Retention on real NATS and PostgreSQL (docs/personal-data.md, "Retention"): a member who died
six years ago is minimised, in the registry and in identity's replica, and one who died last year
is not; a rejected registration past its window is deleted, its consent rows kept, and a recent
one stays; expired sessions go; the dry run changes nothing and a second run has nothing to do.
Ages are made by moving the rows' times into the past."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import services.identity
import services.members
from services.identity.handlers import retention as identity_retention
from services.members.adapters import registry
from services.members.handlers import retention as members_retention
from sotay.kit.leader import Periodic
from tests.support.system import (
    CONSENT, create_org_tree, eventually, identity_holds_registry, import_registry, make_settings, registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

PASSWORD = "Chi bo so 1 vung manh"
OLD, RECENT, ACTIVE = "0100000001", "0100000002", "0100000003"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), services.identity.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(card, f"Nguyễn Văn {'ABC'[int(card[-1]) - 1]}", "ba-dinh-g1-c1")
                                              for card in (OLD, RECENT, ACTIVE)], admin)
        await identity_holds_registry(system, 3)
        yield system


def members_engine(system):
    return system.runtimes["members"].context.engine


def identity_engine(system):
    return system.runtimes["identity"].context.engine


async def member_id(system, card: str):
    async with members_engine(system).connect() as db:
        return await registry.member_id_by_card(db, card)


async def died(system, card: str, years_ago: int):
    """The member's standing changed to deceased `years_ago` years ago (the history entry moved back,
    its append-only trigger lifted for that alone), with a correction request still holding a phone."""
    mid = await member_id(system, card)
    changed = await system.client.post(f"/api/members/v1/members/{mid}/status",
                                       json={"status": "deceased", "reason": "từ trần"},
                                       headers=system.auth("city_admin"))
    assert changed.status_code == 200, changed.text
    async with members_engine(system).begin() as db:
        await db.execute(text("ALTER TABLE member_history DISABLE TRIGGER member_history_append_only"))
        await db.execute(text(
            "UPDATE member_history SET at = now() - make_interval(years => :y) "
            "WHERE member_id = :m AND action = 'status_changed'"), {"y": years_ago, "m": mid})
        await db.execute(text("ALTER TABLE member_history ENABLE TRIGGER member_history_append_only"))
        await registry.insert_correction(db, {"id": uuid.uuid4(), "member_id": mid, "requested_by": str(mid),
                                              "changes": {"phone": "0912000111"}, "note": None})
    return mid


async def rejected_registration(system, card: str, days_ago: int) -> str:
    submitted = await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": card, "full_name": "Trần Thị Bình", "date_of_birth": "1980-02-03", "phone": "0988000111",
        "password": PASSWORD, "platform": "web", "consent": CONSENT})
    assert submitted.status_code == 202, submitted.text
    reg_id = submitted.json()["id"]
    rejected = await system.client.post(f"/api/identity/v1/registrations/{reg_id}/reject",
                                        json={"reason": "Không có trong sổ đảng viên"},
                                        headers=system.auth("city_admin"))
    assert rejected.status_code == 200, rejected.text
    async with identity_engine(system).begin() as db:
        await db.execute(text("UPDATE registrations SET decided_at = now() - make_interval(days => :d) WHERE id = :id"),
                         {"d": days_ago, "id": reg_id})
    return reg_id


async def member_state(system, mid) -> dict:
    async with members_engine(system).connect() as db:
        row = (await db.execute(text(
            "SELECT sealed IS NOT NULL AS sealed, citizen_id_hash, phone_hash, version FROM members WHERE id = :m"),
            {"m": mid})).mappings().one()
        requests = (await db.execute(text(
            "SELECT count(*) FROM correction_requests WHERE member_id = :m AND sealed IS NOT NULL"),
            {"m": mid})).scalar_one()
        actions = (await db.execute(text(
            "SELECT action FROM member_history WHERE member_id = :m ORDER BY id"), {"m": mid})).scalars().all()
    return {**row, "sealed_requests": requests, "actions": actions}


async def replica_row(system, mid) -> dict:
    async with identity_engine(system).connect() as db:
        return dict((await db.execute(text(
            "SELECT dob_hash, phone_hash, phone_tail FROM registry_members WHERE member_id = :m"),
            {"m": mid})).mappings().one())


async def registration_counts(system, reg_id: str) -> tuple[int, int]:
    async with identity_engine(system).connect() as db:
        regs = (await db.execute(text("SELECT count(*) FROM registrations WHERE id = :id"), {"id": reg_id})).scalar()
        consents = (await db.execute(text("SELECT count(*) FROM consents WHERE registration_id = :id"),
                                     {"id": reg_id})).scalar()
    return regs, consents


async def run(system, *, dry_run: bool = False) -> tuple[dict, dict]:
    settings = system.runtimes["members"].context.settings
    members = await members_retention.minimise(system.runtimes["members"].context,
                                               years=settings.retention_left_years, batch=1, dry_run=dry_run)
    identity = await identity_retention.apply(identity_engine(system), rejected_days=settings.retention_rejected_days,
                                              expired_days=settings.retention_expired_days, batch=1, dry_run=dry_run)
    return members, identity


async def test_retention_minimises_members_who_left_long_ago_and_deletes_old_rejections(system):
    old, recent = await died(system, OLD, 6), await died(system, RECENT, 1)
    active = await member_id(system, ACTIVE)
    old_reg = await rejected_registration(system, "0199000001", days_ago=100)
    new_reg = await rejected_registration(system, "0199000002", days_ago=10)
    assert (await registration_counts(system, old_reg))[1] > 0
    before = {mid: await member_state(system, mid) for mid in (old, recent, active)}
    assert all(s["sealed"] and s["phone_hash"] for s in before.values())

    # The dry run counts, and changes nothing.
    members, identity = await run(system, dry_run=True)
    assert members == {"members": 1, "correction_requests": 1}
    assert identity["registrations"] == 1
    assert {mid: await member_state(system, mid) for mid in before} == before
    assert (await registration_counts(system, old_reg))[0] == 1

    members, identity = await run(system)
    assert members == {"members": 1, "correction_requests": 1} and identity["registrations"] == 1

    # Minimised: no sealed values, no hashes, its proposed phone gone; the fact recorded.
    gone = await member_state(system, old)
    assert (gone["sealed"], gone["citizen_id_hash"], gone["phone_hash"], gone["sealed_requests"]) == \
           (False, None, None, 0)
    assert gone["actions"][-1] == "minimised" and gone["version"] == before[old]["version"] + 1
    record = (await system.client.get(f"/api/members/v1/members/{old}", headers=system.auth("city_admin"))).json()
    assert record["party_card_no"] == OLD and record["status"] == "deceased"
    assert (record["date_of_birth"], record["phone"], record["citizen_id"]) == (None, None, None)
    # The ones who died last year, and the active one, keep everything.
    assert await member_state(system, recent) == before[recent]
    assert await member_state(system, active) == before[active]

    # Identity's replica drops them too (members' MemberUpdated): nothing left to match a person on.
    async def replica_dropped():
        return await replica_row(system, old) == {"dob_hash": None, "phone_hash": None, "phone_tail": None}
    await eventually(replica_dropped, timeout=15)
    assert (await replica_row(system, recent))["dob_hash"] is not None

    # The rejection past its window is gone, its consent rows kept; the recent one stays.
    regs, consents = await registration_counts(system, old_reg)
    assert regs == 0 and consents > 0
    assert (await registration_counts(system, new_reg))[0] == 1

    # Idempotent: nothing left to do.
    assert await run(system) == ({"members": 0, "correction_requests": 0},
                                 {"registrations": 0, "refresh_tokens": 0, "password_reset_codes": 0,
                                  "known_addresses": 0})


async def test_expired_sessions_and_codes_go_after_their_grace(system):
    now = datetime.now(UTC)
    account = uuid.uuid4()
    async with identity_engine(system).begin() as db:
        await db.execute(text(
            "INSERT INTO accounts (id, member_id, party_card_no, phone, password_hash, platform, unit, unit_path, "
            "committee) VALUES (:id, :id, '0100009999', 'x', 'x', 'web', 'ba-dinh-g1-c1', '/city/', 'ba-dinh')"),
            {"id": account})
        for token, expires in (("long-gone", now - timedelta(days=30)), ("just-expired", now - timedelta(days=1)),
                               ("live", now + timedelta(days=5))):
            await db.execute(text(
                "INSERT INTO refresh_tokens (token_hash, family_id, account_id, expires_at) VALUES (:t, :f, :a, :e)"),
                {"t": token, "f": uuid.uuid4(), "a": account, "e": expires})
        await db.execute(text(
            "INSERT INTO password_reset_codes (id, account_id, code_hash, issued_by, expires_at, voided_at) "
            "VALUES (:id, :a, 'x', 'x', :e, :e)"), {"id": uuid.uuid4(), "a": account, "e": now - timedelta(days=30)})
    _, identity = await run(system)
    assert (identity["refresh_tokens"], identity["password_reset_codes"]) == (1, 1)
    async with identity_engine(system).connect() as db:
        left = (await db.execute(text("SELECT token_hash FROM refresh_tokens WHERE account_id = :a ORDER BY 1"),
                                 {"a": account})).scalars().all()
    assert left == ["just-expired", "live"]


async def test_the_job_runs_on_one_replica_at_a_time(system):
    """Two replicas' jobs: one runs, the other waits for the lock."""
    engine = members_engine(system)
    runs: list[str] = []

    async def job(name):
        runs.append(name)

    first = Periodic("retention:test", engine.connect, 3600, lambda: job("first"), wait_s=0.2)
    second = Periodic("retention:test", engine.connect, 3600, lambda: job("second"), wait_s=0.2)
    first.start()
    await eventually(lambda: runs == ["first"])
    second.start()
    try:
        await eventually(lambda: second.leader.is_leader is False and first.leader.is_leader)
        assert runs == ["first"]
        await first.stop()
        await eventually(lambda: runs == ["first", "second"], timeout=10)
    finally:
        await first.stop()
        await second.stop()
