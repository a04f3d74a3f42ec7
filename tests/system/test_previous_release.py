"""The previous release beside this one on the same database and streams (docs/upgrades.md).

`git archive` of an older commit (PREVIOUS_RELEASE: d5ea8c0, the last before the session that
made the CloudEvents `sequence` a 20-digit string, added webhooks, metrics and traces) into a
temporary directory; its `sotay serve members` and `sotay serve metrics` run with PYTHONPATH
pointing there, beside this release's metrics, on a schema this release's `sotay migrate` brought
up to date (migrations go first: expand). So: the old code runs on the new schema; old and new
metrics share the durable consumers, each applying the events it is given, and both answer with
exact figures; nothing is dead-lettered. Then this release's members publishes (the new string
`sequence`) with only the old metrics consuming: it counts the new members, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest

from services.members.adapters.import_files import write_csv
from sotay.kit.keys import publish_development_jwks
from sotay.kit.settings import Settings
from tests.support.system import registry_row
from tests.system.test_cluster import Processes
from tests.system.test_rolling_restart import Replica, System, population

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PREVIOUS_RELEASE = os.environ.get("SOTAY_TEST_PREVIOUS_RELEASE", "d5ea8c0")
COMMITTEES = ("ba-dinh", "tay-ho")


def export_release(commit: str, into: Path) -> Path:
    """The commit's tree as files (git archive), or a skip where the repository's history is absent."""
    done = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "sotay", "services", "web"],
                          capture_output=True, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"no git history to export {commit} from: {done.stderr.decode()[:200]}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


class TwoReleases(System):
    def __init__(self, processes, nats_url, database_url, data_dir, old: Path) -> None:
        super().__init__(processes, nats_url, database_url, data_dir)
        self.old = old
        self.replicas = {n: Replica(n, n.split("-")[0]) for n in ("members-old", "metrics-old", "metrics-new",
                                                                   "members-new")}

    def start(self, name: str) -> None:
        r = self.replicas[name]
        env = self.env(r.port)
        if name.endswith("-old"):
            env["PYTHONPATH"] = str(self.old)
        self.processes.start(name, [sys.executable, "-m", "sotay", "serve", r.service], env)


async def figures(base: str, headers, unit: str) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{base}/api/metrics/v1/rollout", params={"unit": unit}, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


async def test_previous_release_runs_beside_this_one(tmp_path, nats_url, database_url):
    old = export_release(PREVIOUS_RELEASE, tmp_path / "previous")
    (tmp_path / "logs").mkdir()
    processes = Processes(tmp_path / "logs")
    system = TwoReleases(processes, nats_url, database_url, tmp_path / "data", old)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    db = await asyncpg.connect(database_url)
    try:
        migrated = subprocess.run([sys.executable, "-m", "sotay", "migrate"], env=system.env(), capture_output=True,
                                  text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        for name in ("members-old", "metrics-old", "metrics-new"):
            system.start(name)
            await system.wait_ready(name, 60)
        # No identity runs here: the development key set its tokens verify with, as the in-process tests publish it.
        await publish_development_jwks(js, Settings(data_dir=system.data_dir))
        admin = system.auth()
        members = system.replicas["members-old"].base
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 30
            async def refused() -> bool:
                for n in ("members-old", "metrics-old", "metrics-new"):
                    path = "/api/metrics/v1/rollout" if "metrics" in n else "/api/members/v1/members"
                    answer = await client.get(f"{system.replicas[n].base}{path}", headers=admin, params={"unit": "city"})
                    if answer.status_code == 401:
                        return True
                return False
            while await refused():
                assert time.monotonic() < deadline, "the replicas do not trust the development keys"
                await asyncio.sleep(0.3)
        people = population()[:240]
        async with httpx.AsyncClient(base_url=members, timeout=60) as client:
            tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
            for committee in COMMITTEES:
                tree += [{"code": committee, "name": committee, "kind": "committee", "parent": "city", "wave": 1},
                         {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots",
                          "parent": committee}]
                tree += [{"code": f"{committee}-g1-c{n}", "name": f"Chi bộ {n}", "kind": "cell",
                          "parent": f"{committee}-g1"} for n in (1, 2)]
            for unit in tree:
                created = await client.post("/api/members/v1/org-units", json=unit, headers=admin)
                assert created.status_code == 201, created.text

            imported = await client.post("/api/members/v1/imports", params={"wait": "true"}, headers=admin,
                                         files={"file": ("m.csv", write_csv([registry_row(c, n, u) for c, n, u in people]),
                                                         "text/csv")})
            assert imported.status_code == 200 and imported.json()["imported"] == len(people), imported.text

        # Both metrics replicas applied their share of the old release's events, and read the same figures.
        want = {"city": len(people), "ba-dinh": len(people) // 2, "tay-ho": len(people) // 2}
        for name in ("metrics-old", "metrics-new"):
            deadline = time.monotonic() + 30
            while True:
                got = {u: (await figures(system.replicas[name].base, admin, u))["members_total"] for u in want}
                if got == want:
                    break
                assert time.monotonic() < deadline, (name, got, want)
                await asyncio.sleep(0.3)
        consumer = await js.consumer_info("SOTAY_MEMBERS", "metrics-registry")
        assert (consumer.num_pending, consumer.num_ack_pending) == (0, 0)
        # Each replica applied some of them (they share the durable consumer), through its own code.
        appliers = await db.fetchval("SELECT count(*) FROM metrics.inbox WHERE consumer = 'metrics-registry'")
        assert appliers >= len(people)
        assert (await js.stream_info("SOTAY_DLQ")).state.messages == 0

        # The order matters: this release's members publishing, only the old metrics consuming.
        processes.stop_all()
        system.start("members-new")
        system.start("metrics-old")
        await system.wait_ready("members-new", 60)
        await system.wait_ready("metrics-old", 60)
        async with httpx.AsyncClient(base_url=system.replicas["members-new"].base, timeout=30) as client:
            more = [registry_row(f"0990{n:06d}", "Trần Thị B", "ba-dinh-g1-c1") for n in range(3)]
            imported = await client.post("/api/members/v1/imports", params={"wait": "true"}, headers=admin,
                                         files={"file": ("m.csv", write_csv(more), "text/csv")})
            assert imported.status_code == 200, imported.text
        deadline = time.monotonic() + 30
        while (got := (await figures(system.replicas["metrics-old"].base, admin, "city"))["members_total"]) \
                != len(people) + len(more):
            assert time.monotonic() < deadline, f"the previous release did not count the new members: {got}"
            await asyncio.sleep(0.3)
        assert (await js.stream_info("SOTAY_DLQ")).state.messages == 0
    finally:
        processes.stop_all()
        await db.close()
        await nc.close()
