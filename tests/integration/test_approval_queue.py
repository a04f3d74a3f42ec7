"""The approval queue's filters (match result, cell, age), the bulk approval's stable reason
code per refused row, and the label of a duplicate registration, on real NATS and PostgreSQL;
and the attacks on the new cell filter (another committee's unit, a unit above one's own, no
such unit, no token)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.identity
import services.members
from tests.support.system import (
    CONSENT,
    create_org_tree,
    identity_holds_registry,
    import_registry,
    make_settings,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

BORN = "1970-01-01"
PASSWORD = "Mat khau dai du manh"
QUEUE = "/api/identity/v1/registrations"
# Cards 0300000NN in ba-dinh's cell 1 (NN < 50) or cell 2; 0400000NN in tay-ho's cell 1.
CARDS = {**{n: (f"03000{n:04d}", "ba-dinh-g1-c1" if n < 50 else "ba-dinh-g1-c2") for n in (1, 2, 3, 4, 5, 51, 52)},
         **{n: (f"04000{n:04d}", "tay-ho-g1-c1") for n in (101,)}}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition()]
    async with running_system(definitions, make_settings(data_dir, approval_overdue_days=3), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ("ba-dinh", "tay-ho"), admin)
        await import_registry(system.client, [registry_row(card, f"Nguyễn Văn {chr(65 + n % 26)}", unit, born=BORN)
                                              for n, (card, unit) in CARDS.items()], admin)
        await identity_holds_registry(system, len(CARDS))
        yield system


async def register(system, n: int, *, born: str = BORN) -> str:
    card, _ = CARDS[n]
    answer = await system.client.post(QUEUE, json={
        "party_card_no": card, "full_name": f"Nguyễn Văn {chr(65 + n % 26)}", "date_of_birth": born,
        "phone": f"09{card[-8:]}", "password": PASSWORD, "platform": "web", "consent": CONSENT})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


async def queue(system, headers, **params) -> list[dict]:
    answer = await system.client.get(QUEUE, params={"status": "pending", **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def cards(items: list[dict]) -> set[str]:
    return {r["party_card_no"] for r in items}


async def test_the_queue_filters_by_match_result_cell_and_age(system):
    matched, differs, other_cell = await register(system, 1), await register(system, 2, born="1971-01-01"), \
        await register(system, 51)
    async with system.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE registrations SET submitted_at = now() - interval '10 days' WHERE id = :id"),
                         {"id": other_cell})
    admin = system.auth("unit_admin", "ba-dinh")
    assert cards(await queue(system, admin)) >= {CARDS[1][0], CARDS[2][0], CARDS[51][0]}
    assert cards(await queue(system, admin, unit="ba-dinh-g1-c2")) == {CARDS[51][0]}
    assert CARDS[51][0] not in cards(await queue(system, admin, unit="ba-dinh-g1-c1"))
    assert cards(await queue(system, admin, unit="ba-dinh-g1")) >= {CARDS[1][0], CARDS[51][0]}  # a subtree
    assert cards(await queue(system, admin, match="details_differ")) == {CARDS[2][0]}
    assert cards(await queue(system, admin, older_than_days=7)) == {CARDS[51][0]}
    assert CARDS[51][0] not in cards(await queue(system, admin, newer_than_days=3))
    assert cards(await queue(system, admin, match="matched", unit="ba-dinh-g1-c1", newer_than_days=3)) == {CARDS[1][0]}
    one = (await queue(system, admin, unit="ba-dinh-g1-c2"))[0]
    assert one["given_phone"] == f"*******{CARDS[51][0][-3:]}" and one["match_label"] == "matched"
    assert {matched, differs}  # used above through their cards


async def test_bulk_approval_gives_each_refused_row_a_stable_code(system):
    ok, differs = await register(system, 3), await register(system, 4, born="1972-01-01")
    elsewhere = await register(system, 101)
    admin = system.auth("unit_admin", "ba-dinh")
    first = await system.client.post(f"{QUEUE}/approve", json={"ids": [ok, differs, elsewhere]}, headers=admin)
    assert first.status_code == 200, first.text
    results = {r["registration_id"]: r for r in first.json()["results"]}
    assert results[ok]["status"] == "approved" and results[ok].get("code") is None
    assert (results[differs]["status"], results[differs]["code"]) == ("refused", "not_matched")
    assert (results[elsewhere]["status"], results[elsewhere]["code"]) == ("refused", "out_of_scope")
    again = await system.client.post(f"{QUEUE}/approve", json={"ids": [ok]}, headers=admin)
    assert again.json()["results"][0]["code"] == "already_decided"


async def test_a_duplicate_registration_is_labelled_a_duplicate_until_the_card_has_an_account(system):
    first, second = await register(system, 5), await register(system, 5)
    admin = system.auth("cell_secretary", "ba-dinh-g1-c1")
    by_id = {r["id"]: r for r in await queue(system, admin, match="already_registered")}
    assert by_id[second]["match_result"] == "already_registered" and by_id[second]["match_label"] == "duplicate"
    assert first not in by_id
    approved = await system.client.post(f"{QUEUE}/{first}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    by_id = {r["id"]: r for r in await queue(system, admin, match="already_registered")}
    assert by_id[second]["match_label"] == "has_account"
    refused = await system.client.post(f"{QUEUE}/approve", json={"ids": [second]}, headers=admin)
    assert refused.json()["results"][0]["code"] == "not_approvable"  # reject it: not "look at it on its own"
    single = await system.client.post(f"{QUEUE}/{second}/approve", headers=admin)
    assert single.status_code == 422 and single.json()["code"] == "not_approvable"


# --- attacks on the cell filter --------------------------------------------------------------------

async def test_the_cell_filter_reaches_no_unit_outside_the_approver_s(system):
    await register(system, 52)
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c1")
    for unit in ("ba-dinh-g1-c2", "tay-ho-g1-c1", "ba-dinh", "city"):  # a sibling, another committee, above
        answer = await system.client.get(QUEUE, params={"unit": unit}, headers=secretary)
        assert answer.status_code == 403, (unit, answer.text)
        assert CARDS[52][0] not in answer.text
    unknown = await system.client.get(QUEUE, params={"unit": "no-such-unit"}, headers=secretary)
    assert unknown.status_code == 422 and unknown.json()["errors"] == [
        {"field": "unit", "reason": "is not a unit of the registry"}]
    for bad in ({"unit": ""}, {"unit": "x" * 65}, {"older_than_days": "-1"}, {"newer_than_days": "abc"}):
        assert (await system.client.get(QUEUE, params=bad, headers=secretary)).status_code == 422, bad
    assert (await system.client.get(QUEUE, params={"unit": "ba-dinh-g1-c2"})).status_code == 401
    member = system.auth("member", "ba-dinh-g1-c2")
    assert (await system.client.get(QUEUE, params={"unit": "ba-dinh-g1-c2"}, headers=member)).status_code == 403
