"""How fast the member's handbook opens on a slow phone connection (issue 18).

    .venv/bin/python -m tests.browser.bench_web             # starts its own `sotay up`
    .venv/bin/python -m tests.browser.bench_web --url http://127.0.0.1:8000

Chromium (Debian's) loads `/` under its network throttling, Slow 3G and Fast 3G
as DevTools defines them, first with nothing kept on the device, then again with
the service worker installed. A load is timed from navigation to the sign-in form
on screen (what a member sees first). Each figure is printed beside the same
run's floor: for a first load, the network's own cost of that load's bytes (one
request of that many bytes on the same connection); for a repeat load, a
navigation the service worker answers from the device without the network (the
handbook's icon, kept with its shell). Several runs, the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
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


async def _throttled(context, page, condition: dict) -> None:
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": condition["latency"], "downloadThroughput": condition["download"],
        "uploadThroughput": condition["upload"]})


async def _load(page, url: str) -> float:
    started = time.perf_counter()
    await page.goto(url, wait_until="commit")
    await page.wait_for_selector("#signin-form", state="visible", timeout=120_000)
    return time.perf_counter() - started


async def _bytes_loaded(page) -> int:
    return await page.evaluate("() => performance.getEntriesByType('navigation').concat("
                               "performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0)")


async def measure(url: str) -> list[tuple[str, float, float, str]]:
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
                    await _throttled(context, page, condition)
                    first.append(await _load(page, url))
                    sizes.append(await _bytes_loaded(page))
                    await page.evaluate("() => navigator.serviceWorker.ready")
                    await page.wait_for_timeout(200)  # the worker's install finishes keeping the shell
                    repeat.append(await _load(page, url))
                    started = time.perf_counter()
                    await page.goto(url + "icons/icon-192.png", wait_until="load")
                    from_device.append(time.perf_counter() - started)
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
        finally:
            await browser.close()
    return rows


@contextlib.contextmanager
def sotay_up():
    """A `sotay up` of its own (no demo data: the first screen needs none)."""
    from sotay.kit.embedded import free_port, wait_for_port

    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-web-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=data, SOTAY_HTTP_PORT=str(port), SOTAY_HTTP_HOST="127.0.0.1", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "sotay", "up"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, 180, process)
        url = f"http://127.0.0.1:{port}"
        for _ in range(360):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                    break
            time.sleep(0.5)
        yield url + "/"
    finally:
        process.terminate()
        process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running sotay's handbook (default: start one)")
    args = parser.parse_args()
    if CHROMIUM is None:
        print("chromium is not installed", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(sotay_up())
        rows = asyncio.run(measure(url))
    print(f"{'the handbook at 390 px, median of ' + str(RUNS):44} {'seconds':>8} {'floor':>8} {'x floor':>8}  floor is")
    for what, seconds, floor, floor_is in rows:
        print(f"{what:44} {seconds:8.2f} {floor:8.2f} {seconds / floor:8.1f}  {floor_is}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
