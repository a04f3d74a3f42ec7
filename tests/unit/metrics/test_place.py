"""Where a dashboard opens, and where the plan says a unit should be (services/metrics/domain/rollout.py)."""

from datetime import date

from services.metrics.domain.rollout import highest, wave_line, weighted_expected


def test_a_person_s_dashboard_opens_at_the_highest_unit_they_are_granted_on():
    cell = {"code": "bd-g1-c1", "path": "/city/bd/bd-g1/bd-g1-c1/"}
    committee = {"code": "bd", "path": "/city/bd/"}
    assert highest([cell, committee]) == committee
    assert highest([cell]) == cell and highest([]) is None
    assert highest([{"code": "th", "path": "/city/th/"}, committee]) == committee  # equals: by code


def test_a_wave_s_line_says_where_its_units_should_be_today():
    wave = {"number": 1, "name": "Làm điểm", "starts_on": date(2026, 1, 1), "target_pct": 80,
            "deadline": date(2026, 1, 11)}
    assert wave_line(wave, date(2026, 1, 6))["expected_pct_today"] == 40.0
    assert wave_line(wave, date(2025, 12, 1))["expected_pct_today"] == 0.0


def test_the_city_s_expected_figure_weighs_its_committees_by_eligible_members():
    assert weighted_expected([(100.0, 30), (40.0, 10)]) == 85.0
    assert weighted_expected([(None, 30)]) is None
    assert weighted_expected([(50.0, 0), (30.0, 0)]) == 40.0
