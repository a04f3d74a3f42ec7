"""Password resets for members without e-mail (issue 18) on real NATS and PostgreSQL: a cell
secretary looks the member up and issues a one-time code; the member sets a new password with
it, signs in with the new one, and the old password and every session before end; the code is
kept as a keyed hash only, is one-time, expires, and a new one voids the one before; every
issue and use is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from services.identity.entrypoints.models import ResetAccount, ResetCode, ResetDone
from tests.attacks.registry_world import PASSWORD, cell, registry_world
from tests.support.system import eventually, make_settings

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
NEW_PASSWORD = "Hoa sen no giua dam"


@pytest.fixture(scope="module")
async def world(data_dir, nats_url, database_url):
    async with registry_world(make_settings(data_dir), nats_url, database_url, members_per_committee=12) as world:
        yield world


def secretary(world, committee: str = "ba-dinh", n: int = 1) -> dict[str, str]:
    return world.auth("cell_secretary", cell(committee, n))


async def issue(world, headers, card_no: str):
    looked = await world.http.post(f"{API}/password-resets/lookup", json={"party_card_no": card_no}, headers=headers)
    if looked.status_code != 200:
        return looked
    return await world.http.post(f"{API}/accounts/{looked.json()['account_id']}/password-reset-codes",
                                 headers=headers)


async def redeem(world, username: str, code: str, password: str = NEW_PASSWORD, **kw):
    return await world.http.post(f"{API}/password-resets",
                                 json={"username": username, "code": code, "new_password": password}, **kw)


async def rows(world, sql: str, **params) -> list[dict]:
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        return [dict(r) for r in (await db.execute(text(sql), params)).mappings()]


async def test_a_secretary_issues_a_code_and_the_member_sets_a_new_password_with_it(world):
    body = await world.approved(0, 2)  # a member of ba-dinh's cell 1
    card_no = body["party_card_no"]
    before = await world.sign_in(card_no)
    assert before.status_code == 200
    old_refresh = before.json()["refresh_token"]

    looked = await world.http.post(f"{API}/password-resets/lookup", json={"party_card_no": f" {card_no} "},
                                   headers=secretary(world))
    assert looked.status_code == 200, looked.text
    assert looked.json()["full_name"] == "Nguyễn Văn C" and looked.json()["unit"] == cell("ba-dinh", 1)
    assert looked.json()["live_code_expires_at"] is None
    issued = await world.http.post(f"{API}/accounts/{looked.json()['account_id']}/password-reset-codes",
                                   headers=secretary(world))
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    code = issued.json()["code"]
    assert len(code) == 8 and code.isdigit()
    expires = datetime.fromisoformat(issued.json()["expires_at"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)

    # Kept as a keyed hash only.
    kept = await rows(world, "SELECT * FROM password_reset_codes WHERE account_id = :a",
                      a=looked.json()["account_id"])
    assert len(kept) == 1 and code not in orjson.dumps(kept, default=str).decode()

    done = await redeem(world, card_no, f"{code[:4]} {code[4:]}")  # as read out: two groups of four
    assert done.status_code == 200, done.text
    assert done.json() == {"reset": True}
    # The answers are what the OpenAPI document says they are.
    ResetAccount.model_validate(looked.json()), ResetCode.model_validate(issued.json())
    ResetDone.model_validate(done.json())

    assert (await world.sign_in(card_no, NEW_PASSWORD)).status_code == 200
    assert (await world.sign_in(card_no, PASSWORD)).status_code == 400
    refreshed = await world.http.post(f"{API}/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": old_refresh})
    assert refreshed.status_code == 400  # the sign-in before the reset has ended
    account = looked.json()["account_id"]
    verifier = world.system.runtimes["identity"].context.verifier
    await eventually(lambda: verifier.has_ended(account), timeout=5)

    # One-time: the same code again is refused.
    again = await redeem(world, card_no, code, "Mot mat khau khac han")
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "code"

    audited = await rows(world, "SELECT actor, action, details FROM audit_log WHERE target = :a ORDER BY id",
                         a=account)
    actions = [(r["actor"], r["action"]) for r in audited]
    assert ("test-cell_secretary-ba-dinh-g1-c1", "look_up_account_for_reset") in actions
    assert ("test-cell_secretary-ba-dinh-g1-c1", "issue_password_reset") in actions
    assert (account, "password_reset") in actions
    assert ("anonymous", "password_reset_refused") not in actions  # used codes are not live: nothing to count
    assert code not in orjson.dumps(audited).decode()


async def test_a_new_code_voids_the_one_before_and_an_expired_one_is_refused_like_a_wrong_one(world):
    body = await world.approved(0, 4)
    card_no, phone = body["party_card_no"], body["phone"]
    first = (await issue(world, secretary(world), card_no)).json()["code"]
    second = await issue(world, world.auth("unit_admin", "ba-dinh"), card_no)
    assert second.status_code == 201
    voided = await redeem(world, card_no, first)
    if first != second.json()["code"]:
        assert voided.status_code == 400

    # Expired: the same answer as a wrong code, which says nothing of which it was.
    account = await world.account_id(card_no)
    async with world.system.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE password_reset_codes SET expires_at = now() - interval '1 second' "
                              "WHERE account_id = :a AND used_at IS NULL AND voided_at IS NULL"), {"a": account})
    expired = await redeem(world, card_no, second.json()["code"])
    wrong = await redeem(world, card_no, f"{(int(second.json()['code']) + 1) % 10**8:08d}")
    strip = lambda r: {k: v for k, v in r.json().items() if k != "instance"}
    assert expired.status_code == wrong.status_code == 400
    assert strip(expired) == strip(wrong)

    # A fresh code, redeemed with the phone as the username (as the member signs in with it).
    third = (await issue(world, secretary(world), card_no)).json()["code"]
    done = await redeem(world, phone, third)
    assert done.status_code == 200, done.text
    assert (await world.sign_in(phone, NEW_PASSWORD)).status_code == 200


async def test_password_rules_are_registrations_and_a_refused_password_keeps_the_code(world):
    body = await world.approved(0, 6)
    card_no = body["party_card_no"]
    code = (await issue(world, secretary(world), card_no)).json()["code"]
    for weak, reason in (("short", "must be at least 8 characters"), ("matkhau123", "is too common; choose another"),
                         (card_no, "must not be your card or phone number")):
        refused = await redeem(world, card_no, code, weak)
        assert refused.status_code == 422, refused.text
        assert {"field": "new_password", "reason": reason} in refused.json()["errors"]
    bad_code = await redeem(world, card_no, "12ab")
    assert bad_code.status_code == 422 and bad_code.json()["errors"] == [{"field": "code", "reason": "must be 8 digits"}]
    assert (await world.sign_in(card_no)).status_code == 200  # nothing changed
    assert (await redeem(world, card_no, code)).status_code == 200
