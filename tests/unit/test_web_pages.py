"""What the pages' own files must hold, checked without a browser (the browser tests walk them)."""

from __future__ import annotations

import re
from pathlib import Path

from sotay.kit.pages import PAGES

WEB = Path(__file__).resolve().parents[2] / "web"
CONSOLES = sorted(name for route, name in PAGES.items() if route.startswith("/console/") and route != "/console/")


def test_every_console_links_back_to_the_consoles_index():
    """The gallery found approvals, registry and editorial with no way back to "Bàn làm việc"."""
    assert CONSOLES
    for name in CONSOLES:
        header = re.search(r"<header.*?</header>", (WEB / name).read_text(), re.S).group(0)
        assert 'href="/console/"' in header and 'data-t="consoles"' in header, name


def test_a_date_field_says_its_format_in_vietnamese_first():
    """A Vietnamese page shows ngày/tháng/năm, not the English dd/mm/yyyy (the switch gives that)."""
    pages = [WEB / name for name in PAGES.values()]
    scripts = sorted((WEB / "assets").glob("*.js"))
    for path in pages + scripts:
        text = path.read_text()
        assert not re.search(r"""(?<![\w.])placeholder(=|:\s*)["']dd/mm/yyyy""", text), path.name
        assert not re.search(r"""\.placeholder\s*=\s*["']dd/mm/yyyy""", text), path.name
