"""How fast the member's handbook opens on a slow phone connection (issue 18).

    .venv/bin/python -m tests.browser.bench_web             # starts its own `sotay up --demo`
    .venv/bin/python -m tests.browser.bench_web --url http://127.0.0.1:8000   # a `make up` (or --card, --password)

Chromium (Debian's) loads `/` under its network throttling, Slow 3G and Fast 3G
as DevTools defines them, first with nothing kept on the device, then again with
the service worker installed. A load is timed from navigation to the sign-in form
on screen (what a member sees first). A signed-in member's repeat visit (a demo
member signed in with the form, the feed read once) is timed from navigation to
the feed's first article on screen, and to the feed brought up to date (the page
signed in again from its cookie, the feed asked for anew). Each figure is
printed beside the same run's floor: for a first load, the network's own cost of
that load's bytes (one request of that many bytes on the same connection); for a
repeat load, a navigation the service worker answers from the device without the
network (the handbook's icon, kept with its shell); for bringing the feed up to
date, the two round trips of the renewal and the feed. Several runs, the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.browser.conftest import CHROMIUM, FLAGS

ROOT = Path(__file__).resolve().parents[2]
# DevTools' presets (as Puppeteer's PredefinedNetworkConditions spell them): bytes per second, ms.
CONDITIONS = {
    "Slow 3G": {"download": 500 * 1000 / 8 * 0.8, "upload": 500 * 1000 / 8 * 0.8, "latency": 400 * 5},
    "Fast 3G": {"download": 1.6 * 1000 * 1000 / 8 * 0.9, "upload": 750 * 1000 / 8 * 0.9, "latency": 150 * 3.75},
}
RUNS = 3
FIRST_ARTICLE = "#view article.news"


async def _throttled(browser, context, page, condition: dict) -> None:
    """The page's network throttled, and its service worker's when one runs (as DevTools does): the
    worker's fetches (the feed, articles) are its own, not the page's."""
    conditions = {"offline": False, "latency": condition["latency"], "downloadThroughput": condition["download"],
                  "uploadThroughput": condition["upload"]}
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", conditions)
    own = (await cdp.send("Target.getTargetInfo"))["targetInfo"]["browserContextId"]
    # Playwright opens no session on a worker: the browser's sends it the commands.
    browser_cdp = await browser.new_browser_cdp_session()
    for target in (await browser_cdp.send("Target.getTargets"))["targetInfos"]:
        if target["type"] == "service_worker" and target["browserContextId"] == own:
            session = (await browser_cdp.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                                        "flatten": False}))["sessionId"]
            answered = asyncio.get_running_loop().create_future()

            def on_answer(event, session=session, answered=answered):
                if event["sessionId"] == session and json.loads(event["message"]).get("id") == 2 \
                        and not answered.done():
                    answered.set_result(None)
            browser_cdp.on("Target.receivedMessageFromTarget", on_answer)
            for n, (method, params) in enumerate((("Network.enable", {}),
                                                  ("Network.emulateNetworkConditions", conditions)), start=1):
                await browser_cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": json.dumps(
                    {"id": n, "method": method, "params": params})})
            await answered


async def _load(page, url: str) -> float:
    started = time.perf_counter()
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector("#signin-form", state="visible", timeout=120_000)
    return time.perf_counter() - started


async def _signed_in_repeat(page, url: str) -> tuple[float, float]:
    """Seconds from navigation to the feed's first article on screen, and to the feed up to date."""
    started = time.perf_counter()
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector(FIRST_ARTICLE, state="visible", timeout=120_000)
    shown = time.perf_counter() - started
    await page.wait_for_selector("#offline", state="hidden", timeout=120_000)
    await page.wait_for_selector(FIRST_ARTICLE, state="visible", timeout=120_000)
    return shown, time.perf_counter() - started


async def _sign_in_and_read(page, url: str, card: str, password: str) -> None:
    """A member signed in with the form, once the service worker runs the page, and the feed kept."""
    await page.goto(url)
    await page.evaluate("() => navigator.serviceWorker.ready")
    await page.reload()
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    await page.fill("#card", card)
    await page.fill("#password", password)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector(FIRST_ARTICLE, state="visible", timeout=60_000)
    await page.wait_for_function("async () => !!(await caches.match('/api/content/v1/feed?limit=50', "
                                 "{ ignoreVary: true }))")


async def _bytes_loaded(page) -> int:
    return await page.evaluate("() => performance.getEntriesByType('navigation').concat("
                               "performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)")


async def measure(url: str, card: str, password: str) -> list[tuple[str, float, float, str]]:
    from playwright.async_api import async_playwright

    rows = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for name, condition in CONDITIONS.items():
                first, repeat, sizes, from_device = [], [], [], []
                for _ in range(RUNS):
                    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
                    page = await context.new_page()
                    await _throttled(browser, context, page, condition)
                    first.append(await _load(page, url))
                    sizes.append(await _bytes_loaded(page))
                    await page.evaluate("() => navigator.serviceWorker.ready")
                    await page.wait_for_timeout(200)  # the worker's install finishes keeping the shell
                    repeat.append(await _load(page, url))
                    started = time.perf_counter()
                    await page.goto(url + "icons/icon-192.png", wait_until="load")
                    from_device.append(time.perf_counter() - started)
                    await context.close()
                signed_in, up_to_date = [], []
                for _ in range(RUNS):
                    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
                    page = await context.new_page()
                    await _sign_in_and_read(page, url, card, password)
                    await _throttled(browser, context, page, condition)
                    shown, updated = await _signed_in_repeat(page, url)
                    signed_in.append(shown)
                    up_to_date.append(updated)
                    await context.close()
                size = statistics.median(sizes)
                rtt = condition["latency"] / 1000
                # One request of the same bytes: a connection (a round trip), the request's round trip,
                # and the bytes at the connection's speed.
                floor_first = 2 * rtt + size / condition["download"]
                rows.append((f"{name}: first load ({size / 1024:.0f} KiB)", statistics.median(first), floor_first,
                             "the same bytes as one request"))
                rows.append((f"{name}: repeat load", statistics.median(repeat), statistics.median(from_device),
                             "a page from the device"))
                rows.append((f"{name}: signed-in repeat, feed shown", statistics.median(signed_in),
                             statistics.median(from_device), "a page from the device"))
                rows.append((f"{name}: signed-in repeat, up to date", statistics.median(up_to_date), 2 * rtt,
                             "two round trips"))
        finally:
            await browser.close()
    return rows


def demo_card(url: str, env: dict) -> str:
    """The card of an approved demo account of the sotay at `url`, asked of its approval queue with
    a `sotay token` of the city admin (`env` finds the running system's data); the demo loads in
    the background, so it is asked until there is one."""
    admin = subprocess.run([sys.executable, "-m", "sotay", "token", "--role", "city_admin", "--unit", "city"],
                           env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    request = urllib.request.Request(f"{url}api/identity/v1/registrations?status=approved&limit=1",
                                     headers={"Authorization": f"Bearer {admin}"})
    for _ in range(360):
        with contextlib.suppress(OSError):
            items = json.load(urllib.request.urlopen(request, timeout=5))["items"]
            if items:
                return items[0]["party_card_no"]
        time.sleep(0.5)
    raise RuntimeError("no approved demo account: is it a `sotay up --demo`?")


@contextlib.contextmanager
def sotay_up():
    """A `sotay up --demo` of its own (a small demo: a member to sign in and a few articles); its
    URL and the environment its `sotay token` needs."""
    from sotay.kit.embedded import free_port, wait_for_port

    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-web-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=data, SOTAY_HTTP_PORT=str(port), SOTAY_HTTP_HOST="127.0.0.1", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "sotay", "up", "--demo", "--demo-members", "2000"], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, 180, process)
        url = f"http://127.0.0.1:{port}"
        for _ in range(360):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                    break
            time.sleep(0.5)
        yield url + "/", env
    finally:
        process.terminate()
        process.wait(60)
        shutil.rmtree(data, ignore_errors=True)  # its servers' data: half a gigabyte a run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running sotay's handbook (default: start one)")
    parser.add_argument("--card", help="a member account of it (default: a demo one)")
    parser.add_argument("--password", help="its password (default: the demo's)")
    args = parser.parse_args()
    if CHROMIUM is None:
        print("chromium is not installed", file=sys.stderr)
        return 2
    from sotay.system.demo.rollout import DEMO_PASSWORD

    with contextlib.ExitStack() as stack:
        url, env = (args.url.rstrip("/") + "/", dict(os.environ)) if args.url else stack.enter_context(sotay_up())
        card = args.card or demo_card(url, env)
        rows = asyncio.run(measure(url, card, args.password or DEMO_PASSWORD))
    print(f"{'the handbook at 390 px, median of ' + str(RUNS):44} {'seconds':>8} {'floor':>8} {'x floor':>8}  floor is")
    for what, seconds, floor, floor_is in rows:
        print(f"{what:44} {seconds:8.2f} {floor:8.2f} {seconds / floor:8.1f}  {floor_is}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
