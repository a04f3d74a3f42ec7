"""Identity rules: matching a registration against the registry replica,
password rules, and the throttle that slows guessing without locking members out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.members.domain import ACTIVE_STANDING
from sotay.text import fold

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
    member_id: str
    party_card_no: str
    name_folded: str
    date_of_birth: date
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


def match_registration(*, full_name: str, date_of_birth: date, phone_hash: str, entry: RegistryEntry | None,
                       has_account: bool, has_pending: bool) -> Match:
    if entry is None:
        return Match("not_in_registry", ("party card number not in the registry",), None)
    if has_account:
        return Match("already_registered", ("the member already has an account",), entry)
    if has_pending:
        return Match("already_registered", ("a registration for this card is already pending",), entry)
    if entry.status not in ACTIVE_STANDING:
        return Match("not_eligible", (f"the member is {entry.status.replace('_', ' ')}",), entry)
    differences = []
    if fold(full_name) != entry.name_folded:
        differences.append("full_name")
    if date_of_birth != entry.date_of_birth:
        differences.append("date_of_birth")
    if entry.phone_hash is None:
        differences.append("phone (none on record)")
    elif phone_hash != entry.phone_hash:
        differences.append("phone")
    if differences:
        return Match("details_differ", tuple(f"differs: {d}" for d in differences), entry)
    return Match("matched", (), entry)


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed sign-ins make the next attempt on the same key wait longer
    (1 s after 5 failures, doubling up to 15 minutes); success resets it. A
    member is slowed, never locked out: after the wait they can try again."""

    free_failures: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0

    def wait(self, failures: int, seconds_since_last: float) -> float:
        if failures < self.free_failures:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** min(failures - self.free_failures, 30))
        return max(0.0, delay - seconds_since_last)


def ceil_seconds(value: float) -> int:
    return max(1, math.ceil(value))
