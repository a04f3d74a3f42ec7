"""The privacy notice's texts, one file per version and language next to the code
(services/identity/notices/privacy-v<version>.<vi|en>.md), read once."""

from __future__ import annotations

import functools
from pathlib import Path

NOTICES = Path(__file__).resolve().parents[1] / "notices"
LANGUAGES = ("vi", "en")


@functools.cache
def text(version: int, language: str) -> str:
    return (NOTICES / f"privacy-v{version}.{language}.md").read_text(encoding="utf-8")
