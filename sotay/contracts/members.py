"""Events the member registry publishes (subjects `sotay.members.*.<committee>`).

Events leave the registry for other city systems, so they never carry a
citizen ID or a phone number in clear: identity matches registrations on
their keyed hashes (`*_hash`, HMAC-SHA256 of the normalised value).
"""

from datetime import date, datetime
from typing import Literal

from sotay.kit.events import Catalogue, Event

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


class MemberSnapshot(MembersEvent):
    """The registry's view of a member, as other services replicate it."""

    member_id: str
    party_card_no: str
    full_name: str
    # None once the member is minimised, years after they left (docs/personal-data.md, "Retention").
    date_of_birth: date | None
    gender: str | None
    unit: str
    unit_path: list[str]
    status: Status
    eligible: bool
    ineligible_reason: str | None
    admitted_on: date | None
    official_on: date | None
    citizen_id_hash: str | None
    phone_hash: str | None
    # The phone's last three digits: an approver compares a registrant's phone with the
    # registry's by them, without either number being shown.
    phone_tail: str | None = None


class MemberRegistered(MemberSnapshot):
    """A member entered the registry (admission, creation or import)."""

    source: Literal["api", "import", "demo"]


class MemberUpdated(MemberSnapshot):
    """A member's record changed (a clerk's edit or an accepted correction request)."""

    changed: list[str]
    correction_request_id: str | None = None


class MemberTransferred(MemberSnapshot):
    """A member moved to another unit ("chuyển sinh hoạt"); `unit` is the new one."""

    from_unit: str
    from_committee: str
    transfer_kind: Literal["official", "temporary"]
    reason: str | None


class MemberStatusChanged(MemberSnapshot):
    """A member's standing changed (e.g. exempt from activities, deceased, transferred out)."""

    from_status: Status
    reason: str | None


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


# The events a replica of the org tree follows, and those that carry a member's whole snapshot
# (a replica keeps a member from any of them).
UNIT_EVENTS = (OrgUnitCreated, OrgUnitUpdated)
MEMBER_SNAPSHOTS = (MemberRegistered, MemberUpdated, MemberTransferred, MemberStatusChanged)

CATALOGUE = Catalogue(OrgUnitCreated, OrgUnitUpdated, MemberRegistered, MemberUpdated, MemberTransferred,
                      MemberStatusChanged, UnusualRecordReads)
