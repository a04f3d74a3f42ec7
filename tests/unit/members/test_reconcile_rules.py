"""The reconciliation's pure rules (services/members/domain/reconcile.py)."""

from __future__ import annotations

from services.members.domain.reconcile import held_fields, steps, summary_unit


def test_a_member_coming_back_into_active_standing_changes_standing_before_the_transfer():
    assert steps(["unit", "status", "phone"], current_status="exempt", new_status="active") == [
        ("status", ["status"]), ("transfer", ["unit"]), ("update", ["phone"])]


def test_a_member_leaving_active_standing_is_transferred_first():
    assert steps(["status", "eligible", "ineligible_reason", "unit"], current_status="active",
                 new_status="deceased") == [("transfer", ["unit"]), ("status", ["status", "eligible", "ineligible_reason"])]


def test_fields_of_an_edit_only_make_one_edit():
    assert steps(["full_name", "date_of_birth"], current_status="active", new_status="active") == [
        ("update", ["full_name", "date_of_birth"])]


def test_the_summary_counts_a_difference_under_the_unit_just_below_the_callers():
    path = "/city/ba-dinh/ba-dinh-g1/ba-dinh-g1-c1/"
    assert summary_unit(path, ["/city/"]) == "ba-dinh"
    assert summary_unit(path, ["/city/ba-dinh/"]) == "ba-dinh-g1"
    assert summary_unit(path, ["/city/ba-dinh/ba-dinh-g1/ba-dinh-g1-c1/"]) == "ba-dinh-g1-c1"
    assert summary_unit(path, ["/city/", "/city/ba-dinh/"]) == "ba-dinh-g1"  # the nearest root


def test_fields_a_pending_request_proposes_are_held_back():
    assert held_fields(["full_name", "phone", "unit"], [{"phone"}, {"date_of_birth"}]) == ["phone"]
    assert held_fields(["full_name"], []) == []
