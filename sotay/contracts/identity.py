"""Events identity publishes (subjects `sotay.identity.*.<committee>`).

They carry the platform (`web` or `mobile`) so the rollout figures can split
installed accounts by platform, and the unit so consumers can roll them up
the org tree. No password hash, phone or citizen ID ever leaves identity.
The consent events carry ids, the notice's version, purpose codes, the
method and the time: no name, card, phone, address or user agent.
"""

from datetime import datetime
from typing import Literal

from sotay.kit.events import Catalogue, Event

Platform = Literal["web", "mobile"]
MatchResult = Literal["matched", "not_in_registry", "details_differ", "already_registered", "not_eligible"]


class IdentityEvent(Event):
    service = "identity"


class RegistrationSubmitted(IdentityEvent):
    """A member registered an account from the app or the web; it waits for approval."""

    registration_id: str
    platform: Platform
    match_result: MatchResult
    match_reasons: list[str]
    member_id: str | None
    unit: str | None


class AccountApproved(IdentityEvent):
    """An approver of the member's unit approved the registration: the account exists."""

    account_id: str
    registration_id: str
    member_id: str
    unit: str
    platform: Platform


class AccountRejected(IdentityEvent):
    """An approver rejected the registration, with a reason the registrant sees."""

    registration_id: str
    member_id: str | None
    unit: str | None
    platform: Platform
    reason: str


class AccountActivated(IdentityEvent):
    """The account's first successful sign-in."""

    account_id: str
    member_id: str
    unit: str
    platform: Platform


class AccountDisabled(IdentityEvent):
    """The account can no longer sign in (member deceased, removed or transferred out, or by an admin)."""

    account_id: str
    member_id: str
    unit: str
    platform: Platform
    reason: str


class AccountMoved(IdentityEvent):
    """The member was transferred; the account follows to the new unit."""

    account_id: str
    member_id: str
    from_unit: str
    unit: str
    platform: Platform


class RegistrationEscalated(IdentityEvent):
    """A registration waited at its unit longer than the approval term (SOTAY_APPROVAL_OVERDUE_DAYS):
    it escalates to the unit above, on whose subject this goes (`escalated_to`); its approvers see it
    first. Once per registration."""

    registration_id: str
    unit: str
    escalated_to: str
    submitted_at: datetime
    waited_days: int


class ConsentGiven(IdentityEvent):
    """A registrant (at registration) or a member (on their page) agreed to purposes of the privacy
    notice, the version they were shown. `account_id` is null before the registration is approved;
    `member_id` when the registration found the member in the registry."""

    registration_id: str
    account_id: str | None
    member_id: str | None
    notice_version: int
    purposes: list[str]
    method: Platform
    at: datetime


class ConsentWithdrawn(IdentityEvent):
    """A member withdrew purposes they had agreed to. Withdrawing `account` (the required purpose)
    is asking for the account to be closed: the member's cell contacts them. Services that act on a
    purpose stop (content forgets the account's devices when `push` is withdrawn)."""

    registration_id: str
    account_id: str | None
    member_id: str | None
    notice_version: int
    purposes: list[str]
    method: Platform
    at: datetime


CATALOGUE = Catalogue(RegistrationSubmitted, AccountApproved, AccountRejected, AccountActivated, AccountDisabled,
                      AccountMoved, ConsentGiven, ConsentWithdrawn, RegistrationEscalated)
