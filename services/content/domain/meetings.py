"""The calendar of a cell's meetings: the month's regular meeting is planned by the 20th of the
month before (Hanoi time), and a month is read in Hanoi time; who came is told from a tick list."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sotay.kit.clock import HANOI

PLANNING_DAY = 20  # the regular meeting of a month is planned by this day of the month before
KINDS = ("regular", "thematic")


def first_of(month: date) -> date:
    return month.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (first_of(day) + timedelta(days=32)).replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month as instants: its first midnight in Hanoi, and the next month's."""
    start = first_of(month)
    return (datetime.combine(start, datetime.min.time(), HANOI),
            datetime.combine(next_month(start), datetime.min.time(), HANOI))


def planning_deadline(month: date) -> datetime:
    """The last instant a month's regular meeting counts as planned on time: the end of the 20th of
    the month before, in Hanoi (the instant the 21st begins)."""
    before = (first_of(month) - timedelta(days=1)).replace(day=PLANNING_DAY + 1)
    return datetime.combine(before, datetime.min.time(), HANOI)


def presence_problems(present: list[str], excused: dict[str, str], members: set[str]) -> list[tuple[str, str]]:
    """What is wrong with a tick list: someone who is not a member of the cell, or marked both
    present and absent with a reason, or a reason left empty."""
    problems = [("present", f"{m} is not a member of this cell") for m in present if m not in members]
    problems += [("excused", f"{m} is not a member of this cell") for m in excused if m not in members]
    problems += [("excused", f"{m} is marked present") for m in excused if m in present]
    problems += [("excused", f"{m}: the reason is empty") for m, why in excused.items() if not why.strip()]
    return problems
