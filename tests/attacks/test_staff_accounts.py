"""Roles and staff accounts (issue 16): a unit admin grants roles only to accounts in their
subtree, never to themselves, and only roles they hold there or above; taking a role away
and disabling a staff account end the sessions in every service within seconds; both are
audited, and audit rows cannot be changed."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from tests.attacks.registry_world import registry_world
from tests.support.system import eventually, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def world(data_dir, nats_url, database_url):
    async with registry_world(make_settings(data_dir), nats_url, database_url, members_per_committee=12) as world:
        yield world


async def signed_in(world, body: dict) -> dict[str, str]:
    response = await world.sign_in(body["party_card_no"])
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def grant(world, headers, account_id: str, role: str, unit: str, *, revoke: bool = False):
    path = f"/api/identity/v1/accounts/{account_id}/grants" + ("/revoke" if revoke else "")
    return await world.http.post(path, json={"role": role, "unit": unit}, headers=headers)


@pytest.fixture(scope="module")
async def admin(world):
    """A member of ba-dinh whom the city made ba-dinh's unit admin: a real account, signed in."""
    body = await world.approved(0, 1)
    account = await world.account_id(body["party_card_no"])
    assert (await grant(world, world.auth("city_admin"), account, "unit_admin", "ba-dinh")).status_code == 201
    return {"account": account, "headers": await signed_in(world, body)}


async def test_a_unit_admin_grants_only_inside_their_subtree_never_to_themselves_and_never_above(world, admin):
    ba_dinh_member = await world.approved(0, 2)
    tay_ho_member = await world.approved(1, 2)
    ba_dinh_account = await world.account_id(ba_dinh_member["party_card_no"])
    tay_ho_account = await world.account_id(tay_ho_member["party_card_no"])
    headers = admin["headers"]
    # Today each of these is granted (201).
    assert (await grant(world, headers, admin["account"], "chief_editor", "ba-dinh")).status_code == 403
    assert (await grant(world, headers, tay_ho_account, "cell_secretary", "ba-dinh-g1-c1")).status_code == 404
    assert (await grant(world, headers, ba_dinh_account, "editor", "ba-dinh")).status_code == 403
    assert (await grant(world, headers, ba_dinh_account, "unit_admin", "tay-ho")).status_code == 403
    assert (await grant(world, headers, ba_dinh_account, "city_admin", "city")).status_code == 403
    # What the admin holds over ba-dinh, and below it, they may hand out within ba-dinh.
    granted = await grant(world, headers, ba_dinh_account, "cell_secretary", "ba-dinh-g1-c1")
    assert granted.status_code == 201, granted.text
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        audited = (await db.execute(text("SELECT actor, details FROM audit_log WHERE action = 'grant_role' "
                                         "AND target = :t"), {"t": ba_dinh_account})).all()
    assert [(a, d["role"]) for a, d in audited] == [(admin["account"], "cell_secretary")]


async def test_taking_a_role_away_ends_its_sessions_in_every_service_within_seconds(world, admin):
    secretary = await world.approved(0, 3)
    account = await world.account_id(secretary["party_card_no"])
    assert (await grant(world, admin["headers"], account, "cell_secretary", "ba-dinh-g1-c2")).status_code == 201
    old = await signed_in(world, secretary)
    assert (await world.http.get("/api/identity/v1/registrations", headers=old)).status_code == 200
    assert (await world.http.get("/api/content/v1/feed", headers=old)).status_code == 200
    revoked = await grant(world, admin["headers"], account, "cell_secretary", "ba-dinh-g1-c2", revoke=True)
    assert revoked.status_code == 200, revoked.text
    assert {"role": "cell_secretary", "unit": "ba-dinh-g1-c2"} not in revoked.json()["roles"]

    async def ended_everywhere():
        answers = [(await world.http.get(path, headers=old)).status_code for path in (
            "/api/identity/v1/registrations", "/api/content/v1/feed", "/api/members/v1/members/me")]
        return answers == [401, 401, 401]
    await eventually(ended_everywhere, timeout=10)
    fresh = await signed_in(world, secretary)  # signs in again, as a member only
    assert (await world.http.get("/api/identity/v1/registrations", headers=fresh)).status_code == 403
    assert (await world.http.get("/api/content/v1/feed", headers=fresh)).status_code == 200
    # A role they do not hold cannot be taken, nor a member's own.
    assert (await grant(world, admin["headers"], account, "cell_secretary", "ba-dinh-g1-c2",
                        revoke=True)).status_code == 404
    assert (await grant(world, admin["headers"], account, "member", "ba-dinh-g1-c2", revoke=True)).status_code == 422


async def test_a_disabled_staff_account_is_out_everywhere_within_seconds(world, admin):
    staff = await world.approved(0, 4)
    account = await world.account_id(staff["party_card_no"])
    assert (await grant(world, admin["headers"], account, "cell_secretary", "ba-dinh-g1-c1")).status_code == 201
    signed = await world.sign_in(staff["party_card_no"])
    old = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    url = f"/api/identity/v1/accounts/{account}/disable"
    assert (await world.http.post(url, json={}, headers=admin["headers"])).status_code == 422  # a reason, please
    disabled = await world.http.post(url, json={"reason": "chuyển công tác"}, headers=admin["headers"])
    assert disabled.status_code == 200, disabled.text

    async def out_everywhere():
        answers = [(await world.http.get(path, headers=old)).status_code for path in (
            "/api/identity/v1/registrations", "/api/content/v1/feed", "/api/members/v1/members/me")]
        return answers == [401, 401, 401]
    await eventually(out_everywhere, timeout=10)
    assert (await world.sign_in(staff["party_card_no"])).status_code == 400
    again = await world.http.post("/api/identity/v1/token", data={
        "grant_type": "refresh_token", "refresh_token": signed.json()["refresh_token"]})
    assert again.status_code == 400
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        audited = (await db.execute(text("SELECT actor, reason FROM audit_log WHERE action = 'disable_account' "
                                         "AND target = :t"), {"t": account})).all()
    assert [tuple(r) for r in audited] == [(admin["account"], "chuyển công tác")]


async def test_a_unit_admin_cannot_disable_themselves_the_city_s_admin_or_another_committee_s_staff(world, admin):
    city_admin = await world.approved(0, 5)
    city_account = await world.account_id(city_admin["party_card_no"])
    assert (await grant(world, world.auth("city_admin"), city_account, "city_admin", "city")).status_code == 201
    tay_ho = await world.account_id((await world.approved(1, 5))["party_card_no"])
    body = {"reason": "thử"}
    for target, expected in ((admin["account"], 403), (city_account, 403), (tay_ho, 404)):
        response = await world.http.post(f"/api/identity/v1/accounts/{target}/disable", json=body,
                                         headers=admin["headers"])
        assert response.status_code == expected, (target, response.text)
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        statuses = set((await db.execute(text("SELECT status FROM accounts WHERE id = ANY(:a)"), {
            "a": [admin["account"], city_account, tay_ho]})).scalars())
    assert statuses == {"active"}


async def test_audit_rows_cannot_be_changed_or_deleted(world, admin):
    engine = world.system.runtimes["identity"].context.engine
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(sa_exc.DBAPIError, match="is an audit trail"):
            async with engine.begin() as db:
                await db.execute(text(sql))
    async with engine.connect() as db:
        assert (await db.execute(text("SELECT count(*) FROM audit_log"))).scalar() > 0
