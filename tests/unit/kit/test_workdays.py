"""Deadlines of a data-subject request (Decree 356/2025): acknowledged within 2 working days
(weekends and Vietnam's days off not counted, a Saturday worked in exchange counted), completed
within 15 calendar days."""

from datetime import date

import pytest

from sotay.kit import workdays
from sotay.kit.workdays import Calendar

CAL = workdays.calendar()


@pytest.mark.parametrize(("received", "acknowledge_by", "due_by"), [
    # The Friday before Tết Bính Ngọ: 16–20/02 are off, the answer is due on the second working
    # day after the holiday week.
    (date(2026, 2, 13), date(2026, 2, 24), date(2026, 2, 28)),
    # Across 30/4–1/5 (Thu, Fri) and the weekend after.
    (date(2026, 4, 29), date(2026, 5, 5), date(2026, 5, 14)),
    # Giỗ Tổ on a Sunday: Monday 27/04 is off in lieu.
    (date(2026, 4, 24), date(2026, 4, 29), date(2026, 5, 9)),
    # Across Quốc khánh: 31/08 (for Saturday 22/08 worked), 01/09 and 02/09 are off.
    (date(2026, 8, 28), date(2026, 9, 4), date(2026, 9, 12)),
    # Saturday 22/08/2026 is worked, so it counts.
    (date(2026, 8, 21), date(2026, 8, 24), date(2026, 9, 5)),
    # Received on a Sunday: counting starts with Monday.
    (date(2026, 3, 8), date(2026, 3, 10), date(2026, 3, 23)),
    # A year boundary: 31/12/2026 counts, 01/01/2027 is off.
    (date(2026, 12, 30), date(2027, 1, 4), date(2027, 1, 14)),
])
def test_deadlines_count_weekends_and_holidays(received, acknowledge_by, due_by):
    assert CAL.deadlines(received) == (acknowledge_by, due_by)


def test_the_calendar_knows_each_kind_of_day():
    assert not CAL.is_working_day(date(2026, 2, 17))  # mùng 1 Tết
    assert not CAL.is_working_day(date(2026, 2, 21))  # a Saturday
    assert CAL.is_working_day(date(2026, 8, 22))      # a Saturday worked in exchange
    assert CAL.is_working_day(date(2026, 2, 23))


def test_a_year_without_entered_days_off_counts_weekends_only():
    cal = Calendar.parse('[2026]\noff = ["2026-12-31"]\n')
    # 31/12/2026 is off; 2027 is not entered, so its 01/01 counts as a working day: earlier, never later.
    assert cal.deadlines(date(2026, 12, 30)) == (date(2027, 1, 4), date(2027, 1, 14))
    assert cal.missing_years(date(2026, 12, 30), date(2027, 1, 4)) == [2027]
    assert CAL.missing_years(date(2026, 1, 1), date(2027, 12, 31)) == []


def test_every_entered_day_off_is_a_weekday_and_every_worked_day_a_weekend():
    assert all(d.weekday() < 5 for d in CAL.off) and all(d.weekday() >= 5 for d in CAL.worked)
    assert {2026, 2027} <= CAL.years
