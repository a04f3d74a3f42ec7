"""The registry API's request and response models (pydantic): what a route takes, and what
it answers (documented in its OpenAPI document; the routes shape their JSON themselves)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sotay.kit.clock import HANOI

# --- requests -------------------------------------------------------------------------


class OrgUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=2, max_length=200)
    kind: Literal["city", "committee", "grassroots", "cell"]
    parent: str | None = None
    wave: int | None = Field(default=None, ge=1, le=20)


class OrgUnitChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    wave: int | None = Field(default=None, ge=1, le=20)
    closed: bool | None = None


Text = str | None


class MemberCreate(BaseModel):
    """Member fields as in the import columns; rules are the registry's (domain.parse_member)."""
    model_config = ConfigDict(extra="forbid")
    party_card_no: str
    full_name: str
    date_of_birth: str
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    unit: str
    admitted_on: Text = None
    official_on: Text = None
    status: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None


class MemberSearch(BaseModel):
    """A search in a body: a phone number in a URL would be written down by every proxy on the way."""
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=40)
    cursor: str | None = Field(default=None, max_length=1000)
    limit: int = Field(default=50, ge=1, le=500)


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: Text = None
    date_of_birth: Text = None
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    admitted_on: Text = None
    official_on: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None
    reason: str | None = Field(default=None, max_length=1000)


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_unit: str
    kind: Literal["official", "temporary"] = "official"
    reason: str | None = Field(default=None, max_length=1000)
    until: date | None = Field(default=None, description="a temporary transfer's end date (required for one): "
                                                          "the member returns home that day")


class TemporaryStayEnd(BaseModel):
    """A temporary stay ended earlier than planned, by a decision."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "probationary", "exempt", "transferred_out", "deceased", "removed"]
    eligible: bool | None = None
    ineligible_reason: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=1000)


class Restriction(BaseModel):
    """Restricting processing of a member's data at their request (a data-subject request), or lifting it."""

    model_config = ConfigDict(extra="forbid")
    restricted: bool
    reason: str = Field(min_length=1, max_length=1000)
    request_id: str | None = Field(default=None, description="the member's data-subject request this answers")


class CorrectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any]
    note: str | None = Field(default=None, max_length=2000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


def moment(value: datetime | None) -> datetime | None:
    """A moment of the access history's period: one without an offset is Hanoi's; one far outside
    the system's life is refused (its UTC could not even be written)."""
    if value is None:
        return None
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return value if value.tzinfo else value.replace(tzinfo=HANOI)


class AccessHistoryQuery(BaseModel):
    """Whose access history: members (by id or party card number), or what one staff account read
    (`account`), or both; over a period (`since` included, `until` not)."""
    model_config = ConfigDict(extra="forbid")
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    party_card_nos: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list, max_length=1000)
    account: str | None = Field(default=None, min_length=1, max_length=200,
                                description="A staff account's id: the reads it made")
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = Field(default=None, max_length=1000,
                               description="Why it is asked (an incident's reference): kept in the audit")

    @field_validator("since", "until")
    @classmethod
    def in_hanoi(cls, value: datetime | None) -> datetime | None:
        return moment(value)


class AccessHistoryPage(AccessHistoryQuery):
    limit: int = Field(default=1000, ge=1, le=5000)


class AlertClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=1000, description="What the operator found and did")


# --- responses ------------------------------------------------------------------------


class OrgUnit(BaseModel):
    id: str
    code: str
    name: str
    kind: Literal["city", "committee", "grassroots", "cell"]
    committee: str
    path: list[str] = Field(description="The unit codes from the city down to this unit.")
    wave: int | None
    parent: str | None
    closed: bool
    version: int


class OrgUnitPage(BaseModel):
    items: list[OrgUnit]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page.")


class MemberSummary(BaseModel):
    """A member as a list, a transfer or a status change shows them."""
    id: str
    party_card_no: str
    full_name: str
    date_of_birth: date | None = Field(description="None once the member is minimised, years after they left")
    gender: str | None
    unit: str
    unit_name: str | None = Field(None, description="The unit's name (Chi bộ số 2), to tell namesakes apart")
    committee: str
    status: str
    eligible: bool
    ineligible_reason: str | None
    has_account: bool
    temporary_unit: str | None
    temporary_until: date | None = Field(None, description="the end of a temporary stay in `temporary_unit`")
    version: int
    admitted_on: date | None
    official_on: date | None
    restricted: bool = Field(False, description="processing of the member's data is restricted at their request: "
                                                "the registry's events carry nothing of them meanwhile")


class MemberRecord(MemberSummary):
    """A member's full record: their identifiers (masked for readers who are not registry
    writers) and the record's times."""
    citizen_id: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime


class MemberPage(BaseModel):
    items: list[MemberSummary]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page.")


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]
    reason: str | None


class MemberHistory(BaseModel):
    items: list[HistoryEntry]


class CorrectionRequest(BaseModel):
    id: str
    member_id: str
    requested_by: str
    changes: dict[str, Any]
    note: str | None
    status: Literal["pending", "accepted", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    # In a list of requests only:
    party_card_no: str | None = None
    full_name: str | None = None
    masked: bool | None = Field(default=None, description="Whether the proposed values are shown masked.")
    can_decide: bool | None = Field(default=None, description="Whether the caller may accept or reject it.")
    current: dict[str, Any] | None = Field(default=None, description="In a list of requests: what the record "
                                           "says now of each field the request would change (masked as `changes`).")


class CorrectionRequests(BaseModel):
    items: list[CorrectionRequest]


RequestKind = Literal["correction", "restriction", "objection", "erasure", "other"]
RequestStatus = Literal["received", "acknowledged", "extended", "completed", "refused"]


class SubjectRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: RequestKind
    asked: str = Field(min_length=1, max_length=2000, description="What the member asks, in their own words")


class RequestExtension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=15, description="Days added to the deadline (once only)")
    reason: str = Field(min_length=1, max_length=1000, description="Why, as the member is told")


class RequestOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=2000, description="What was done, in plain words to the member")


class RequestRefusal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="Why not, in plain words to the member")


class SubjectRequest(BaseModel):
    id: str
    member_id: str
    kind: RequestKind
    asked: str
    correction_id: str | None
    status: RequestStatus
    received_at: datetime
    acknowledge_by: date = Field(description="The day (Hanoi) by which it is acknowledged: 2 working days")
    due_by: date = Field(description="The day (Hanoi) by which it is completed: 15 days")
    acknowledged_at: datetime | None
    extended_to: date | None = Field(description="The deadline once extended (once only, up to 15 days)")
    extension_reason: str | None
    decided_at: datetime | None
    outcome: str | None = Field(description="What was done, or why not, in plain words to the member")
    overdue: bool
    unit: str
    unit_name: str
    # In the staff list only:
    party_card_no: str | None = None
    full_name: str | None = None
    acknowledged_by: str | None = None
    decided_by: str | None = None
    can_act: bool | None = Field(default=None, description="Whether the caller may act on it")


class SubjectRequests(BaseModel):
    items: list[SubjectRequest]


# --- the yearly review and ranking (handlers/reviews.py) -------------------------------------------

Level = Literal["excellent", "good", "done", "not_done"]
LEVELS_SAID = ("excellent: Hoàn thành xuất sắc nhiệm vụ; good: Hoàn thành tốt nhiệm vụ; done: Hoàn thành nhiệm vụ; "
               "not_done: Không hoàn thành nhiệm vụ")
Year = Annotated[int, Field(ge=2000, le=2100, description="The year reviewed")]
Stage = Literal["self_assessment", "deciding", "closed"]


class ReviewCycleCreate(BaseModel):
    """A year's review, opened by the city: members write their self-assessment by the first
    deadline, units decide by the second (Hanoi days, in the year reviewed or the next)."""
    model_config = ConfigDict(extra="forbid")
    year: Year
    self_assessment_due: date
    decision_due: date
    excellent_cap_pct: int = Field(20, ge=1, le=100, description=(
        "At most this share of a unit's members rated excellent: the deciding unit is warned beyond it"))


class ReviewCycleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    self_assessment_due: date | None = None
    decision_due: date | None = None
    excellent_cap_pct: int | None = Field(None, ge=1, le=100)


class SelfAssessment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: Year
    self_assessment: str = Field(min_length=1, max_length=5000, description="The member's own words")
    proposed_level: Level = Field(description=LEVELS_SAID)


class CellProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Level = Field(description=LEVELS_SAID)
    comment: str = Field(min_length=1, max_length=2000, description="The cell's assessment of the member")


class ReviewDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Level = Field(description=LEVELS_SAID)


class ReviewCycle(BaseModel):
    year: int
    self_assessment_due: date
    decision_due: date
    excellent_cap_pct: int
    stage: Stage = Field(description="self_assessment (members write), deciding (cells propose, units decide), closed")
    opened_at: datetime


class ReviewCycles(BaseModel):
    items: list[ReviewCycle]


class MyReview(BaseModel):
    """A member's review of a year, as they see it."""
    year: int
    self_assessment: str | None
    proposed_level: Level | None
    submitted_at: datetime | None
    cell_level: Level | None = Field(description="The level the cell proposed")
    cell_comment: str | None
    cell_at: datetime | None
    decided_level: Level | None = Field(description="The final level the unit decided")
    decided_at: datetime | None
    decided_unit: str | None
    decided_unit_name: str | None
    unit: str = Field(description="The cell the member was in when the review was last acted on")
    unit_name: str
    self_assessment_due: date
    decision_due: date
    stage: Stage


class MyReviews(BaseModel):
    items: list[MyReview]


class StaffReview(BaseModel):
    """A reviewed member of the unit and their review of the year (none yet: its fields null)."""
    year: int
    member_id: str
    full_name: str
    unit: str
    unit_name: str
    id: str | None = Field(description="The review's id, once the member or the cell wrote it")
    self_assessment: str | None
    proposed_level: Level | None
    submitted_at: datetime | None
    cell_level: Level | None
    cell_comment: str | None
    cell_at: datetime | None
    decided_level: Level | None
    decided_at: datetime | None
    decided_unit: str | None
    decided_unit_name: str | None
    can_propose: bool = Field(description="Whether the caller may propose a level now (the cell's secretary)")
    can_decide: bool = Field(description="Whether the caller may decide the level now (a unit administrator)")


class StaffReviews(BaseModel):
    items: list[StaffReview]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page.")


class ExcellentCheck(BaseModel):
    """The share of a unit's reviewed members decided excellent, against the cycle's cap."""
    unit: str
    unit_name: str
    members: int
    excellent: int
    share_pct: float
    cap_pct: int
    allowed: int = Field(description="The most members the cap allows (rounded down)")
    exceeded: bool = Field(description="A warning for the deciding unit, never a refusal")


class ReviewDecision(BaseModel):
    review: StaffReview
    check: ExcellentCheck = Field(description="The deciding unit's share of excellent members after this decision")


class CellWaiting(BaseModel):
    unit: str
    unit_name: str
    members: int
    self_assessed: int
    proposed: int
    decided: int
    overdue: bool


class ReviewLevels(BaseModel):
    excellent: int
    good: int
    done: int
    not_done: int


class ReviewSummary(BaseModel):
    """A unit's review of a year in counts (no names)."""
    year: int
    unit: str
    unit_name: str
    cycle: ReviewCycle
    members: int = Field(description="Reviewed members of the unit's subtree (active and probationary)")
    self_assessed: int
    proposed: int = Field(description="Members the cell has proposed a level for")
    decided: int
    levels: ReviewLevels = Field(description="The decided levels")
    check: ExcellentCheck
    cells: int
    cells_not_done: int = Field(description="Cells that have not proposed a level for every member")
    overdue: bool = Field(description="The decision deadline passed with members not decided")
    waiting: list[CellWaiting] = Field(description="The cells not done (the first 200), in the tree's order")


class ImportStarted(BaseModel):
    id: str
    status: Literal["running"]


class RowError(BaseModel):
    row: int
    field: str
    column: str | None = Field(None, description="The field's column as the file heads it (Số thẻ đảng viên, …)")
    reason: str


class ImportStatus(BaseModel):
    id: str
    filename: str
    status: Literal["running", "done", "failed"]
    total_rows: int
    imported: int
    rejected: int
    errors: list[RowError]
    created_by: str
    started_at: datetime
    finished_at: datetime | None


class AccessedMember(BaseModel):
    id: str
    party_card_no: str
    full_name: str
    unit: str
    unit_name: str


ReadWhat = Literal["record", "self", "history", "corrections", "reads", "requests", "search", "reviews"]
ReadPurpose = Literal["registry", "correction_review", "self", "access_review", "breach_notification",
                      "request_review", "yearly_review"]


class RecordRead(BaseModel):
    """One read of one member's data: when, who, what, why."""
    at: datetime
    member_id: str
    account: str = Field(description="The account that read")
    reader_name: str | None = Field(description="Their name, when the registry knows their card")
    reader_role: str | None = Field(description="The role they read in (older reads: unknown)")
    reader_unit: str | None = Field(description="The unit that role is held over")
    reader_unit_name: str | None
    what: ReadWhat = Field(description="record, self (one's own), history, corrections, reads (this history)")
    purpose: ReadPurpose
    masked: bool = Field(description="Whether the citizen ID and phone were shown masked")
    reason: str | None


class AccessHistory(BaseModel):
    members: list[AccessedMember]
    reads: list[RecordRead] = Field(description="One row per read and member, oldest first")
    truncated: bool = Field(description="More reads than `limit`: narrow the period")


class UnusualReadAlert(BaseModel):
    """A staff account opened more full records within an hour than SOTAY_UNUSUAL_READS_PER_HOUR."""
    id: str
    account: str
    reader_name: str | None
    reader_role: str | None
    reader_unit: str | None
    reader_unit_name: str | None
    reads: int
    threshold: int
    window_start: datetime
    window_end: datetime
    raised_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    note: str | None


class UnusualReadAlerts(BaseModel):
    items: list[UnusualReadAlert]


# --- reconciliation with the national database (docs/reconcile.md) ----------------------------------


class ReconciliationUnit(BaseModel):
    unit: str
    name: str
    new: int
    changed: int
    missing: int
    conflicts: int
    outside: int
    identical: int


class ReconciliationTotals(BaseModel):
    new: int
    changed: int
    missing: int
    conflicts: int
    outside: int


class Reconciliation(BaseModel):
    id: str
    filename: str
    created_at: datetime
    status: Literal["compared", "applying", "applied"]
    rows_total: int
    rows_outside: int = Field(description="Rows of units outside the caller's, left out")
    identical: int
    totals: ReconciliationTotals
    differences: int
    units: list[ReconciliationUnit] = Field(description="Counts per unit (the units under the caller's)")
    applied_at: datetime | None
    outcome: dict[str, int] | None = Field(description="After applying: events written, members applied, "
                                                        "skipped, held back")


class Reconciliations(BaseModel):
    items: list[Reconciliation]
