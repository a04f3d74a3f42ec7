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
