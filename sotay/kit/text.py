"""Vietnamese text for search: accents folded away, so "nghi quyet" finds
"Nghị quyết" and "NGUYEN VAN AN" finds "Nguyễn Văn An". Every service that
searches folds the same way."""

import re
import unicodedata

_COMBINING_MARKS_RE = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    bare = _COMBINING_MARKS_RE.sub("", unicodedata.normalize("NFD", text))
    # đ is a distinct letter, not d plus a combining mark, so NFD leaves it alone.
    bare = bare.replace("đ", "d").replace("Đ", "d")
    return " ".join(bare.lower().split())


# Vietnamese letters and their bare form, for SQL's translate(): a name is searched accents optional
# in a query, folded as fold() folds it (the unaccent extension's rules are not fold's).
VIETNAMESE_LETTERS = "".join(sorted({chr(c) for c in range(0xC0, 0x1EFA) if fold(chr(c)) != chr(c).lower()
                                     and len(fold(chr(c))) == 1 and fold(chr(c)).isascii()
                                     and fold(chr(c)).isalpha()}))
BARE_LETTERS = "".join(fold(ch) for ch in VIETNAMESE_LETTERS)
# The parameters folded_sql's expressions take.
FOLD_PARAMS = {"vi_letters": VIETNAMESE_LETTERS, "bare_letters": BARE_LETTERS}


def folded_sql(column: str) -> str:
    """SQL for `column` folded as fold() folds it (with FOLD_PARAMS among the parameters)."""
    return f"lower(translate({column}, :vi_letters, :bare_letters))"


def like_pattern(word: str) -> str:
    """A LIKE pattern finding `word` anywhere, its wildcards taken as they are."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
