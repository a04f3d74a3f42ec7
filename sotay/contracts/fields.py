"""The rules for fields more than one service reads: how a Party card number, a citizen ID,
a phone and a name are written once normalised (the registry stores them so, identity matches
registrations and sign-ins on them, events hash them so), and a member's standings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

STATUSES = ("active", "probationary", "exempt", "transferred_out", "deceased", "removed")
# The standings in which a member counts, may have an account and may sign in.
ACTIVE_STANDING = frozenset({"active", "probationary", "exempt"})

# Separators people type inside phone numbers; they carry no meaning.
_PHONE_PUNCTUATION_RE = re.compile(r"[\s.\-()]")


def normalise_card_no(s: str) -> str:
    digits = _without_spaces(s)
    # Cards are printed as "01.234567" (province code, dot, serial).
    if len(digits) > 2 and digits[2] == ".":
        digits = digits[:2] + digits[3:]
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 12):
        raise ValueError("must be 8 to 12 digits")
    return digits


def normalise_citizen_id(s: str) -> str:
    digits = _without_spaces(s)
    if not (digits.isascii() and digits.isdigit() and len(digits) == 12):
        raise ValueError("must be exactly 12 digits")
    return digits


def _without_spaces(s: str) -> str:
    # split() also catches the non-breaking spaces that Excel copy-paste brings.
    return "".join(s.split())


def normalise_phone(s: str) -> str:
    number = _PHONE_PUNCTUATION_RE.sub("", s)
    if number.startswith("+84"):
        national = number[3:]
    elif number.startswith("84"):
        national = number[2:]
    elif number.startswith("0"):
        national = number[1:]
    else:
        raise ValueError("must start with 0, 84 or +84")
    if not (national.isascii() and national.isdigit() and _is_national_number(national)):
        raise ValueError("must be a Vietnamese phone number such as 0912345678 or +84912345678")
    return "+84" + national


def _is_national_number(digits: str) -> bool:
    is_mobile = len(digits) == 9 and digits[0] in "35789"
    is_landline = len(digits) == 10 and digits[0] == "2"
    return is_mobile or is_landline


# The Unicode blocks of combining diacritical marks (Vietnamese tones and
# vowel marks are all in the first).
_DIGIT_RE = re.compile(r"\d")
_LETTER_RE = re.compile(r"[^\W\d_]")


def normalised_or_none(normalise: Callable[[str], str], value: str) -> str | None:
    """`normalise(value)`, or None when the value is not one of those (a search
    box or a sign-in name may hold a card number or a phone)."""
    try:
        return normalise(value)
    except ValueError:
        return None


def normalise_name(s: str) -> str:
    name = " ".join(unicodedata.normalize("NFC", s).split())
    if not 2 <= len(name) <= 120:
        raise ValueError("must be 2 to 120 characters")
    # After whitespace is collapsed, only control and format characters are unprintable.
    if not name.isprintable():
        raise ValueError("must not contain control characters")
    if _DIGIT_RE.search(name):
        raise ValueError("must not contain digits")
    if not _LETTER_RE.search(name):
        raise ValueError("must contain a letter")
    return name
