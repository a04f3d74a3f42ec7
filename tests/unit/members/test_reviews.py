"""The yearly review's rules (services/members/domain/reviews.py): the four levels as the Party's
rules name them, a cycle's deadlines, who may act at which stage, and the excellent-share check
that warns and never refuses."""

from __future__ import annotations

from datetime import date

import pytest

from services.members.domain import reviews as rules

CYCLE = rules.Cycle(2025, self_assessment_due=date(2025, 12, 10), decision_due=date(2025, 12, 31))


def test_the_levels_are_the_partys_own_best_first():
    assert rules.LEVELS == ("excellent", "good", "done", "not_done")
    assert [rules.LEVEL_NAMES[level] for level in rules.LEVELS] == [
        "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ", "Không hoàn thành nhiệm vụ"]
    assert rules.DEFAULT_EXCELLENT_CAP_PCT == 20 and rules.Cycle(2025, date(2025, 12, 1), date(2025, 12, 2)) \
        .excellent_cap_pct == 20


@pytest.mark.parametrize(("today", "stage"), [
    (date(2025, 11, 1), "self_assessment"), (date(2025, 12, 10), "self_assessment"),  # the deadline day included
    (date(2025, 12, 11), "deciding"), (date(2025, 12, 31), "deciding"), (date(2026, 1, 1), "closed")])
def test_a_cycle_stands_where_its_deadlines_put_it(today, stage):
    assert rules.stage(CYCLE, today) == stage


def test_a_cycles_deadlines_are_in_the_year_reviewed_or_the_next_in_order_and_not_past():
    today = date(2025, 11, 20)
    assert rules.cycle_problems(2025, date(2025, 12, 10), date(2026, 1, 15), today=today) == []
    assert rules.cycle_problems(2025, date(2024, 12, 10), date(2027, 1, 15), today=today) == [
        ("self_assessment_due", "must be in the year reviewed or the next"),
        ("decision_due", "must be in the year reviewed or the next")]
    assert rules.cycle_problems(2025, date(2025, 12, 10), date(2025, 12, 1), today=today) == [
        ("decision_due", "must not be before the self-assessment deadline")]
    assert rules.cycle_problems(2025, date(2025, 11, 19), date(2025, 12, 1), today=today) == [
        ("self_assessment_due", "is already past")]
    # Changing one deadline of a cycle under way: the other may be past already.
    assert rules.cycle_problems(2025, date(2025, 11, 19), date(2025, 12, 20), today=today,
                                changed=("decision_due",)) == []
    # The far edges of the calendar are refused by the same rule (no arithmetic on them).
    assert rules.cycle_problems(2025, date(1, 1, 1), date(9999, 12, 31), today=today)[0][0] == "self_assessment_due"


def test_a_member_writes_until_the_deadline_and_while_undecided():
    assert rules.submit_refusal(CYCLE, date(2025, 12, 10), standing="active", decided=False) is None
    assert rules.submit_refusal(CYCLE, date(2025, 12, 1), standing="probationary", decided=False) is None
    assert rules.submit_refusal(CYCLE, date(2025, 12, 11), standing="active", decided=False) == "self_assessment_closed"
    assert rules.submit_refusal(CYCLE, date(2025, 12, 1), standing="active", decided=True) == "review_decided"
    assert rules.submit_refusal(CYCLE, date(2025, 12, 1), standing="exempt", decided=False) == "not_reviewed"


def test_the_cell_waits_for_the_self_assessment_or_its_deadline_and_proposes_until_the_unit_decides():
    early, late = date(2025, 12, 1), date(2025, 12, 20)
    assert rules.proposal_refusal(CYCLE, early, standing="active", submitted=False, decided=False) \
        == "awaiting_self_assessment"
    assert rules.proposal_refusal(CYCLE, early, standing="active", submitted=True, decided=False) is None
    assert rules.proposal_refusal(CYCLE, late, standing="active", submitted=False, decided=False) is None
    assert rules.proposal_refusal(CYCLE, date(2026, 2, 1), standing="active", submitted=False, decided=False) is None
    assert rules.proposal_refusal(CYCLE, late, standing="active", submitted=True, decided=True) == "review_decided"
    assert rules.proposal_refusal(CYCLE, late, standing="removed", submitted=True, decided=False) == "not_reviewed"


def test_the_unit_decides_after_the_cell_changes_its_mind_until_the_deadline_and_decides_late_still():
    assert rules.decision_refusal(CYCLE, date(2025, 12, 20), standing="active", proposed=False, decided=False) \
        == "awaiting_cell"
    assert rules.decision_refusal(CYCLE, date(2025, 12, 20), standing="active", proposed=True, decided=False) is None
    assert rules.decision_refusal(CYCLE, date(2025, 12, 31), standing="active", proposed=True, decided=True) is None
    assert rules.decision_refusal(CYCLE, date(2026, 1, 5), standing="active", proposed=True, decided=True) \
        == "review_decided"
    assert rules.decision_refusal(CYCLE, date(2026, 1, 5), standing="active", proposed=True, decided=False) is None
    assert rules.decision_refusal(CYCLE, date(2025, 12, 20), standing="exempt", proposed=True, decided=False) \
        == "not_reviewed"
    assert set(rules.REFUSALS) >= {"not_reviewed", "review_decided", "self_assessment_closed",
                                   "awaiting_self_assessment", "awaiting_cell"}


@pytest.mark.parametrize(("members", "excellent", "cap", "allowed", "share", "exceeded"), [
    (10, 2, 20, 2, 20.0, False),   # exactly the cap
    (10, 3, 20, 2, 30.0, True),
    (4, 1, 20, 0, 25.0, True),     # 20% of 4 members is none
    (5, 1, 20, 1, 20.0, False),
    (3, 1, 20, 0, 33.33, True),
    (3, 1, 40, 1, 33.33, False),   # a cap the city set higher
    (0, 0, 20, 0, 0.0, False),     # a unit with nobody to review
    (7, 0, 20, 1, 0.0, False),
])
def test_the_excellent_share_is_checked_against_the_cap(members, excellent, cap, allowed, share, exceeded):
    found = rules.ExcellentCheck(members, excellent, cap)
    assert (found.allowed, found.share_pct, found.exceeded) == (allowed, share, exceeded)


def test_a_unit_is_late_once_the_decision_deadline_has_passed_without_all_decided():
    assert not rules.overdue(CYCLE, date(2025, 12, 31), done=False)
    assert rules.overdue(CYCLE, date(2026, 1, 1), done=False)
    assert not rules.overdue(CYCLE, date(2026, 1, 1), done=True)
