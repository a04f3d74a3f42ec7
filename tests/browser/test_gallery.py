"""`make screenshots` (tests/browser/gallery.py) takes every page the system serves: each route of
sotay/kit/pages.py PAGES (the alias /reset.html aside), the handbook's views, both widths."""

from __future__ import annotations

import re
from pathlib import Path

from sotay.kit.pages import PAGES, WEB
from tests.browser.gallery import SHOTS, WHO, WIDTHS


def test_every_page_is_in_the_gallery():
    taken = {shot.route for shot in SHOTS}
    assert {route for route, name in PAGES.items() if route != f"/{name}"} - taken == set()
    assert taken <= set(PAGES)


def test_every_view_of_the_handbook_is_in_the_gallery():
    """The views handbook.js routes to (`name === "…"`), each taken signed in."""
    routed = set(re.findall(r'name === "([a-z]+)"', (WEB / "assets" / "handbook.js").read_text()))
    views = {shot.hash.strip("#/") for shot in SHOTS if shot.route == "/" and shot.hash}
    assert routed - views == set(), routed - views


def test_names_are_unique_and_each_shot_has_its_person():
    assert len({shot.name for shot in SHOTS}) == len(SHOTS)
    assert all(shot.actor in WHO for shot in SHOTS)
    assert sorted(WIDTHS) == [390, 1366]


def test_the_committed_gallery_is_what_the_script_names():
    """docs/screenshots/ holds each shot at both widths, and its README shows every one."""
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    expected = {f"{shot.name}-{width}.jpg" for shot in SHOTS for width in WIDTHS}
    assert {p.name for p in out.glob("*.jpg")} == expected
    readme = (out / "README.md").read_text()
    assert all(f"]({name})" in readme for name in expected)
