"""The request and response bodies of identity's HTTP API (/api/identity/v1/...)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- requests ----------------------------------------------------------------------------------

PurposeCode = Annotated[str, Field(max_length=40)]


class ConsentGiving(BaseModel):
    """What the registrant agreed to: the version of the privacy notice they were shown
    (GET /privacy-notice) and the purposes they ticked themselves."""
    model_config = ConfigDict(extra="forbid")
    notice_version: int = Field(ge=1, le=1_000_000, description="The version of the notice the registrant read; "
                                "an outdated one is refused (422 on consent.notice_version)")
    purposes: list[PurposeCode] = Field(max_length=20, description="The purpose codes ticked (none is ticked "
                                        "beforehand); without every required one the registration is refused "
                                        "(422 on consent.purposes)")


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_card_no: str = Field(max_length=20)
    full_name: str = Field(max_length=200)
    date_of_birth: date
    phone: str = Field(max_length=30)
    password: str = Field(max_length=1024)
    platform: Literal["web", "mobile"]
    # The body DESIGN.md fixes (other clients send it) has no consent: such a registration is taken,
    # with no consent recorded, and the member is asked for it at their first sign-in (the handbook).
    consent: ConsentGiving | None = Field(default=None, description="The registrant's consent to the privacy "
                                          "notice; without it, the member is asked at the first sign-in")


class ConsentChange(BaseModel):
    """A signed-in member agreeing to purposes of the current notice (again), from web or mobile."""
    model_config = ConfigDict(extra="forbid")
    notice_version: int = Field(ge=1, le=1_000_000)
    purposes: list[PurposeCode] = Field(min_length=1, max_length=20)
    platform: Literal["web", "mobile"]


class ConsentWithdrawal(BaseModel):
    """A signed-in member withdrawing purposes; withdrawing `account` asks for the account to be closed."""
    model_config = ConfigDict(extra="forbid")
    purposes: list[PurposeCode] = Field(min_length=1, max_length=20)
    platform: Literal["web", "mobile"]


class StatusQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_card_no: str = Field(max_length=20)
    password: str = Field(max_length=1024)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class BulkApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class RoleGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["member", "cell_secretary", "unit_admin", "editor", "chief_editor", "city_admin"]
    unit: str = Field(max_length=40)


class Disabling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


# --- responses ---------------------------------------------------------------------------------


class RegistrationReceived(BaseModel):
    """The same answer whatever the match: nothing tells whether a card number exists."""
    status: Literal["received"]
    message: str
    id: str


class OwnRegistration(BaseModel):
    """A registrant's own registration."""
    id: str
    status: Literal["pending", "approved", "rejected"]
    reason: str | None
    submitted_at: str


class ComparedField(BaseModel):
    """One detail as given beside the registry's (phones by their last three digits)."""
    field: str
    given: str | None
    registry: str | None
    same: bool


class Registration(BaseModel):
    """A registration as its approver sees it."""
    id: str
    party_card_no: str
    full_name: str
    date_of_birth: str
    platform: str
    match_result: str
    match_label: str = Field(description="The match as the approver is told it: the match result, except that "
                             "already_registered is has_account (the card has an account now) or duplicate "
                             "(another registration of the card came first; no account)")
    match_reasons: list[str]
    comparison: list[ComparedField] | None
    member_id: str | None
    unit: str | None
    given_phone: str | None = Field(description="The phone the registrant gave, by its last three digits")
    committee: str
    status: str
    reason: str | None
    decided_by: str | None
    decided_at: str | None
    submitted_at: str
    overdue: bool
    escalated_at: str | None = Field(None, description="when it escalated to the unit above, waiting past the term")
    escalated_to: str | None = Field(None, description="the unit it escalated to")


class RegistrationPage(BaseModel):
    items: list[Registration]
    next_cursor: str | None = Field(description="Opaque: hand it back as `cursor` for the next page")


class Decision(BaseModel):
    """A registration approved (with its new account) or rejected."""
    registration_id: str
    status: Literal["approved", "rejected"]
    account_id: str | None = None


class FieldError(BaseModel):
    field: str
    reason: str


class BulkResult(BaseModel):
    registration_id: str
    status: Literal["approved", "refused"]
    account_id: str | None = None
    code: Literal["not_matched", "not_approvable", "has_account", "already_decided", "out_of_scope"] | None = Field(
        None, description="Why it was refused, a stable code: not_matched (bulk approval takes matched "
        "registrations only), not_approvable, has_account, already_decided, out_of_scope (outside your units, "
        "or no such registration)")
    reason: str | None = None
    errors: list[FieldError] | None = None


class BulkDecision(BaseModel):
    results: list[BulkResult]
    approved: int


class Tokens(BaseModel):
    """OAuth2 tokens; with refresh_delivery=cookie the refresh token is in an HttpOnly cookie instead."""
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str | None = None


class Revoked(BaseModel):
    revoked: bool


class Jwks(BaseModel):
    keys: list[dict[str, str]]


class ServerMetadata(BaseModel):
    """RFC 8414 §2."""
    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    service_documentation: str
    ui_locales_supported: list[str]


class RoleHeld(BaseModel):
    role: str
    unit: str


class Me(BaseModel):
    subject: str
    card: str | None
    roles: list[RoleHeld]


class AccountRoles(BaseModel):
    account_id: str
    roles: list[RoleHeld]


class AccountStatus(BaseModel):
    account_id: str
    status: Literal["disabled"]


# --- the privacy notice and consents (issue 19) ------------------------------------------------


class InBothLanguages(BaseModel):
    vi: str
    en: str


class NoticePurpose(BaseModel):
    code: str = Field(description="Stable: what a registration or a consent names")
    required: bool = Field(description="The handbook cannot work without it: no account without it")
    name: InBothLanguages = Field(description="A few words")
    label: InBothLanguages = Field(description="What it covers, as the registrant ticks it")


class PrivacyNotice(BaseModel):
    """A version of the privacy notice: its purposes and its text (Markdown) in Vietnamese and English."""
    version: int
    published_on: str
    current: bool
    purposes: list[NoticePurpose]
    text: InBothLanguages


class PurposeStanding(BaseModel):
    """A purpose of the current notice as the member stands on it: their latest giving or withdrawal."""
    code: str
    required: bool
    given: bool
    notice_version: int | None = Field(description="The version of the notice of their latest giving or withdrawal")
    at: str | None
    method: Literal["web", "mobile"] | None


class ConsentEntry(BaseModel):
    """One giving or withdrawal: its purposes, the version of the notice, how, from what and when."""
    action: Literal["given", "withdrawn"]
    purposes: list[str]
    notice_version: int
    method: Literal["web", "mobile"]
    client: str = Field(description='The browser and system, e.g. "Chrome 120, Android"')
    at: str


class OwnConsents(BaseModel):
    """The signed-in member's consents."""
    notice_version: int = Field(description="The current version of the notice")
    purposes: list[PurposeStanding]
    history: list[ConsentEntry] = Field(description="Newest first")
    closure_requested: bool = Field(description="They withdrew the required purpose: asked for the account to be "
                                    "closed; their cell contacts them")


class UnitConsents(BaseModel):
    """A unit's member accounts by where their consent stands."""
    unit: str
    accounts: int
    current: int = Field(description="Agreed to the current version")
    older: int = Field(description="Agreed to an older version only")
    none: int = Field(description="No consent recorded (accounts made before the ledger)")
    closing: int = Field(description="Withdrew the required purpose: asked for the account to be closed")
    purposes: dict[str, int] = Field(description="How many hold each optional purpose")


class MemberConsent(BaseModel):
    account_id: str
    member_id: str
    full_name: str | None
    unit: str
    notice_version: int | None = Field(description="The version they agreed to (null: none, or withdrawn)")
    given_at: str | None
    method: Literal["web", "mobile"] | None
    purposes: list[str] = Field(description="The optional purposes they hold now")
    closure_requested: bool


class ConsentsByUnit(BaseModel):
    """Under one unit: per unit directly below it (the unit itself for its own members) the counts,
    and a page of its members by unit."""
    unit: str
    notice_version: int
    units: list[UnitConsents]
    items: list[MemberConsent]
    next_cursor: str | None


# --- password resets (issue 18): a code a cell secretary or unit admin issues -------------------


class ResetLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_card_no: str = Field(max_length=30)


class ResetRedeem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=30, description="The party card number, or the phone")
    code: str = Field(max_length=30, description="The 8 digits the secretary handed over (spaces allowed)")
    new_password: str = Field(max_length=1024)


class ResetAccount(BaseModel):
    """A member's account as the one issuing a reset code sees it."""
    account_id: str
    party_card_no: str
    full_name: str | None
    unit: str
    status: str
    live_code_expires_at: str | None = Field(description="When the code issued before expires, if one is live")


class ResetCode(BaseModel):
    """A new reset code: shown this once, never kept in clear."""
    account_id: str
    code: str
    expires_at: str
    valid_for_s: int


class ResetDone(BaseModel):
    reset: bool
