"""Events the member registry publishes (subjects `sotay.members.*.<committee>`).

Events leave the registry for other city systems, and streams cannot be edited: what a member
event says of the person is sealed under the member's own key (`personal`, MemberPersonal), which
the registry destroys when it erases them (crypto-shredding, sotay/kit/member_keys.py). Inside
it, what identity matches registrations on goes as keyed hashes (`*_hash`, HMAC-SHA256 of the
normalised value). docs/events.md says why each field is there.
"""

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel

from sotay.kit.events import Catalogue, Event
from sotay.kit.text import fold

Kind = Literal["city", "committee", "grassroots", "cell"]
Status = Literal["active", "probationary", "exempt", "transferred_out", "deceased", "removed"]


class MembersEvent(Event):
    service = "members"


class OrgUnitCreated(MembersEvent):
    """A unit of the org tree was created."""

    unit_id: str
    code: str
    name: str
    kind: Kind
    parent: str | None
    committee: str
    path: list[str]  # codes from the city down to this unit
    wave: int | None


class OrgUnitUpdated(MembersEvent):
    """A unit was renamed, moved to another rollout wave or closed."""

    unit_id: str
    code: str
    name: str
    wave: int | None
    closed: bool


class MemberPersonal(BaseModel):
    """What a member event says of the person, sealed in its `personal` (sotay/kit/member_keys.py):
    what identity matches a registration on, as keyed hashes (`*_hash`: HMAC-SHA256 of the
    normalised value, the key held by members and identity), and the card number and name content
    finds a reader and names them by. Nothing else of the person leaves the registry: no date of
    birth (its keyed hash only: with the gender it would narrow a citizen ID guess), no gender, no
    citizen ID, no phone, no dates of admission (docs/events.md, "What member events carry")."""

    party_card_no: str
    full_name: str
    name_hash: str  # of the name folded (fold(): no accents, no case, single spaces)
    date_of_birth_hash: str | None  # None once the member is minimised (docs/personal-data.md, "Retention")
    citizen_id_hash: str | None
    phone_hash: str | None
    # The phone's last three digits: an approver compares a registrant's phone with the
    # registry's by them, without either number being shown.
    phone_tail: str | None = None


# What version 1 of the member events said of the person in clear (before issue 19), and the
# reason a clerk wrote: none of it is in version 2's clear part.
V1_PERSONAL = ("party_card_no", "full_name", "date_of_birth", "gender", "admitted_on", "official_on",
               "citizen_id_hash", "phone_hash", "phone_tail", "reason")


def member_v1_as_v2(data: dict, hasher) -> dict:
    """A version 1 member event's payload as version 2's once its `personal` is opened: the card,
    the name and the keyed hashes (v1 carried the citizen ID's and the phone's, made with the key
    version 2 uses; the name's and the date of birth's are made here by `hasher`, the consumer's
    keyed hash, or left None where the service holds no key and needs none). Nothing else of the
    person is kept: the gender, the dates of admission and the clerk's reason are dropped."""
    person = {"party_card_no": data["party_card_no"], "full_name": data["full_name"],
              "name_hash": hasher(fold(data["full_name"])) if hasher else None,
              "date_of_birth_hash": hasher(data["date_of_birth"]) if hasher and data.get("date_of_birth") else None,
              "citizen_id_hash": data.get("citizen_id_hash"), "phone_hash": data.get("phone_hash"),
              "phone_tail": data.get("phone_tail")}
    clear = {k: v for k, v in data.items() if k not in V1_PERSONAL}
    return {**clear, "restricted": False, "personal": person}


class MemberSnapshot(MembersEvent):
    """The registry's view of a member, as other services replicate it. Version 2: the person is
    sealed in `personal` under the member's own key, which members destroys when retention
    minimises the member (every earlier event's part then opens no more); in clear only what counts
    and scopes need (the unit, the standing, whether eligible and why not). Consumers read version 1
    too, as a version 2 already opened (member_v1_as_v2; docs/events.md, "Versions")."""

    version: ClassVar[int] = 2
    older_versions: ClassVar[dict] = {1: member_v1_as_v2}

    member_id: str
    unit: str
    unit_path: list[str]
    status: Status
    eligible: bool
    ineligible_reason: str | None
    # Where the member attends meanwhile (chuyển sinh hoạt tạm thời: content counts them in that
    # cell's meetings; the record stays with `unit`), and until when; None when at home.
    temporary_unit: str | None = None
    temporary_until: date | None = None
    # The member asked that processing of their data be restricted (a data-subject request): while
    # true, `personal` is None and every replica drops what it holds of the person; the event that
    # lifts it brings the person back.
    restricted: bool = False
    # MemberPersonal sealed under the member's key (base64url); None while restricted.
    personal: str | None


class MemberRegistered(MemberSnapshot):
    """A member entered the registry (admission, creation or import)."""

    source: Literal["api", "import", "demo"]


class MemberUpdated(MemberSnapshot):
    """A member's record changed (a clerk's edit or an accepted correction request); `changed`
    names the fields, never their values."""

    changed: list[str]
    correction_request_id: str | None = None


class MemberTransferred(MemberSnapshot):
    """A member moved to another unit ("chuyển sinh hoạt"): officially (`unit` is the new one), or
    temporarily (`temporary_unit` until `temporary_until`, `unit` stays), or back home from a
    temporary stay (`return`: on its end date, or earlier by a decision; `from_unit` is the cell
    they leave). The reason a clerk wrote stays in the registry's history."""

    from_unit: str
    from_committee: str
    transfer_kind: Literal["official", "temporary", "return"]


class MemberStatusChanged(MemberSnapshot):
    """A member's standing changed (e.g. exempt from activities, deceased, transferred out). The
    reason a clerk wrote stays in the registry's history."""

    from_status: Status


class SubjectRequestEscalated(MembersEvent):
    """A member's data-subject request went past its deadline at their unit (not acknowledged in 2
    working days, or not settled by its due day): it escalates to the unit above, on whose subject
    this goes. Ids, units and days only: never what the member asked."""

    request_id: str
    unit: str
    escalated_to: str
    overdue_since: date  # the day it became overdue: its acknowledge-by or due day


class SubjectRequestSettled(MembersEvent):
    """An escalated data-subject request was settled (completed or refused): the units above stop
    counting it as overdue. Ids and the unit only."""

    request_id: str
    unit: str


class UnusualRecordReads(MembersEvent):
    """A staff account opened more full member records (their identifiers in clear) within an
    hour than the registry's threshold (SOTAY_UNUSUAL_READS_PER_HOUR): a possible breach for the
    operator to look into. Raised once an account an hour, on the city's subject. It names the
    account, never the members it read: the access history tells those to whoever may see it."""

    alert_id: str
    account_id: str
    reads: int  # full records the account opened within the window
    threshold: int
    window_start: datetime
    window_end: datetime


Level = Literal["excellent", "good", "done", "not_done"]


class ReviewSubmitted(MembersEvent):
    """A member wrote (or rewrote) their self-assessment of the year's review (kiểm điểm): ids
    only, never its words nor the level they proposed. `unit` is their cell."""

    year: int
    member_id: str
    unit: str


class ReviewDecided(MembersEvent):
    """The unit with authority decided a member's level for the year (đánh giá, xếp loại):
    excellent ("Hoàn thành xuất sắc nhiệm vụ"), good ("Hoàn thành tốt nhiệm vụ"), done ("Hoàn
    thành nhiệm vụ") or not_done ("Không hoàn thành nhiệm vụ"). Decided again before the cycle's
    decision deadline, the later event replaces the earlier (its `sequence` is higher). `unit` is
    the member's cell; no comment of the cell's or the member's goes out."""

    year: int
    member_id: str
    unit: str
    level: Level


# The events a replica of the org tree follows, and those that carry a member's whole snapshot
# (a replica keeps a member from any of them).
UNIT_EVENTS = (OrgUnitCreated, OrgUnitUpdated)
MEMBER_SNAPSHOTS = (MemberRegistered, MemberUpdated, MemberTransferred, MemberStatusChanged)

CATALOGUE = Catalogue(OrgUnitCreated, OrgUnitUpdated, MemberRegistered, MemberUpdated, MemberTransferred,
                      MemberStatusChanged, UnusualRecordReads, SubjectRequestEscalated, SubjectRequestSettled, ReviewSubmitted,
                      ReviewDecided)
