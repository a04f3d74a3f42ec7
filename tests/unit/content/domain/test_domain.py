"""The rules of content: workflow steps, audiences, reviewers, schedules, the reading day."""

from datetime import UTC, datetime, timedelta

import pytest

from services.content import domain
from services.content.domain import RuleBroken
from sotay.kit.auth import Grant, Principal


def test_the_workflow_allows_only_its_steps():
    assert domain.next_status("submit", "draft") == "submitted"
    assert domain.next_status("approve", "submitted") == "approved"
    assert domain.next_status("return", "approved") == "draft"
    assert domain.next_status("retract", "scheduled") == "retracted"
    with pytest.raises(RuleBroken) as refused:
        domain.next_status("publish", "draft")
    assert refused.value.status == 409 and "only one that is approved" in refused.value.detail
    with pytest.raises(RuleBroken):
        domain.next_status("edit", "published")


def test_ancestors_and_committee_of_a_path():
    assert domain.ancestors("/city/ba-dinh/g1/c1/") == ["/city/", "/city/ba-dinh/", "/city/ba-dinh/g1/",
                                                        "/city/ba-dinh/g1/c1/"]
    assert domain.committee_of("/city/ba-dinh/g1/") == "ba-dinh"
    assert domain.committee_of("/city/") == "city"


def test_a_unit_targets_only_its_own_subtree():
    paths = {"ba-dinh-g1": "/city/ba-dinh/ba-dinh-g1/", "tay-ho": "/city/tay-ho/", "nowhere": None}
    problems = domain.check_audience("/city/ba-dinh/", paths)
    assert problems == [("audience", "tay-ho is outside the author unit's subtree"),
                        ("audience", "nowhere is not a unit")]
    assert domain.check_audience("/city/", {"tay-ho": "/city/tay-ho/", "city": "/city/"}) == []
    assert domain.check_audience("/city/", {}) == [("audience", "needs at least one unit (['city'] for everyone)")]


def test_reviewers_are_chief_editors_above_the_author_and_never_the_author():
    article = {"author_path": "/city/ba-dinh/", "author": "alice"}
    alice = Principal("alice", (Grant("chief_editor", "ba-dinh"),))
    bob = Principal("bob", (Grant("chief_editor", "city"),))
    domain.may_review(bob, ["/city/"], article, approving=True)
    domain.may_review(alice, ["/city/ba-dinh/"], article, approving=False)  # she may publish once approved
    with pytest.raises(RuleBroken, match="author"):
        domain.may_review(alice, ["/city/ba-dinh/"], article, approving=True)
    with pytest.raises(RuleBroken, match="chief editor"):
        domain.may_review(bob, ["/city/tay-ho/"], article, approving=True)


def test_schedules_need_a_zone_and_an_expiry_after_publishing():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert domain.check_schedule(now + timedelta(hours=1), now + timedelta(days=1), now) == []
    assert domain.check_schedule(None, now - timedelta(hours=1), now) == [
        ("expires_at", "must be after the publishing time")]
    assert domain.check_schedule(datetime(2026, 12, 2), None, now)[0][0] == "publish_at"


def test_a_reading_day_is_a_day_in_hanoi():
    # 23:30 UTC on 1 December is already 2 December in Hanoi.
    assert domain.reading_day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)).isoformat() == "2026-12-02"
    assert domain.reading_day(datetime(2026, 12, 1, 16, 59, tzinfo=UTC)).isoformat() == "2026-12-01"
