"""Screenshots of every page as the person who uses it, at a phone's width and a desktop's (issue 18).

    .venv/bin/python -m tests.browser.gallery               # starts its own small `sotay up --demo`
    .venv/bin/python -m tests.browser.gallery --url URL     # a running demo (SOTAY_DATA_DIR finds it for the CLI)

The staff accounts it needs are made with `sotay admin create-user` (the cell secretary of a cell
with meetings and a registration waiting, the administrator of the unit above it, an editor, a
city administrator); the member is an approved demo account of that cell. Each signs in with the
pages' own sign-in form in Debian's chromium (locale vi-VN), and every page of
sotay/kit/pages.py PAGES is taken at 390x844 and at 1366x900, full page but no taller than
MAX_HEIGHT, as JPEG, into docs/screenshots/ with a README.md that shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sotay.kit.clock import hanoi_day
from tests.browser.bench_web import ROOT, demo_card, sotay_up
from tests.browser.conftest import CHROMIUM, FLAGS

OUT = ROOT / "docs" / "screenshots"
WIDTHS = {390: {"width": 390, "height": 844}, 1366: {"width": 1366, "height": 900}}
MAX_HEIGHT = 4000
QUALITY = 70
STAFF_PASSWORD = "Mat khau cua bo anh chup"
# The staff accounts: a card and phone of their own each (no demo member's card starts 09).
STAFF = {"city_admin": ("0990000001", "0912000001"), "cell_secretary": ("0990000002", "0912000002"),
         "unit_admin": ("0990000003", "0912000003"), "editor": ("0990000004", "0912000004")}
WHO = {"guest": "nobody (signed out)", "member": "a member", "city_admin": "the city administrator",
       "cell_secretary": "a cell secretary", "unit_admin": "a unit administrator", "editor": "an editor"}


@dataclass(frozen=True)
class Shot:
    name: str      # the file's name: <name>-<width>.jpg
    route: str     # the PAGES route it shows
    actor: str     # who is signed in (a key of WHO)
    title: str     # what it shows
    hash: str = ""  # the handbook's view ("#profile"); "#article/" and "#study/" take the first one listed


SHOTS = [
    Shot("handbook-signed-out", "/", "guest", "The handbook signed out: sign in, sign up"),
    Shot("reset", "/reset", "guest", "Setting a new password with a reset code"),
    Shot("console-index", "/console/", "guest", "The consoles' index"),
    Shot("handbook-feed", "/", "member", "The handbook: news feed", "#feed"),
    Shot("handbook-article", "/", "member", "The handbook: an article", "#article/"),
    Shot("handbook-profile", "/", "member", "The handbook: Thông tin cá nhân (the member's record)", "#profile"),
    Shot("handbook-notices", "/", "member", "The handbook: notices (the inbox)", "#notices"),
    Shot("handbook-meetings", "/", "member", "The handbook: the cell's meetings", "#meetings"),
    Shot("handbook-study", "/", "member", "The handbook: study topics", "#study"),
    Shot("handbook-study-topic", "/", "member", "The handbook: a study topic and its quiz", "#study/"),
    Shot("handbook-review", "/", "member", "The handbook: the yearly review", "#review"),
    Shot("handbook-mydata", "/", "member", "The handbook: my data (consents, requests)", "#mydata"),
    Shot("dashboard-city", "/dashboard", "city_admin", "The rollout dashboard, the city's"),
    Shot("dashboard-cell", "/dashboard", "cell_secretary", "The rollout dashboard, a cell's"),
    Shot("console-approvals", "/console/approvals", "unit_admin", "Account approvals"),
    Shot("console-registry", "/console/registry", "unit_admin", "The member registry"),
    Shot("console-resets", "/console/resets", "unit_admin", "Password reset codes"),
    Shot("console-consents", "/console/consents", "unit_admin", "Consents to the privacy notice"),
    Shot("console-meetings", "/console/meetings", "cell_secretary", "The cell's meetings"),
    Shot("console-reviews", "/console/reviews", "cell_secretary", "The yearly review of the cell's members"),
    Shot("console-editorial", "/console/editorial", "editor", "The editorial desk"),
]


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(request, timeout=60))


def _sotay(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sotay", *args], env=env, cwd=ROOT, input=stdin,
                          capture_output=True, text=True)


def cast(url: str, env: dict) -> dict[str, tuple[str, str, str]]:
    """Who is signed in: actor -> (card, password, the unit's name). The cell is one with meetings
    and a registration waiting (the first waiting one's when none has both); the member an approved
    account of it."""
    from sotay.system.demo.rollout import DEMO_PASSWORD

    demo_card(url, env)  # waits until the demo's accounts are there
    admin = _sotay(env, "token", "--role", "city_admin", "--unit", "city").stdout.strip()
    api = url + "api/"
    pending = _get(f"{api}identity/v1/registrations?status=pending&limit=200", admin)["items"]
    cells = [r["unit"] for r in pending]
    met = set()
    for committee in dict.fromkeys(r["committee"] for r in pending):
        met |= {c["cell"] for c in _get(f"{api}content/v1/meetings/planning?unit={committee}", admin)["cells"]
                if c["meeting_id"]}
    approved = []
    for cell in sorted(dict.fromkeys(cells), key=lambda c: c not in met):  # with meetings first
        approved = _get(f"{api}identity/v1/registrations?status=approved&limit=1&unit={cell}", admin)["items"]
        if approved:
            break
    if not approved:
        raise RuntimeError("no cell with an approved account and one waiting: is it a `sotay up --demo`?")
    unit = _get(f"{api}members/v1/org-units/{cell}", admin)
    parent = _get(f"{api}members/v1/org-units/{unit['parent']}", admin)
    city = _get(f"{api}members/v1/org-units/city", admin)
    units = {"city_admin": city, "cell_secretary": unit, "unit_admin": parent, "editor": city}
    people = {"member": (approved[0]["party_card_no"], DEMO_PASSWORD, unit["name"])}
    for role, (card, phone) in STAFF.items():
        made = _sotay(env, "admin", "create-user", "--card", card, "--phone", phone, "--role", role,
                      "--unit", units[role]["code"], "--password-stdin", stdin=STAFF_PASSWORD + "\n")
        if made.returncode and "already" not in made.stderr.lower() and "exists" not in made.stderr.lower():
            raise RuntimeError(f"sotay admin create-user {role}: {made.stderr.strip()}")
        people[role] = (card, STAFF_PASSWORD, units[role]["name"])
    return people


async def _settled(page) -> None:
    """The page's calls answered and drawn."""
    with contextlib.suppress(Exception):
        await page.wait_for_load_state("networkidle", timeout=8_000)  # a live page (the dashboard) never idles
    await page.wait_for_timeout(600)


async def _sign_in(page, url: str, card: str, password: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("#signin-form", state="visible", timeout=60_000)
    await page.fill("#card", card)
    await page.fill("#password", password)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#signin", state="hidden", timeout=60_000)
    await _settled(page)


async def _first_link(page, prefix: str) -> str:
    link = page.locator(f'#view a[href^="{prefix}"]').first
    await link.wait_for(timeout=30_000)
    return await link.get_attribute("href")


async def _take(page, shot: Shot, url: str) -> list[str]:
    files = []
    for width, size in WIDTHS.items():
        await page.set_viewport_size(size)
        await page.goto("about:blank")
        await page.goto(url)
        await _settled(page)
        height = min(MAX_HEIGHT, await page.evaluate("() => document.documentElement.scrollHeight"))
        name = f"{shot.name}-{width}.jpg"
        await page.screenshot(path=str(OUT / name), type="jpeg", quality=QUALITY, full_page=True,
                              clip={"x": 0, "y": 0, "width": size["width"], "height": max(height, size["height"])})
        files.append(name)
    return files


async def take_all(url: str, people: dict) -> list[tuple[Shot, list[str]]]:
    from playwright.async_api import async_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.jpg"):  # a page gone from SHOTS leaves no picture behind
        old.unlink()
    taken = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for actor in dict.fromkeys(s.actor for s in SHOTS):
                context = await browser.new_context(viewport=WIDTHS[390], locale="vi-VN",
                                                    timezone_id="Asia/Ho_Chi_Minh")
                page = await context.new_page()
                shots = [s for s in SHOTS if s.actor == actor]
                if actor != "guest":
                    card, password, _ = people[actor]
                    await _sign_in(page, url + shots[0].route.lstrip("/"), card, password)
                for shot in shots:
                    address = url + shot.route.lstrip("/")
                    if shot.hash.endswith("/"):  # the first article, the first topic
                        await page.goto(address + "#" + shot.hash[1:-1])
                        await _settled(page)
                        address += await _first_link(page, shot.hash)
                    else:
                        address += shot.hash
                    taken.append((shot, await _take(page, shot, address)))
                    print(f"{shot.name}: {', '.join(taken[-1][1])}", flush=True)
                await context.close()
        finally:
            await browser.close()
    return taken


def write_readme(taken: list[tuple[Shot, list[str]]], people: dict) -> Path:
    today = hanoi_day().strftime("%d/%m/%Y")
    size = sum(f.stat().st_size for f in OUT.glob("*.jpg"))
    lines = ["# Screenshots of every page", "",
             f"Taken on {today} by `make screenshots` (`python -m tests.browser.gallery`, generated: do not edit) "
             "against a small `sotay up --demo` (2,000 members), in Debian's chromium with the locale vi-VN, "
             f"at a phone's width (390x844) and a desktop's (1366x900), full page up to {MAX_HEIGHT:,} px tall, "
             f"JPEG quality {QUALITY}: {len(list(OUT.glob('*.jpg')))} images, {size / 1e6:.1f} MB.", "",
             "Who was signed in:", ""]
    for actor, label in WHO.items():
        if actor == "guest":
            lines.append(f"- {label}")
        elif actor in people:
            lines.append(f"- {label} of {people[actor][2]}" + (", a demo account" if actor == "member" else
                                                                ", made with `sotay admin create-user`"))
    for shot, files in taken:
        lines += ["", f"## {shot.title}", "",
                  f"`{shot.route}{shot.hash}{'<id>' if shot.hash.endswith('/') else ''}`, signed in as "
                  f"{WHO[shot.actor]}" if shot.actor != "guest"
                  else f"`{shot.route}`, signed out", "",
                  "| 390 px | 1366 px |", "| --- | --- |",
                  "| " + " | ".join(f"[![{shot.name} at {f.rsplit('-', 1)[1][:-4]} px]({f})]({f})" for f in files)
                  + " |"]
    readme = OUT / "README.md"
    readme.write_text("\n".join(lines) + "\n")
    return readme


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running sotay demo's handbook (default: start one)")
    args = parser.parse_args()
    if CHROMIUM is None:
        print("chromium is not installed", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        url, env = (args.url.rstrip("/") + "/", dict(os.environ)) if args.url else stack.enter_context(sotay_up())
        people = cast(url, env)
        taken = asyncio.run(take_all(url, people))
    write_readme(taken, people)
    size = sum(f.stat().st_size for f in OUT.glob("*.jpg"))
    print(f"{len(taken) * len(WIDTHS)} screenshots, {size / 1e6:.1f} MB, in {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
