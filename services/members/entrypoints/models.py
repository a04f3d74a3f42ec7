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


ReadWhat = Literal["record", "self", "history", "corrections", "reads", "requests", "search"]
ReadPurpose = Literal["registry", "correction_review", "self", "access_review", "breach_notification",
                      "request_review"]


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
