"""Escalation (issue 20), on real NATS and PostgreSQL: a registration waiting at its cell past the
approval term goes up to the unit above, once: RegistrationEscalated on that unit, the registration
marked, and the approvers see it first; a recent one, or one the registry does not place, stays."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

import services.identity
import services.members
import services.metrics
from services.identity.handlers import escalation
from tests.support.system import (
    CONSENT, create_org_tree, eventually, identity_holds_registry, import_registry, make_settings, registry_row, running_system,
)

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
OLD, NEW, NOBODY = "0100000301", "0100000302", "0999999999"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with running_system([services.members.definition(), services.identity.definition(),
                               services.metrics.definition()], settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(OLD, "Nguyễn Văn Lâu", "ba-dinh-g1-c1"),
                                              registry_row(NEW, "Trần Văn Mới", "ba-dinh-g1-c1")], admin)
        await identity_holds_registry(system, 2)
        yield system


async def register(system, card: str, name: str, days_ago: int) -> str:
    answer = await system.client.post(f"{API}/registrations", json={
        "party_card_no": card, "full_name": name, "date_of_birth": "1970-01-01", "phone": f"09{card[-8:]}",
        "password": "Chi bo so 1 vung manh", "platform": "mobile", "consent": CONSENT})
    assert answer.status_code == 202, answer.text
    reg_id = answer.json()["id"]
    async with system.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE registrations SET submitted_at = now() - make_interval(days => :d) WHERE id = :i"),
                         {"d": days_ago, "i": reg_id})
    return reg_id


async def test_a_registration_waiting_past_the_term_goes_up_once_and_comes_first(system):
    ctx = system.runtimes["identity"].context
    old = await register(system, OLD, "Nguyễn Văn Lâu", days_ago=9)
    recent = await register(system, NEW, "Trần Văn Mới", days_ago=2)
    stray = await register(system, NOBODY, "Người Lạ", days_ago=30)  # not in the registry: the city's queue already
    assert await escalation.escalate(ctx, days=7) == 1
    assert await escalation.escalate(ctx, days=7) == 0  # once

    async with ctx.engine.connect() as db:
        rows = {str(r.id): (r.escalated_to, r.escalated_at is not None) for r in await db.execute(text(
            "SELECT id, escalated_to, escalated_at FROM registrations WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [old, recent, stray]})}
        events = [(orjson.loads(b), s) for b, s in await db.execute(text(
            "SELECT body, subject FROM outbox WHERE subject LIKE 'sotay.identity.registration_escalated.%'"))]
    assert rows == {old: ("ba-dinh-g1", True), recent: (None, False), stray: (None, False)}
    assert len(events) == 1
    event, subject = events[0]
    assert subject == "sotay.identity.registration_escalated.ba-dinh" and event["orgunit"] == "ba-dinh-g1"
    assert event["data"]["registration_id"] == old and event["data"]["unit"] == "ba-dinh-g1-c1"
    assert event["data"]["escalated_to"] == "ba-dinh-g1" and event["data"]["waited_days"] == 9
    assert "Nguyễn Văn Lâu" not in orjson.dumps(event).decode() and OLD not in orjson.dumps(event).decode()

    # The approvers above see it first; it is still the cell's to decide too.
    above = system.auth("unit_admin", "ba-dinh-g1")
    first = (await system.client.get(f"{API}/registrations", params={"status": "pending", "escalated": "true"},
                                     headers=above)).json()["items"]
    assert [r["id"] for r in first] == [old] and first[0]["escalated_to"] == "ba-dinh-g1"
    rest = (await system.client.get(f"{API}/registrations", params={"status": "pending", "escalated": "false"},
                                    headers=above)).json()["items"]
    assert old not in [r["id"] for r in rest] and recent in [r["id"] for r in rest]
    cell = (await system.client.get(f"{API}/registrations", params={"status": "pending"},
                                    headers=system.auth("cell_secretary", "ba-dinh-g1-c1"))).json()["items"]
    assert old in [r["id"] for r in cell]


async def test_the_dashboard_counts_those_waiting_past_the_term_until_decided(system):
    """Metrics follows RegistrationEscalated: `accounts_overdue` in the unit's subtree while pending."""
    async def overdue(unit: str) -> int:
        return (await system.client.get("/api/metrics/v1/rollout", params={"unit": unit},
                                        headers=system.auth("city_admin"))).json()["accounts_overdue"]
    async def counted(n: int):
        return all([await overdue(u) == n for u in ("ba-dinh-g1-c1", "ba-dinh", "city")])
    await eventually(lambda: counted(1), timeout=15)
    assert await overdue("ba-dinh-g1-c2") == 0
    async with system.runtimes["identity"].context.engine.connect() as db:
        old = (await db.execute(text("SELECT id FROM registrations WHERE escalated_at IS NOT NULL"))).scalar_one()
    approved = await system.client.post(f"{API}/registrations/{old}/approve",
                                        headers=system.auth("unit_admin", "ba-dinh-g1"))
    assert approved.status_code == 200, approved.text
    await eventually(lambda: counted(0), timeout=15)


async def test_a_data_request_overdue_at_its_unit_counts_on_the_dashboard_until_settled(system):
    """A member's request past its deadline escalates (members' job): metrics counts it as
    `requests_overdue` up the tree until the unit settles it (SubjectRequestSettled)."""
    from datetime import timedelta

    from services.members.handlers import subject_requests
    from sotay.kit.clock import hanoi_day

    member = system.auth("member", "ba-dinh-g1-c1", card=OLD, subject="account-lau")
    asked = await system.client.post("/api/members/v1/me/requests", headers=member,
                                     json={"kind": "other", "asked": "Xin sao hồ sơ của tôi"})
    assert asked.status_code == 201, asked.text
    today = hanoi_day()
    async with system.runtimes["members"].context.engine.begin() as db:
        await db.execute(text("UPDATE subject_requests SET acknowledge_by = :a, due_by = :d WHERE id = :i"),
                         {"a": today - timedelta(days=14), "d": today - timedelta(days=2), "i": asked.json()["id"]})
    assert await subject_requests.escalate(system.runtimes["members"].context) == 1

    async def overdue(unit: str) -> int:
        return (await system.client.get("/api/metrics/v1/rollout", params={"unit": unit},
                                        headers=system.auth("city_admin"))).json()["requests_overdue"]
    async def counted(n: int):
        return all([await overdue(u) == n for u in ("ba-dinh-g1-c1", "ba-dinh-g1", "city")])
    await eventually(lambda: counted(1), timeout=15)
    settled = await system.client.post(f"/api/members/v1/subject-requests/{asked.json()['id']}/complete",
                                       headers=system.auth("unit_admin", "ba-dinh-g1"),
                                       json={"outcome": "Đã gửi bản sao hồ sơ cho đồng chí."})
    assert settled.status_code == 200, settled.text
    await eventually(lambda: counted(0), timeout=15)
