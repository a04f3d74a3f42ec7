"""Member registry rules: normalisation and validation of Party-member records.

Pure functions only — no I/O — so every import path (CSV, XLSX, API) applies
exactly the same rules and reports errors in the same clerk-readable words.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

from sotay.contracts.fields import (  # noqa: F401  (the registry's rules, which other services share)
    ACTIVE_STANDING,
    STATUSES,
    normalise_card_no,
    normalise_citizen_id,
    normalise_name,
    normalise_phone,
    normalised_or_none,
)
from sotay.kit.db import path_codes
from sotay.kit.text import fold  # noqa: F401  (the registry folds names as every service does)

MEMBER_FIELDS = (
    "party_card_no",
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "phone",
    "unit",
    "admitted_on",
    "official_on",
    "status",
    "eligible",
    "ineligible_reason",
)
REQUIRED_FIELDS = ("party_card_no", "full_name", "date_of_birth", "unit")
GENDERS = ("male", "female")
UNIT_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# The kind of unit each kind hangs under in the org tree (the city hangs under none).
PARENT_KIND = {"committee": "city", "grassroots": "committee", "cell": "grassroots"}

MIN_ADMISSION_AGE = 18
MAX_AGE = 120

_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# As clerks here write a date: day/month/year (01/05/1960, 1/5/1960, 01.05.1960, 01-05-1960).
_DMY_DATE_RE = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")
DATE_REASON = "must be a real date written day/month/year (for example 01/05/1960)"
# Choices as clerks write them in Vietnamese, accents optional (folded): the stored word.
_GENDER_WORDS = {"nam": "male", "nu": "female"}
_STATUS_WORDS = {"dang sinh hoat": "active", "du bi": "probationary", "mien sinh hoat": "exempt",
                 "da chuyen di": "transferred_out", "chuyen di": "transferred_out", "tu tran": "deceased",
                 "da tu tran": "deceased", "xoa ten": "removed", "da xoa ten": "removed",
                 "chinh thuc": "active"}
_TRUE_WORDS = frozenset({"true", "1", "yes", "có"})
_FALSE_WORDS = frozenset({"false", "0", "no", "không"})

T = TypeVar("T")


class FieldError(NamedTuple):
    field: str
    reason: str


class InvalidInput(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field} {e.reason}" for e in errors))
        self.errors = errors


# --- the member record ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    party_card_no: str
    full_name: str
    date_of_birth: date | None  # None once minimised (handlers/retention.py)
    gender: str | None
    citizen_id: str | None
    phone: str | None
    unit: str
    admitted_on: date | None
    official_on: date | None
    status: str
    eligible: bool
    ineligible_reason: str | None

    @property
    def in_active_standing(self) -> bool:
        return self.status in ACTIVE_STANDING

    @property
    def counts_as_eligible(self) -> bool:
        return self.in_active_standing and self.eligible


def parse_member(raw: Mapping[str, object], *, today: date) -> Member:
    errors: list[FieldError] = []

    def take(name: str, parse: Callable[[object], T], default: T | None = None) -> T | None:
        value = _blank_to_none(raw.get(name))
        if value is None:
            if name in REQUIRED_FIELDS:
                errors.append(FieldError(name, "is required"))
            return default
        try:
            return parse(value)
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
            return None

    def check(name: str, ok: bool, reason: str) -> None:
        if not ok:
            errors.append(FieldError(name, reason))

    card_no = take("party_card_no", lambda v: normalise_card_no(_text(v)))
    full_name = take("full_name", lambda v: normalise_name(_text(v)))
    date_of_birth = take("date_of_birth", _date)
    gender = take("gender", lambda v: _choice(v, GENDERS, _GENDER_WORDS))
    citizen_id = take("citizen_id", lambda v: normalise_citizen_id(_text(v)))
    phone = take("phone", lambda v: normalise_phone(_text(v)))
    unit = take("unit", _unit_code)
    admitted_on = take("admitted_on", _date)
    official_on = take("official_on", _date)
    status = take("status", lambda v: _choice(v, STATUSES, _STATUS_WORDS), default="active")
    eligible = take("eligible", _flag, default=True)
    ineligible_reason = take("ineligible_reason", lambda v: " ".join(_text(v).split()))

    if date_of_birth is not None:
        check("date_of_birth", date_of_birth <= today, "cannot be in the future")
        check("date_of_birth", _age_on(date_of_birth, today) <= MAX_AGE,
              f"member cannot be older than {MAX_AGE}")
    if admitted_on is not None:
        check("admitted_on", admitted_on <= today, "cannot be in the future")
        if date_of_birth is not None:
            check("admitted_on", _age_on(date_of_birth, admitted_on) >= MIN_ADMISSION_AGE,
                  f"member must be {MIN_ADMISSION_AGE} or older at admission")
    if official_on is not None:
        check("official_on", official_on <= today, "cannot be in the future")
        # An unparseable admitted_on is already reported; don't report it twice.
        check("official_on", _blank_to_none(raw.get("admitted_on")) is not None,
              "requires admitted_on")
        if admitted_on is not None:
            check("official_on", official_on > admitted_on, "must be after admitted_on")
    if eligible is False:
        check("ineligible_reason", ineligible_reason is not None,
              "is required when eligible is false")
    if eligible is True:
        check("ineligible_reason", ineligible_reason is None,
              "must be empty when eligible is true")
        if status is not None:
            check("eligible", status in ACTIVE_STANDING,
                  f"must be false for a member who is {status}")

    if errors:
        raise InvalidInput(errors)
    return Member(
        party_card_no=card_no,
        full_name=full_name,
        date_of_birth=date_of_birth,
        gender=gender,
        citizen_id=citizen_id,
        phone=phone,
        unit=unit,
        admitted_on=admitted_on,
        official_on=official_on,
        status=status,
        eligible=eligible,
        ineligible_reason=ineligible_reason,
    )


class FileRows:
    """The rows of a file of members (an import; an export of the national database) checked one at
    a time as clerks write them: the cell by its code or, when exactly one of `named` has that name
    (accents optional), by its name; the member parsed; no card number or citizen ID twice in the
    file. Each problem goes to `reject(row_no, field, reason)`; `allowed(cell)` may refuse a cell
    (outside the importer's units) before the duplicates are looked for."""

    def __init__(self, cells: Mapping[str, Mapping[str, object]], named: Iterable[str], *, today: date,
                 reject: Callable[[int, str, str], None]) -> None:
        self.cells, self.today, self.reject = cells, today, reject
        self.by_name: dict[str, list[str]] = {}
        for code in named:
            self.by_name.setdefault(fold(str(cells[code]["name"])), []).append(code)
        self.seen_cards: set[str] = set()
        self.seen_ids: set[str] = set()

    def member(self, row_no: int, raw: Mapping[str, object],
               allowed: Callable[[Mapping[str, object]], str | None] = lambda cell: None) -> Member | None:
        """The row's member, or None once its problems are told; `allowed` answers a refusal's reason."""
        unit = raw.get("unit")
        if isinstance(unit, str) and unit.strip().lower() not in self.cells:
            codes = self.by_name.get(fold(unit), [])
            if len(codes) > 1:
                self.reject(row_no, "unit", "names more than one cell: write the cell's code")
                return None
            if codes:
                raw = {**raw, "unit": codes[0]}
        try:
            member = parse_member(raw, today=self.today)
        except InvalidInput as exc:
            for err in exc.errors:
                self.reject(row_no, err.field, err.reason)
            return None
        cell = self.cells.get(member.unit)
        if cell is None:
            self.reject(row_no, "unit", "is not an open party cell of the registry")
            return None
        refused = allowed(cell)
        if refused:
            self.reject(row_no, "unit", refused)
            return None
        if member.party_card_no in self.seen_cards:
            self.reject(row_no, "party_card_no", "appears twice in this file")
            return None
        if member.citizen_id and member.citizen_id in self.seen_ids:
            self.reject(row_no, "citizen_id", "appears twice in this file")
            return None
        self.seen_cards.add(member.party_card_no)
        if member.citizen_id:
            self.seen_ids.add(member.citizen_id)
        return member


def parse_member_patch(raw: Mapping[str, object], *, current: Member, today: date) -> Member:
    errors: list[FieldError] = []
    if "party_card_no" in raw and not _is_same_card_no(raw["party_card_no"], current.party_card_no):
        errors.append(FieldError("party_card_no", "cannot be changed"))
    merged: dict[str, object] = dataclasses.asdict(current)
    merged.update((k, v) for k, v in raw.items() if k in MEMBER_FIELDS and k != "party_card_no")
    try:
        member = parse_member(merged, today=today)
    except InvalidInput as exc:
        raise InvalidInput(errors + exc.errors) from None
    if errors:
        raise InvalidInput(errors)
    return member


def member_to_row(m: Member) -> dict[str, str]:
    return {name: format_value(getattr(m, name)) for name in MEMBER_FIELDS}


def format_value(value: object) -> str:
    """The import-column text for a value, so exports re-import unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- masking: what readers who are not registry writers see ------------------

# Readers who keep a cell's list (cell secretaries) see who a member is, not the identifiers that
# open the member's other accounts and records: a citizen ID shows its last 4 digits, a phone its
# last 3, enough to compare with what the member says ("số cuối 705"), in a fixed width that tells
# nothing of the value.
MASKED_FIELDS = ("citizen_id", "phone")
MASK = "*"
_NON_DIGIT_RE = re.compile(r"\D")


def mask_citizen_id(value: str | None) -> str | None:
    """`001088012345` → `********2345`: 12 characters, the last 4 digits shown."""
    if not value:
        return value
    digits = _NON_DIGIT_RE.sub("", value)
    return MASK * 8 + digits[-4:] if len(digits) >= 8 else MASK * 12


def mask_phone(value: str | None) -> str | None:
    """`+84987654705`, `0987 654 705` → `*******705`: the national number's length, its last 3 digits."""
    if not value:
        return value
    national = normalised_or_none(normalise_phone, value)
    digits = "0" + national[3:] if national else _NON_DIGIT_RE.sub("", value)
    return MASK * max(len(digits) - 3, 7) + digits[-3:] if len(digits) >= 7 else MASK * 10


_MASKERS: dict[str, Callable[[str | None], str | None]] = {"citizen_id": mask_citizen_id, "phone": mask_phone}


def mask_value(field: str, value: object) -> object:
    """The value of `field` as a reader who is not a writer sees it (the others pass unchanged)."""
    mask = _MASKERS.get(field)
    if mask is None or not isinstance(value, str):
        return value
    return mask(value)


def mask_fields(values: Mapping[str, object]) -> dict[str, object]:
    """A record's fields, or a proposal's changes, or a history entry's changes, masked: a
    masked field's value, or its `from` and `to` where it changed."""
    masked: dict[str, object] = {}
    for field, value in values.items():
        if isinstance(value, Mapping) and field in _MASKERS:
            masked[field] = {k: mask_value(field, v) for k, v in value.items()}
        else:
            masked[field] = mask_value(field, value)
    return masked


# --- field parsers (raise ValueError with the clerk-facing reason) --------


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _text(value: object) -> str:
    # bool is an int subclass, but True is never a sensible card number or name.
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError("must be text")


def _date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = value.strip() if isinstance(value, str) else ""
    # fromisoformat alone also accepts forms like "20240131" that clerks never mean.
    if _ISO_DATE_RE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    elif found := _DMY_DATE_RE.fullmatch(text):
        day, month, year = (int(part) for part in found.groups())
        try:
            return date(year, month, day)
        except ValueError:
            pass
    raise ValueError(DATE_REASON)


def _choice(value: object, allowed: tuple[str, ...], words: Mapping[str, str] | None = None) -> str:
    word = _text(value).lower()
    if words and word not in allowed:
        word = words.get(fold(word), word)
    if word not in allowed:
        raise ValueError("must be one of: " + ", ".join(allowed))
    return word


def _unit_code(value: object) -> str:
    code = _text(value).lower()
    if not UNIT_CODE_RE.fullmatch(code):
        raise ValueError(
            "must be a unit code of up to 40 lowercase letters, digits or dashes, "
            "not starting with a dash"
        )
    return code


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = unicodedata.normalize("NFC", _text(value)).lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError("must be true or false")


def _age_on(born: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (born.month, born.day)
    return day.year - born.year - (0 if had_birthday else 1)


def _is_same_card_no(value: object, current: str) -> bool:
    # Clients often send the whole record back; an unchanged card number is fine.
    try:
        return normalise_card_no(_text(value)) == current
    except ValueError:
        return False


# --- what events say of a member ----------------------------------------------


def member_snapshot(m: Member, *, member_id: Any, unit_path: str, temporary_unit: str | None = None,
                    temporary_until: date | None = None) -> dict[str, Any]:
    """What every member event says in clear: what counts and scopes need, nothing of the person."""
    return {"member_id": str(member_id), "unit": m.unit, "unit_path": path_codes(unit_path), "status": m.status,
            "eligible": m.eligible, "ineligible_reason": m.ineligible_reason, "temporary_unit": temporary_unit,
            "temporary_until": temporary_until}


def member_personal(m: Member, *, pii_hash: Callable[[str], str]) -> dict[str, Any]:
    """What a member event says of the person (MemberPersonal), before it is sealed under the
    member's key: the card and the name, and what identity matches on as keyed hashes."""
    return {
        "party_card_no": m.party_card_no, "full_name": m.full_name, "name_hash": pii_hash(fold(m.full_name)),
        "date_of_birth_hash": pii_hash(m.date_of_birth.isoformat()) if m.date_of_birth else None,
        "citizen_id_hash": pii_hash(m.citizen_id) if m.citizen_id else None,
        "phone_hash": pii_hash(m.phone) if m.phone else None,
        "phone_tail": m.phone[-3:] if m.phone else None,
    }


# --- what a search box asks for -----------------------------------------------


def interpret_query(q: str | None, *, phones: bool = True) -> tuple[str | None, str | None, str | None]:
    """A search box takes a card number, a phone number (unless `phones` is False) or (part of) a
    name: (card_no, phone, folded name). Ten digits starting with 0 may be either a card or a
    phone: both are searched."""
    if not q or not q.strip():
        return None, None, None
    q = q.strip()
    card_no = normalised_or_none(normalise_card_no, q)
    phone = normalised_or_none(normalise_phone, q) if phones else None
    if card_no or phone:
        return card_no, phone, None
    return None, None, fold(q)


# --- the audit of reads (docs/breach-runbook.md) ----------------------------------------------


@dataclass(frozen=True)
class Reader:
    """Who reads personal data, as the audit keeps them: the account; the role they read in and
    the unit it is held over; their party card when their token carries one (the access history
    then names them from the registry)."""

    account: str
    role: str | None = None
    unit: str | None = None
    card: str | None = None


# Why a read was made: the task of the route that made it (record_reads.purpose).
PURPOSES = ("registry", "correction_review", "self", "access_review", "breach_notification", "request_review",
            "yearly_review")
# Reads kept before their purpose was: told from what was read.
PURPOSE_OF_WHAT = {"record": "registry", "history": "registry", "corrections": "correction_review", "self": "self",
                   "reads": "access_review", "requests": "request_review", "search": "registry",
                   "reviews": "yearly_review"}


def purpose_of(read: Mapping[str, Any]) -> str:
    return read["purpose"] or PURPOSE_OF_WHAT[read["what"]]
