"""The demo's yearly review (sotay/system/demo/reviews.py), on real PostgreSQL and NATS: last year's
cycle finished for every reviewed member of a small demo registry, in the levels the rules name,
with the events the service would have written (ids only), a few deciding units past the cap; and
loaded once."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

import services.members
from sotay.kit.clock import hanoi_day
from sotay.system.demo.load_registry import load_demo
from sotay.system.demo.reviews import load_demo_reviews
from tests.support.system import make_settings, running_system

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        ctx = system.runtimes["members"].context
        assert (await load_demo(ctx, members=3_000, scale=0.05))["loaded"]
        yield system


async def test_last_years_review_is_finished_for_every_reviewed_member(system):
    ctx = system.runtimes["members"].context
    loaded = await load_demo_reviews(ctx)
    year = hanoi_day().year - 1
    assert loaded["loaded"] and loaded["year"] == year, loaded
    summary = await system.client.get(f"/api/members/v1/review-cycles/{year}/summary", params={"unit": "city"},
                                      headers=system.auth("city_admin"))
    assert summary.status_code == 200, summary.text
    s = summary.json()
    assert s["members"] == s["decided"] == s["proposed"] == loaded["reviews"] > 2_000
    assert s["cycle"]["stage"] == "closed" and s["cells_not_done"] == 0 and not s["overdue"]
    assert s["levels"] == loaded["levels"] and s["levels"]["good"] > s["levels"]["excellent"] > 0
    assert 0.85 * s["members"] < s["self_assessed"] < s["members"]
    assert loaded["over_cap"] >= 1

    async with ctx.engine.connect() as db:
        decided = [orjson.loads(b) for b in (await db.execute(text(
            "SELECT body FROM outbox WHERE subject LIKE 'sotay.members.review_decided.%'"))).scalars()]
        submitted = (await db.execute(text(
            "SELECT count(*) FROM outbox WHERE subject LIKE 'sotay.members.review_submitted.%'"))).scalar_one()
    assert len(decided) == s["members"] and submitted == s["self_assessed"]
    assert set(decided[0]["data"]) == {"year", "member_id", "unit", "level"}

    # A member of the demo sees last year's level in their own reviews.
    async with ctx.engine.connect() as db:
        card, unit = (await db.execute(text(
            "SELECT m.party_card_no, u.code FROM reviews r JOIN members m ON m.id = r.member_id "
            "JOIN org_units u ON u.id = m.unit_id LIMIT 1"))).one()
    mine = (await system.client.get("/api/members/v1/me/reviews",
                                    headers=system.auth("member", unit, card=card))).json()["items"]
    assert [(r["year"], r["stage"]) for r in mine] == [(year, "closed")] and mine[0]["decided_level"]

    again = await load_demo_reviews(ctx)
    assert again == {"loaded": False, "reason": "there are review cycles already"}
