"""`sotay up` as a user runs it: embedded servers, demo data, readiness,
Ctrl-C, and a second start that reuses the data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from sotay.kit.clock import hanoi_day
from sotay.kit.embedded import free_port

pytestmark = pytest.mark.integration


def start(data_dir: Path, port: int, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=str(data_dir), SOTAY_HTTP_PORT=str(port), SOTAY_LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "sotay", "up", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready within {timeout}s")


def servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if any(str(data_dir) in part for part in proc.info["cmdline"] or []) and proc.info["name"] != "python":
            found.append(proc)
    return [p for p in found if p.pid != os.getpid() and "pytest" not in " ".join(p.info["cmdline"] or [])]


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # it prints every task's stack: what it is stuck on
        time.sleep(2)
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"sotay did not stop within 60 s; its output:\n{out}") from None
    return out


def test_up_serves_the_demo_then_stops_cleanly_and_reuses_its_data(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(data_dir, port, "--demo", "--demo-members", "3000")
    try:
        assert wait_ready(url, proc, 30) < 30
        # The demo loads in the background once the services are up.
        deadline = time.monotonic() + 60
        committees = []
        while len(committees) < 50 and time.monotonic() < deadline:
            time.sleep(0.3)
            committees = httpx.get(f"{url}/api/members/v1/org-units", params={"kind": "committee"}).json()["items"]
        assert len(committees) == 50
        assert sum(c["wave"] == 1 for c in committees) == 9
        token = subprocess.run([sys.executable, "-m", "sotay", "token", "--role", "city_admin"],
                               env={**os.environ, "SOTAY_DATA_DIR": str(data_dir)}, capture_output=True,
                               text=True, check=True).stdout.strip()

        def members() -> int:
            pages, cursor, total = 0, None, 0
            while pages < 100:
                params = {"limit": 500} | ({"cursor": cursor} if cursor else {})
                page = httpx.get(f"{url}/api/members/v1/members", params=params,
                                 headers={"Authorization": f"Bearer {token}"}).json()
                total, cursor, pages = total + len(page["items"]), page["next_cursor"], pages + 1
                if not cursor:
                    return total
            return total

        deadline = time.monotonic() + 60
        while members() < 3000 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert members() == 3000

        # Then the demo's rollout (registrations and approvals), as the metrics see it once it settles.
        def city() -> dict:
            return httpx.get(f"{url}/api/metrics/v1/rollout", params={"unit": "city"},
                             headers={"Authorization": f"Bearer {token}"}).json()
        deadline, seen = time.monotonic() + 120, []
        while time.monotonic() < deadline and (len(seen) < 4 or seen[-1] != seen[-4] or not seen[-1]):
            time.sleep(0.5)
            seen.append(city()["accounts_installed"])
        figures = city()
        assert 70 <= figures["installed_pct_eligible"] <= 90, figures
        assert figures["accounts_web"] > 0 and figures["accounts_pending"] > 0 and figures["accounts_approved"] > 0
        for page in ("/", "/dashboard", "/console/", "/assets/dashboard.js"):
            assert httpx.get(f"{url}{page}").status_code == 200, page

        # And the cells' meetings (issue 20): months held, next month planned in most cells.
        def planning(month: str | None = None) -> dict:
            return httpx.get(f"{url}/api/content/v1/meetings/planning", params={"month": month} if month else {},
                             headers={"Authorization": f"Bearer {token}"}).json()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not planning().get("planned"):
            time.sleep(0.5)
        ahead = planning()
        assert ahead["planned"] > 0 and ahead["total"] >= ahead["planned"], ahead

        # And a study topic with its quiz for the whole city (học tập nghị quyết).
        topics = httpx.get(f"{url}/api/content/v1/study/completion",
                           headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert [t["questions"] for t in topics] == [3], topics

        # And last year's review and ranking (issue 20), finished: every reviewed member rated.
        last_year = hanoi_day().year - 1

        def review() -> dict:
            answer = httpx.get(f"{url}/api/members/v1/review-cycles/{last_year}/summary", params={"unit": "city"},
                               headers={"Authorization": f"Bearer {token}"})
            return answer.json() if answer.status_code == 200 else {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not review().get("decided"):
            time.sleep(0.5)
        finished = review()
        assert finished["cycle"]["stage"] == "closed" and finished["decided"] == finished["members"] > 0, finished
        assert finished["levels"]["good"] > finished["levels"]["excellent"] > 0, finished
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "sotay is up" in out and "sotay stopped." in out
    assert "demo rollout: " in out and "approved" in out
    assert "demo meetings: " in out and "held in" in out, out
    assert "1 study topic published" in out, out
    assert "demo reviews: " in out and "members rated" in out, out
    assert servers_using(data_dir) == []  # nats-server and postgres stopped with it

    proc = start(data_dir, port, "--demo")
    try:
        wait_ready(url, proc, 30)
        assert len(httpx.get(f"{url}/api/members/v1/org-units", params={"kind": "committee"}).json()["items"]) == 50
    finally:
        out = stop(proc)
    assert "demo not loaded: the registry already has units" in out
    assert proc.returncode == 0


async def test_serve_one_service_on_configured_servers_starts_none(tmp_path, nats_url, database_url):
    data_dir, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=str(data_dir), SOTAY_HTTP_PORT=str(port), SOTAY_NATS_URL=nats_url,
               SOTAY_DATABASE_URL=database_url, SOTAY_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "sotay", "serve", "members"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, 30)
        assert httpx.get(f"{url}/api/members/v1/readyz").json()["ready"] is True
        assert httpx.get(f"{url}/api/members/v1/org-units").status_code == 200
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert not (data_dir / "nats").exists() and not (data_dir / "postgres").exists()
    assert "(embedded)" not in out
