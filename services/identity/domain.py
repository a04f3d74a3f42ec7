"""Identity rules: matching a registration against the registry replica, what an
approver compares and may approve, password rules, the throttles that slow guessing
without locking members out, and who may grant which role."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sotay.contracts.fields import ACTIVE_STANDING
from sotay.kit.events import CITY
from sotay.kit.text import fold

MIN_PASSWORD = 8
MAX_PASSWORD = 128
COMMON_PASSWORDS = frozenset(
    line.strip().lower() for line in (Path(__file__).parent / "common_passwords.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#"))


def password_problems(password: str, *, card_no: str, phone: str) -> list[str]:
    """Reasons a password is refused (NIST 800-63B style: length and a block list, no composition rules)."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        problems.append(f"must be at most {MAX_PASSWORD} characters")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2:
        problems.append("is too common; choose another")
    digits = "".join(c for c in password if c.isdigit())
    if digits and digits == password and (digits in card_no or digits in phone.replace("+84", "0")):
        problems.append("must not be your card or phone number")
    return problems


@dataclass(frozen=True)
class RegistryEntry:
    """A member as identity's replica holds them: what matching needs, as keyed hashes."""

    member_id: str
    card_hash: str | None
    name_hash: str | None
    dob_hash: str | None  # None once members minimised the member (retention)
    unit: str
    unit_path: str
    committee: str
    status: str
    eligible: bool
    phone_hash: str | None


@dataclass(frozen=True)
class Match:
    result: str  # matched | not_in_registry | details_differ | already_registered | not_eligible
    reasons: tuple[str, ...]
    entry: RegistryEntry | None


@dataclass(frozen=True)
class Given:
    """What a registrant typed that matching compares, as keyed hashes (the registry's key)."""

    name_hash: str
    dob_hash: str
    phone_hash: str


def given(full_name: str, date_of_birth: date, phone: str, pii_hash: Callable[[str], str]) -> Given:
    return Given(name_hash=pii_hash(fold(full_name)), dob_hash=pii_hash(date_of_birth.isoformat()),
                 phone_hash=pii_hash(phone))


def match_registration(*, given: Given, entry: RegistryEntry | None, has_account: bool, has_pending: bool) -> Match:
    """The registration against the registry, compared by keyed hashes. The reasons name the fields
    that differ (for the approver's page, in identity); the event says none of them
    (`public_reasons`)."""
    if entry is None:
        return Match("not_in_registry", ("party card number not in the registry",), None)
    if has_account:
        return Match("already_registered", ("the member already has an account",), entry)
    if has_pending:  # a matched one: one that does not match blocks nobody (a squatter's, say)
        return Match("already_registered", ("a matching registration for this card is already pending",), entry)
    if entry.status not in ACTIVE_STANDING:
        return Match("not_eligible", (f"the member is {entry.status.replace('_', ' ')}",), entry)
    differences = []
    if given.name_hash != entry.name_hash:
        differences.append("full_name")
    if entry.dob_hash is None or given.dob_hash != entry.dob_hash:
        differences.append("date_of_birth")
    if entry.phone_hash is None:
        differences.append("phone (none on record)")
    elif given.phone_hash != entry.phone_hash:
        differences.append("phone")
    if differences:
        return Match("details_differ", tuple(f"differs: {d}" for d in differences), entry)
    return Match("matched", (), entry)


# What RegistrationSubmitted says of a match: never which personal field differed (a district
# system would learn, of a card it guesses, whether the name, the birth date or the phone is right).
DIFFERS = "details differ from the registry"


def public_reasons(match: Match) -> list[str]:
    if match.result == "details_differ":
        return [DIFFERS]
    return list(match.reasons)


def mask_phone(phone: str | None) -> str | None:
    """A phone as an approver sees it: only its last three digits."""
    return f"*******{phone[-3:]}" if phone else None


def comparison(given: dict, registry: dict | None, reasons: list[str]) -> list[dict] | None:
    """The registration's details field by field, for the approver, with the matching's verdict
    (`same`): names and dates of birth as the registrant wrote them, phones by their last three
    digits, the registry's phone beside it. The registry's name and date of birth are not shown:
    identity holds them only as keyed hashes (the record itself is the registry's, read there)."""
    if registry is None:
        return None
    differing = {r.removeprefix("differs: ").split(" ")[0] for r in reasons if r.startswith("differs: ")}
    rows = [("full_name", given["full_name"], None),
            ("date_of_birth", given["date_of_birth"], None),
            ("phone", mask_phone(given.get("phone")), mask_phone(registry.get("phone_tail")))]
    return [{"field": field, "given": mine, "registry": theirs, "same": field not in differing}
            for field, mine, theirs in rows]


# --- approval -------------------------------------------------------------------------------

APPROVERS = ("cell_secretary", "unit_admin", "city_admin")
APPROVABLE = ("matched", "details_differ")


def not_approvable(match_result: str, *, bulk: bool = False) -> str | None:
    """Why a pending registration with this match result cannot be approved (None: it can).
    Bulk approval takes matched registrations only; one that differs is looked at one by one."""
    if match_result not in APPROVABLE:
        return f"a registration that is {match_result.replace('_', ' ')} cannot be approved; reject it with a reason"
    if bulk and match_result != "matched":
        return "bulk approval takes matched registrations only"
    return None


def match_label(match_result: str, match_reasons: list[str], *, has_account: bool) -> str:
    """What an approver is told of a registration's match: its result, except that
    `already_registered` says which it is. A card with an account now is `has_account`; one
    without is a `duplicate` (another registration of the card was pending and matched when
    this one came; it may since have been rejected, or be waiting still): not an account."""
    if match_result != "already_registered":
        return match_result
    return "has_account" if has_account else "duplicate"


# Why a registration in a bulk approval was refused, as a stable code the page translates.
REFUSAL_CODES = {"bulk approval takes matched registrations only": "not_matched"}


def refusal_code(reason: str) -> str:
    return REFUSAL_CODES.get(reason, "not_approvable")


def committee_of(unit_path: list[str]) -> str:
    """The district committee of a unit, from its path as a list of codes (the city's own units: the city)."""
    return unit_path[1] if len(unit_path) > 1 else CITY


# --- throttles ---------------------------------------------------------------------------------

# An address an account signed in from within this many days still lets it in while its
# account is being guessed at from elsewhere.
KNOWN_ADDRESS_DAYS = 90


@dataclass(frozen=True)
class SlidingWindow:
    """At most `limit` events (failed sign-ins, registrations) in any `seconds`. Past that,
    the next must wait until the oldest event within the window leaves it: a wait that ends
    by itself, never a lock-out."""

    limit: int
    seconds: float

    def wait(self, ages: list[float]) -> float:
        """`ages`: how long ago each recorded event happened, in seconds."""
        recent = sorted(age for age in ages if age < self.seconds)
        if len(recent) < self.limit:
            return 0.0
        return self.seconds - recent[self.limit - 1]


@dataclass(frozen=True)
class Attempt:
    """The throttle keys of one sign-in (or status check): its account — the account's id when
    there is one, else the name as normalised, so spaces and dots make no new key — the
    account at this address, and the address."""

    account: str
    pair: str
    address: str
    known_address: bool = False  # the account signed in from this address before

    @property
    def failure_keys(self) -> list[str]:
        return [self.account, self.pair, self.address]


def attempt(account_key: str, address_hash: str, *, known: bool = False) -> Attempt:
    return Attempt(account_key, f"pair:{account_key}:{address_hash}", f"ip:{address_hash}", known)


def registration_key(address_hash: str) -> str:
    """The key of an address's registrations window."""
    return f"register:{address_hash}"


@dataclass(frozen=True)
class Throttles:
    """The sliding windows identity keeps (deploy/README.md, "Security"): failed sign-ins (and
    registration-status checks) per account, per account at one address, and per address; and
    registrations per address. Keys never hold an address, only its keyed hash."""

    account: SlidingWindow
    address: SlidingWindow
    registrations: SlidingWindow

    @classmethod
    def from_settings(cls, settings) -> Throttles:
        return cls(account=SlidingWindow(settings.sign_in_failures_per_account, settings.sign_in_window_s),
                   address=SlidingWindow(settings.sign_in_failures_per_address, settings.sign_in_window_s),
                   registrations=SlidingWindow(settings.registrations_per_address_per_hour, 3600))

    @property
    def keep(self) -> int:
        """How many events a window keeps: enough for the largest limit."""
        return max(self.account.limit, self.address.limit, self.registrations.limit)

    @property
    def horizon_s(self) -> float:
        """How long an event counts in any window."""
        return max(self.account.seconds, self.address.seconds, self.registrations.seconds)

    def wait(self, at: Attempt, ages: dict[str, list[float]]) -> float:
        """How long the attempt must wait (0: it may go ahead), given each key's event ages.

        The address's window and the account-at-this-address window always count. The account's
        own window counts unless the account signed in from this address before: someone guessing
        at a known card from elsewhere cannot keep its member out of their usual device or network."""
        waits = [self.address.wait(ages.get(at.address, [])), self.account.wait(ages.get(at.pair, []))]
        if not at.known_address:
            waits.append(self.account.wait(ages.get(at.account, [])))
        return max(waits)

    def registration_wait(self, address_hash: str, ages: dict[str, list[float]]) -> float:
        return self.registrations.wait(ages.get(registration_key(address_hash), []))


def token_digest(token: str) -> str:
    """What is kept of a refresh token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


# --- roles ----------------------------------------------------------------------------------

# Who outranks whom: a role covers itself and those listed. A grantor hands out a role only
# where they hold it or one above it; the city admin's covers every role.
OUTRANKS = {
    "city_admin": {"unit_admin", "cell_secretary", "member", "editor", "chief_editor"},
    "unit_admin": {"cell_secretary", "member"},
    "chief_editor": {"editor"},
}
GRANTORS = ("unit_admin", "city_admin")


def roles_covering(role: str) -> tuple[str, ...]:
    """The roles whose holder may grant `role`: itself, and those that outrank it."""
    return (role, *sorted(r for r, below in OUTRANKS.items() if role in below))


def ceil_seconds(value: float) -> int:
    return max(1, math.ceil(value))


# --- consent (Law 91/2025/QH15): the privacy notice and what was agreed to ------------------------

# The purpose that stands for the account itself: without it there is no account, and withdrawing
# it is asking for the account to be closed.
ACCOUNT_PURPOSE = "account"


@dataclass(frozen=True)
class Purpose:
    """One purpose of a notice: a stable code, whether the handbook cannot work without it, its
    name (a few words) and what it covers, in Vietnamese and English."""

    code: str
    required: bool
    name_vi: str
    name_en: str
    vi: str
    en: str


@dataclass(frozen=True)
class Notice:
    """A version of the privacy notice; its texts are services/identity/notices/privacy-v<version>.<vi|en>.md.
    A published version is never changed: a change is a new version, which members are asked to agree to."""

    version: int
    published_on: date
    purposes: tuple[Purpose, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.purposes)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.purposes if p.required)


NOTICES = (
    Notice(1, date(2026, 1, 1), (
        Purpose(ACCOUNT_PURPOSE, True, "Tài khoản và Sổ tay", "Account and handbook",
                "Lập và quản lý tài khoản, sử dụng Sổ tay: đối chiếu với hồ sơ đảng viên, chi bộ phê duyệt, "
                "đăng nhập, nhận tin bài và lịch sinh hoạt của đơn vị, ghi nhận tin đã đọc và ý kiến của đồng chí",
                "Creating and keeping your account and using the handbook: checking against the member registry, "
                "approval by your cell, signing in, your units' news and meetings, recording what you read and "
                "the feedback you give"),
        Purpose("push", False, "Thông báo đẩy", "Push notifications",
                "Nhận thông báo đẩy trên điện thoại hoặc máy tính, gửi qua dịch vụ của hãng trình duyệt "
                "(có thể đặt ở nước ngoài)",
                "Push notifications on your phone or computer, sent through the browser maker's service "
                "(possibly abroad)"),
    )),
)
CURRENT_NOTICE = NOTICES[-1]
ALL_PURPOSES = tuple(dict.fromkeys(code for n in NOTICES for code in n.codes))


def notice(version: int) -> Notice | None:
    return next((n for n in NOTICES if n.version == version), None)


def consent_problems(version: int, purposes: list[str]) -> list[tuple[str, str]]:
    """Why a consent to the notice cannot be recorded (field, reason): a version other than the
    current one (the registrant read an outdated notice), a purpose the notice does not have, a
    required purpose left out. Field names are relative: `notice_version`, `purposes`."""
    if version != CURRENT_NOTICE.version:
        return [("notice_version", f"is not the current notice (version {CURRENT_NOTICE.version}): read it again")]
    problems = [("purposes", f"is not a purpose of the notice: {p}") for p in purposes
                if p not in CURRENT_NOTICE.codes]
    problems += [("purposes", f"must include the required purpose: {code}") for code in CURRENT_NOTICE.required
                 if code not in purposes]
    return problems


# A user agent said in a few words: what a person would recognise of their own device, and
# nothing that tells one browser from another of the same make (no build numbers, no models).
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
             ("coc_coc_browser/", "Cốc Cốc"), ("Zalo", "Zalo"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
             ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Version/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def client_summary(user_agent: str | None) -> str:
    """The browser, its major version and the system, e.g. "Chrome 120, Android"; "?" for what is not known."""
    agent = user_agent or ""
    browser = "?"
    for token, name in _BROWSERS:
        at = agent.find(token)
        if at >= 0:
            version = agent[at + len(token):].split(".")[0].split(" ")[0].split("/")[-1]
            browser = f"{name} {version}" if version.isdigit() and len(version) <= 4 else name
            break
    system = next((name for token, name in _SYSTEMS if token in agent), "?")
    return f"{browser}, {system}"
