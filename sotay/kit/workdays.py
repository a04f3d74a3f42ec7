"""Working days in Vietnam's offices, and the deadlines the law sets on them (a member's
data-subject requests, Decree 356/2025/NĐ-CP; any service may count them): weekends and the
public holidays of holidays.toml are not working days, a Saturday worked in exchange for a day
off is. Pure: the calendar is data, read once."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

HOLIDAYS = Path(__file__).with_name("holidays.toml")

# Decree 356/2025 gives the controller 2 *working* days to answer a request, and "15 days" (ngày,
# not ngày làm việc, in the same article that says working days for the answer) to carry it out,
# extendable once by up to 15 days: calendar days, the reading that gives the member the earlier
# date. A deadline on a weekend or a holiday is not moved later.
ACKNOWLEDGE_WORKING_DAYS = 2
COMPLETE_DAYS = 15
MAX_EXTENSION_DAYS = 15


@dataclass(frozen=True)
class Calendar:
    off: frozenset[date]
    worked: frozenset[date]
    years: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Calendar:
        raw = tomllib.loads(text)
        off = {date.fromisoformat(d) for year in raw.values() for d in year.get("off", [])}
        worked = {date.fromisoformat(d) for year in raw.values() for d in year.get("worked", [])}
        return cls(frozenset(off), frozenset(worked), frozenset(int(y) for y in raw))

    def is_working_day(self, day: date) -> bool:
        """A year the operator has not entered counts its weekends only: its deadlines come out
        earlier than the true ones, never later, until its days off are entered."""
        if day in self.worked:
            return True
        return day.weekday() < 5 and day not in self.off

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after `day` (the day itself not counted, whatever it is)."""
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def deadlines(self, received: date) -> tuple[date, date]:
        """(acknowledge by, complete by) for a request received on `received` (a Hanoi day)."""
        return (self.add_working_days(received, ACKNOWLEDGE_WORKING_DAYS),
                received + timedelta(days=COMPLETE_DAYS))

    def missing_years(self, *days: date) -> list[int]:
        return sorted({d.year for d in days} - self.years)


@cache
def calendar() -> Calendar:
    return Calendar.parse(HOLIDAYS.read_text())


def deadlines(received: date) -> tuple[date, date]:
    """The deadlines of a request received on `received`, warning the operator when a year they
    span has no days off entered (holidays.toml)."""
    cal = calendar()
    ack, due = cal.deadlines(received)
    if missing := cal.missing_years(received, ack, due):
        logging.getLogger(__name__).warning("No days off entered for %s in %s: counting weekends only",
                                            missing, HOLIDAYS.name)
    return ack, due
