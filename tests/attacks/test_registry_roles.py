"""The member registry's roles: who decides a correction and who moves a member.

- A correction request ("báo sai thông tin") is decided by a registry writer (unit_admin or
  city_admin over the member's unit) who is not the member concerned: not a cell secretary,
  not the member under another role or another card. Eligibility and the admission dates are
  not the member's to correct.
- A transfer needs the actor's writer scope over the destination cell as well as the source:
  an admin of ba-dinh cannot move a member into tay-ho; between committees, the city does.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from sotay.kit.clock import hanoi_day
from sotay.kit.auth import Grant, mint_token
from tests.attacks.problems import assert_problem
from tests.attacks.world import MEMBERS

pytestmark = pytest.mark.integration


def call(world, method: str, path: str, headers: dict[str, str], body: dict | None = None) -> httpx.Response:
    return httpx.request(method, f"{world.base_url}/api/members/v1{path}", headers=headers, json=body, timeout=30)


def token_with(world, subject: str, grants: list[tuple[str, str]], card: str | None = None) -> dict[str, str]:
    """A token with several roles (a member who is also staff)."""
    key = world.system.settings.signing_key()
    token = mint_token(key, subject, [Grant(role, unit) for role, unit in grants], member_card_no=card)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def hoa(world) -> dict:
    """A member of bd-g1-c1."""
    created = call(world, "POST", "/members", world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh"), {
        "party_card_no": "0100000601", "full_name": "Đỗ Thị Hoa", "date_of_birth": "1980-05-06", "unit": "bd-g1-c1"})
    assert created.status_code == 201, created.text
    return created.json()


def ask_correction(world, who: str, changes: dict) -> httpx.Response:
    return call(world, "POST", f"/members/{world.ids[f'member_{who}']}/corrections", world.member_auth(who),
                {"changes": changes, "note": "nhờ sửa"})


def correction_status(world, request_id: str) -> str:
    return world.scalar("members", "SELECT status FROM correction_requests WHERE id = :id", id=request_id)


# --- correction requests --------------------------------------------------------------------------


def test_a_cell_secretary_cannot_decide_a_correction(world):
    request_id = world.ids["correction_an"]
    before = world.digest("members")
    secretary = world.auth("cell_secretary", "bd-g1-c1", subject="secretary-bd-g1-c1")
    for decision, body in (("accept", {}), ("reject", {"reason": "không đúng"})):
        refused = call(world, "POST", f"/corrections/{request_id}/{decision}", secretary, body)
        assert_problem(refused.status_code, refused.headers, refused.content, where=decision)
        assert refused.status_code == 403, refused.text
    assert correction_status(world, request_id) == "pending"
    assert world.digest("members") == before


def test_the_member_concerned_cannot_decide_their_own_correction_under_any_role(world):
    asked = ask_correction(world, "binh", {"phone": "0912 888 002"})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    name, card, unit, *_ = MEMBERS["binh"]
    as_admin_with_her_card = token_with(world, "admin-binh", [("member", unit), ("unit_admin", "ba-dinh")], card=card)
    as_her_account_without_card = token_with(world, "account-binh", [("city_admin", "city")])
    before = world.digest("members")
    for headers in (as_admin_with_her_card, as_her_account_without_card):
        refused = call(world, "POST", f"/corrections/{request_id}/accept", headers, {})
        assert refused.status_code == 403, refused.text
        assert_problem(403, refused.headers, refused.content)
    assert correction_status(world, request_id) == "pending"
    assert world.digest("members") == before
    # Another writer over her unit decides it.
    accepted = call(world, "POST", f"/corrections/{request_id}/accept",
                    world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh"), {})
    assert accepted.status_code == 200, accepted.text
    assert correction_status(world, request_id) == "accepted"


@pytest.mark.parametrize("field, value", [("eligible", False), ("ineligible_reason", "không có điện thoại"),
                                          ("admitted_on", "1999-01-01"), ("official_on", "2000-01-01")])
def test_eligibility_and_admission_dates_are_not_member_correctable(world, field, value):
    before = world.digest("members")
    refused = ask_correction(world, "an", {field: value})
    problem = assert_problem(refused.status_code, refused.headers, refused.content, field=f"changes.{field}")
    assert refused.status_code == 422, problem
    assert world.digest("members") == before


# --- transfers -----------------------------------------------------------------------------------


def test_a_unit_admin_cannot_move_a_member_into_another_committee(world):
    member_id = world.ids["member_an"]
    before = world.digest("members")
    admin = world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    for kind in ("official", "temporary"):
        refused = call(world, "POST", f"/members/{member_id}/transfers", admin, {"to_unit": "th-g1-c1", "kind": kind})
        assert refused.status_code == 403, (kind, refused.text)
        assert_problem(403, refused.headers, refused.content, where=kind)
    assert world.digest("members") == before
    assert world.scalar("members", "SELECT u.code FROM members m JOIN org_units u ON u.id = m.unit_id "
                        "WHERE m.id = :id", id=member_id) == "bd-g1-c1"


def test_transfers_within_the_actors_scope_and_across_committees_by_the_city(world, hoa):
    admin = world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    within = call(world, "POST", f"/members/{hoa['id']}/transfers", admin, {"to_unit": "bd-g1-c2"})
    assert within.status_code == 200 and within.json()["unit"] == "bd-g1-c2", within.text
    until = (hanoi_day() + timedelta(days=60)).isoformat()
    across = call(world, "POST", f"/members/{hoa['id']}/transfers", world.auth("city_admin", "city"),
                  {"to_unit": "th-g1-c1", "kind": "temporary", "until": until})
    assert across.status_code == 200 and across.json()["temporary_unit"] == "th-g1-c1", across.text
    back = call(world, "POST", f"/members/{hoa['id']}/transfers", admin, {"to_unit": "bd-g1-c1"})
    assert back.status_code == 200, back.text
    # The destination's own admin cannot pull a member in from a committee they do not cover.
    pulled = call(world, "POST", f"/members/{hoa['id']}/transfers", world.auth("unit_admin", "tay-ho"),
                  {"to_unit": "th-g1-c1"})
    assert pulled.status_code == 403, pulled.text
