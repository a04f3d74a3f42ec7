"""The rollout's arithmetic (services/metrics/domain/rollout.py): what each
member's and registration's state contributes, how identity events move a
registration, the figures of a unit, and the plan's expectations."""

from datetime import date

import pytest

from services.metrics.domain.rollout import (
    COUNTERS,
    Deltas,
    MemberState,
    RegistrationState,
    committee_of,
    figures,
    member_contribution,
    member_from_snapshot,
    pct,
    plan_expected,
    prometheus_text,
    registration_after,
    registration_contribution,
    wave_progress,
)

UNIT = {"unit_id": "u-1", "code": "ba-dinh", "name": "Ba Đình", "kind": "committee", "committee": "ba-dinh"}


def member(**kw) -> MemberState:
    values = {"unit": "c1", "status": "active", "eligible": True, "reason": None, "installed": False}
    return MemberState(**{**values, **kw})


def reg(**kw) -> RegistrationState:
    values = {"unit": "c1", "platform": "web", "status": "pending", "activated": False}
    return RegistrationState(**{**values, **kw})


# --- contributions ------------------------------------------------------------------------------


def test_an_eligible_member_without_an_account_counts_as_not_installed():
    assert member_contribution(member()) == {"members_total": 1, "members_eligible": 1, "eligible_not_installed": 1}


def test_an_installed_member_is_eligible_and_no_longer_waiting():
    assert member_contribution(member(installed=True)) == {"members_total": 1, "members_eligible": 1}


def test_a_member_not_eligible_counts_under_their_reason_or_unspecified():
    assert member_contribution(member(eligible=False, reason="ốm")) == {"members_total": 1, "not_eligible:ốm": 1}
    assert member_contribution(member(eligible=False)) == {"members_total": 1, "not_eligible:unspecified": 1}


@pytest.mark.parametrize("status", ["transferred_out", "deceased", "expelled"])
def test_a_member_out_of_active_standing_counts_nowhere(status):
    assert member_contribution(member(status=status)) == {}


def test_probationary_members_count_as_members():
    assert member_contribution(member(status="probationary"))["members_total"] == 1


def test_no_state_contributes_nothing():
    assert member_contribution(None) == {} and registration_contribution(None) == {}


def test_a_pending_or_approved_registration_counts_as_installed_on_its_platform():
    assert registration_contribution(reg()) == {"registered": 1, "accounts_web": 1, "accounts_pending": 1}
    assert registration_contribution(reg(platform="mobile", status="approved")) == \
        {"registered": 1, "accounts_mobile": 1, "accounts_approved": 1}


def test_only_an_approved_registration_counts_as_activated():
    assert registration_contribution(reg(status="approved", activated=True))["accounts_activated"] == 1
    assert "accounts_activated" not in registration_contribution(reg(status="pending", activated=True))


def test_an_escalated_registration_counts_as_overdue_while_pending_only():
    """Issue 20: RegistrationEscalated marks a pending registration; deciding it ends the count."""
    escalated = registration_after("RegistrationEscalated", {"registration_id": "r1"}, reg())
    assert escalated == reg(escalated=True)
    assert registration_contribution(escalated)["accounts_overdue"] == 1
    assert registration_after("RegistrationEscalated", {}, escalated) is None  # once
    assert registration_after("RegistrationEscalated", {}, reg(status="approved")) is None
    assert registration_after("RegistrationEscalated", {}, None) is None
    decided = registration_after("AccountApproved", {"unit": "c1", "platform": "web"}, escalated)
    assert "accounts_overdue" not in registration_contribution(decided)


def test_a_rejected_or_disabled_registration_is_registered_but_not_installed():
    assert registration_contribution(reg(status="rejected")) == {"registered": 1, "accounts_rejected": 1}
    assert registration_contribution(reg(status="disabled", activated=True)) == \
        {"registered": 1, "accounts_disabled": 1}


# --- members from snapshots, registrations from identity events -------------------------------------


def test_a_member_snapshot_keeps_the_reason_only_when_not_eligible():
    data = {"unit": "c2", "status": "active", "eligible": True, "ineligible_reason": "ốm"}
    assert member_from_snapshot(data, installed=True) == member(unit="c2", installed=True)
    assert member_from_snapshot({**data, "eligible": False}, False).reason == "ốm"
    assert member_from_snapshot({**data, "eligible": False, "ineligible_reason": ""}, False).reason is None


def test_a_submission_starts_a_pending_registration_once():
    data = {"unit": "c1", "platform": "mobile"}
    assert registration_after("RegistrationSubmitted", data, None) == reg(platform="mobile")
    assert registration_after("RegistrationSubmitted", data, reg()) is None  # a replay


def test_a_registration_matching_nobody_counts_at_the_city():
    assert registration_after("RegistrationSubmitted", {"platform": "web"}, None, "city").unit == "city"


def test_a_decision_applies_to_a_pending_registration_only():
    assert registration_after("AccountApproved", {"platform": "web"}, reg()).status == "approved"
    assert registration_after("AccountRejected", {"platform": "web"}, reg()).status == "rejected"
    assert registration_after("AccountRejected", {"platform": "web"}, reg(status="approved")) is None


def test_a_decision_seen_before_the_submission_makes_the_registration():
    assert registration_after("AccountApproved", {"platform": "mobile", "unit": "c3"}, None) == \
        reg(unit="c3", platform="mobile", status="approved")


def test_later_account_events_need_a_known_registration():
    assert registration_after("AccountActivated", {}, None) is None  # a staff account
    assert registration_after("AccountActivated", {}, reg(status="approved")).activated is True
    assert registration_after("AccountDisabled", {}, reg(status="approved")).status == "disabled"
    assert registration_after("AccountMoved", {"unit": "c9"}, reg()).unit == "c9"


def test_an_event_that_changes_nothing_gives_no_new_state():
    assert registration_after("AccountMoved", {"unit": "c1"}, reg()) is None
    assert registration_after("AccountActivated", {}, reg(activated=True)) is None
    assert registration_after("SomethingElse", {}, reg()) is None


# --- deltas -------------------------------------------------------------------------------------------


def test_a_transfer_moves_a_members_whole_contribution():
    deltas = Deltas()
    deltas.member(member(unit="c1"), member(unit="c2"))
    assert sorted(deltas.rows()) == sorted([
        ("c1", "members_total", -1), ("c1", "members_eligible", -1), ("c1", "eligible_not_installed", -1),
        ("c2", "members_total", 1), ("c2", "members_eligible", 1), ("c2", "eligible_not_installed", 1)])


def test_changes_that_cancel_out_leave_no_rows():
    deltas = Deltas()
    deltas.member(None, member())
    deltas.member(member(), member(installed=True))
    assert sorted(deltas.rows()) == [("c1", "members_eligible", 1), ("c1", "members_total", 1)]


def test_a_registration_decided_moves_from_pending_to_approved():
    deltas = Deltas()
    deltas.registration(reg(), reg(status="approved"))
    assert sorted(deltas.rows()) == [("c1", "accounts_approved", 1), ("c1", "accounts_pending", -1)]


def test_counts_added_outside_the_events_add_up():
    deltas = Deltas()
    deltas.add({"c1": {"trained_people": 12, "training_sessions": 1}})
    deltas.add({"c1": {"trained_people": 3, "training_sessions": 1}})
    assert sorted(deltas.rows()) == [("c1", "trained_people", 15), ("c1", "training_sessions", 2)]


# --- figures ------------------------------------------------------------------------------------------


def test_pct_has_two_decimals_and_nothing_of_nothing_is_zero():
    assert pct(2, 3) == 66.67 and pct(0, 0) == 0.0 and pct(5, 5) == 100.0


def test_figures_add_web_and_mobile_and_divide_by_all_and_eligible_members():
    sums = {"members_total": 8, "members_eligible": 6, "accounts_web": 2, "accounts_mobile": 3,
            "accounts_pending": 2, "accounts_approved": 3, "accounts_rejected": 1, "eligible_not_installed": 1,
            "registered": 6, "accounts_activated": 1}
    f = figures(UNIT, sums, readers_today=1, readers_7d=4, ineligible={"ốm": 1, "a": 1}, as_of=date(2023, 2, 1))
    assert (f["accounts_installed"], f["installed_pct_total"], f["installed_pct_eligible"]) == (5, 62.5, 83.33)
    assert f["funnel"] == {"registered": 6, "pending": 2, "approved": 3, "activated": 1}
    assert f["without_account"] == {"not_eligible": {"a": 1, "ốm": 1}, "eligible_not_registered": 1,
                                     "rejected": 1, "disabled": 0}
    assert list(f["without_account"]["not_eligible"]) == ["a", "ốm"]  # sorted by reason
    assert (f["unit_code"], f["as_of"], f["readers_7d"]) == ("ba-dinh", "2023-02-01", 4)


def test_a_unit_with_no_counters_has_zero_figures():
    f = figures(UNIT, {}, readers_today=0, readers_7d=0, ineligible={}, as_of=date(2023, 2, 1))
    assert all(f[name] == 0 for name in ("members_total", "accounts_installed", "installed_pct_total",
                                         "trained_people", "feedback_posted"))


def test_every_counter_is_named_once():
    assert len(set(COUNTERS)) == len(COUNTERS)


def test_the_city_publishes_under_city_and_other_units_under_their_committee():
    assert committee_of({"kind": "city", "committee": None}) == "city"
    assert committee_of({"kind": "cell", "committee": "tay-ho"}) == "tay-ho"


# --- the plan and the gauges ------------------------------------------------------------------------------

WAVE = {"number": 1, "name": "Làm điểm", "starts_on": date(2023, 1, 1), "target_pct": 80, "deadline": date(2023, 1, 11)}


@pytest.mark.parametrize("today,expected", [(date(2022, 12, 31), 0.0), (date(2023, 1, 1), 0.0),
                                            (date(2023, 1, 6), 40.0), (date(2023, 1, 11), 80.0),
                                            (date(2024, 1, 1), 80.0)])
def test_a_wave_is_expected_to_climb_from_0_at_its_start_to_its_target_at_its_deadline(today, expected):
    assert plan_expected(WAVE, today) == pytest.approx(expected)


def test_a_wave_lists_its_committees_behind_the_expected_share():
    committees = [{"code": "a", "name": "A", "wave": 1}, {"code": "b", "name": "B", "wave": 1},
                  {"code": "c", "name": "C", "wave": 2}]
    current = {"a": {"installed_pct_eligible": 50.0}, "b": {"installed_pct_eligible": 30.0},
               "c": {"installed_pct_eligible": 0.0}}
    shown = wave_progress(WAVE, committees, current, date(2023, 1, 6))
    assert shown["expected_pct_today"] == 40.0 and shown["behind"] == ["b"]
    assert [u["unit_code"] for u in shown["units"]] == ["a", "b"]
    assert (shown["starts_on"], shown["target_pct"]) == ("2023-01-01", 80.0)


def test_the_gauges_are_in_prometheus_text_format():
    body = prometheus_text([("city", {"members_total": 10, "installed_pct_total": 70.0})])
    assert "# TYPE sotay_rollout_members_total gauge\nsotay_rollout_members_total{unit=\"city\"} 10.0\n" in body
    assert "# HELP sotay_rollout_members_total Members in active standing" in body
    assert 'sotay_rollout_installed_pct_total{unit="city"} 70.0' in body
    assert "sotay_rollout_accounts_web{" not in body and body.endswith("\n")
