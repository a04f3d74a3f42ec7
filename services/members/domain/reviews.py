"""The yearly review and ranking of members (kiểm điểm, đánh giá, xếp loại đảng viên), issue 20:
pure rules, no I/O.

The city opens a cycle for a year with two deadlines: members write their self-assessment and
propose a level by the first; the cell proposes a level for each member with its comment, and
the unit with authority decides the final level, by the second. Levels as the Party's rules name
them. A unit should rate at most a share of its members (by default 20%) "Hoàn thành xuất sắc
nhiệm vụ": the check warns the deciding unit, it never refuses a decision.

Deadlines are Hanoi days. The self-assessment deadline closes the members' part (after it the
cell proposes for whoever wrote nothing); the decision deadline is the units' target: a decision
made after it is late, and is still taken, but a decided level stands once it has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

# The four levels, best first (Quy định, Hướng dẫn kiểm điểm, đánh giá, xếp loại chất lượng đảng viên).
LEVELS = ("excellent", "good", "done", "not_done")
LEVEL_NAMES = {
    "excellent": "Hoàn thành xuất sắc nhiệm vụ",
    "good": "Hoàn thành tốt nhiệm vụ",
    "done": "Hoàn thành nhiệm vụ",
    "not_done": "Không hoàn thành nhiệm vụ",
}
DEFAULT_EXCELLENT_CAP_PCT = 20
# Members in these standings are reviewed; one exempt from activities (miễn sinh hoạt) is not rated.
REVIEWED_STANDING = ("active", "probationary")
FIRST_YEAR, LAST_YEAR = 2000, 2100

# The stages of a cycle on a given day.
SELF_ASSESSMENT, DECIDING, CLOSED = "self_assessment", "deciding", "closed"


@dataclass(frozen=True)
class Cycle:
    year: int
    self_assessment_due: date
    decision_due: date
    excellent_cap_pct: int = DEFAULT_EXCELLENT_CAP_PCT


def stage(cycle: Cycle, today: date) -> str:
    """Members write until the self-assessment deadline (that day included); units decide until
    the decision deadline; then the cycle is closed."""
    if today <= cycle.self_assessment_due:
        return SELF_ASSESSMENT
    if today <= cycle.decision_due:
        return DECIDING
    return CLOSED


def cycle_problems(year: int, self_assessment_due: date, decision_due: date, *, today: date,
                   changed: tuple[str, ...] = ("self_assessment_due", "decision_due")) -> list[tuple[str, str]]:
    """What is wrong with a cycle's deadlines (field, reason): each in the year reviewed or the
    next (a review of 2025 is held late in 2025 or early in 2026), the decisions not before the
    self-assessments, and a deadline being set (`changed`) not already past."""
    problems: list[tuple[str, str]] = []
    dates = {"self_assessment_due": self_assessment_due, "decision_due": decision_due}
    for field, day in dates.items():
        if day.year not in (year, year + 1):
            problems.append((field, "must be in the year reviewed or the next"))
        elif field in changed and day < today:
            problems.append((field, "is already past"))
    if decision_due < self_assessment_due and not any(f == "decision_due" for f, _ in problems):
        problems.append(("decision_due", "must not be before the self-assessment deadline"))
    return problems


# Why a step is refused: (status, title, detail) by a stable code the pages say in Vietnamese.
REFUSALS = {
    "not_reviewed": (409, "Not reviewed", "A member exempt from activities, or no longer in the Party, is not rated."),
    "review_decided": (409, "Already decided", "The unit has decided this review: it stands."),
    "self_assessment_closed": (409, "Self-assessments closed",
                               "The deadline for self-assessments has passed; the cell assesses the member."),
    "awaiting_self_assessment": (409, "Awaiting the self-assessment",
                                 "The member may write their self-assessment until its deadline."),
    "awaiting_cell": (409, "Awaiting the cell", "The cell proposes a level before the unit decides."),
}


def submit_refusal(cycle: Cycle, today: date, *, standing: str, decided: bool) -> str | None:
    """Why a member may not write (or rewrite) their self-assessment now, or None."""
    if standing not in REVIEWED_STANDING:
        return "not_reviewed"
    if decided:
        return "review_decided"
    if today > cycle.self_assessment_due:
        return "self_assessment_closed"
    return None


def proposal_refusal(cycle: Cycle, today: date, *, standing: str, submitted: bool, decided: bool) -> str | None:
    """Why the cell may not propose a level now, or None: it waits for the member's own
    assessment until its deadline, and proposes again as often as it likes until the unit decides."""
    if standing not in REVIEWED_STANDING:
        return "not_reviewed"
    if decided:
        return "review_decided"
    if not submitted and today <= cycle.self_assessment_due:
        return "awaiting_self_assessment"
    return None


def decision_refusal(cycle: Cycle, today: date, *, standing: str, proposed: bool, decided: bool) -> str | None:
    """Why the unit may not decide now, or None: after the cell's proposal; a decision may be
    changed until the decision deadline, a late first decision is still taken."""
    if standing not in REVIEWED_STANDING:
        return "not_reviewed"
    if decided and today > cycle.decision_due:
        return "review_decided"
    if not proposed:
        return "awaiting_cell"
    return None


@dataclass(frozen=True)
class ExcellentCheck:
    """The share of a unit's reviewed members rated excellent against the cycle's cap."""

    members: int
    excellent: int
    cap_pct: int

    @property
    def allowed(self) -> int:
        """The most members the cap allows (rounded down: 20% of 4 members is none)."""
        return self.members * self.cap_pct // 100

    @property
    def share_pct(self) -> float:
        if not self.members:
            return 0.0
        return float((Decimal(self.excellent * 100) / Decimal(self.members)).quantize(Decimal("0.01"), ROUND_HALF_UP))

    @property
    def exceeded(self) -> bool:
        return self.excellent * 100 > self.cap_pct * self.members


def overdue(cycle: Cycle, today: date, *, done: bool) -> bool:
    """A unit's (or a cell's) part not done once the decision deadline has passed."""
    return not done and today > cycle.decision_due
