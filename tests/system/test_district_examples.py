"""The committee subscribers of examples/ run against the real system: sotay's services on a NATS
server with deploy/nats/auth.conf, the example connecting as `district-ba-dinh`, a user limited to
Ba Đình's subjects and its durable consumers. Each example receives every Ba Đình member and
content event and nothing of another committee's, resumes where it stopped when started again,
and applies nothing twice when everything is delivered again (its consumer made anew)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import nats
import pytest

import services.content
import services.identity
import services.members
import services.metrics
from sotay.kit.embedded import terminate
from sotay.kit.streams import ensure_district_consumers
from tests.support.npm import node_binary, npm_packages
from tests.support.system import (
    create_org_tree, eventually, import_registry, make_settings, registry_row, running_system,
)
from tests.system.test_least_privilege import NATS_USERS, password_variable, start_secured_nats

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DISTRICT, OTHER = "ba-dinh", "hoan-kiem"  # ba-dinh: the district user of auth.conf
# Every user auth.conf names (the server refuses to start without each one's password).
PASSWORDS = {user: f"{user}-ex-{uuid.uuid4().hex[:8]}" for user in NATS_USERS}
STREAMS = ("SOTAY_MEMBERS", "SOTAY_CONTENT")
NATS_JS = "nats@2.29.3"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    server = start_secured_nats(tmp_path_factory.mktemp("nats-examples"),
                                {password_variable(user): pw for user, pw in PASSWORDS.items()})
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
async def system(secured, data_dir, database_url):
    # The services in this process as the NATS admin (the user `sotay up` would be); the examples
    # as the district user.
    settings = make_settings(data_dir, nats_user="admin", nats_password=PASSWORDS["admin"])
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, settings, secured, database_url) as system:
        admin = await nats.connect(secured, user="admin", password=PASSWORDS["admin"])
        await ensure_district_consumers(admin.jetstream(), [DISTRICT])  # what `sotay migrate` makes
        system.admin = admin
        await create_org_tree(system.client, [DISTRICT, OTHER], system.auth("city_admin"))
        yield system
        await admin.close()


class Round:
    """Events of both committees: members imported and an article published in each."""
    n = 0


async def make_events(system) -> None:
    Round.n += 1
    admin = system.auth("city_admin")
    names = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường")
    rows = [registry_row(f"01{Round.n:02d}{i:06d}", names[i], f"{unit}-g1-c1")
            for i, unit in enumerate((DISTRICT, OTHER, DISTRICT))]
    await import_registry(system.client, rows, admin)
    for unit in (DISTRICT, OTHER):
        await publish_article(system, unit, f"Tin {unit} đợt {Round.n}")


async def publish_article(system, unit: str, title: str) -> None:
    c, api = system.client, "/api/content/v1"
    editor = system.auth("editor", unit, subject=f"editor-{unit}")
    chief = system.auth("chief_editor", unit, subject=f"chief-{unit}")

    async def created():  # content knows the unit once its replica of the org tree has it
        answer = await c.post(f"{api}/articles", headers=editor, json={
            "title": title, "body": "Nội dung.", "category": "news", "audience": [unit]})
        return answer if answer.status_code == 201 else None
    article = (await eventually(created, timeout=20)).json()["id"]
    for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
        assert (await c.post(f"{api}/articles/{article}/{step}", headers=who)).status_code == 200


async def stream_events(system) -> dict[str, set[str]]:
    """The ids of the events in SOTAY_MEMBERS and SOTAY_CONTENT, by committee (the subject's last token)."""
    js = system.admin.jetstream()
    found: dict[str, set[str]] = {}
    for stream in STREAMS:
        info = await js.stream_info(stream)
        sub = await js.subscribe(info.config.subjects[0], ordered_consumer=True)
        for _ in range(info.state.messages):
            msg = await sub.next_msg(timeout=5)
            found.setdefault(msg.subject.rsplit(".", 1)[1], set()).add(json.loads(msg.data)["id"])
        await sub.unsubscribe()
    return found


async def settled(system) -> dict[str, set[str]]:
    """The streams' events once the relays have published every row (two reads a moment apart agree)."""
    async def same():
        first = await stream_events(system)
        await asyncio.sleep(1.0)
        second = await stream_events(system)
        return second if first == second else None
    return await eventually(same, timeout=30)


async def reset_consumer(system, stream: str) -> None:
    """Delete the committee's consumer and make it again: it delivers the whole stream anew."""
    js = system.admin.jetstream()
    await js.delete_consumer(stream, f"district-{DISTRICT}")
    await ensure_district_consumers(js, [DISTRICT])


class Example:
    """An example running as a process, as its README says, as the district user."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.command, self.cwd, self.env, self.log, self.process = command, cwd, env, log, None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            terminate(self.process, signal.SIGTERM, 15)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def example_env(secured: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "NATS_", "OTEL_"))}
    return env | {"SOTAY_COMMITTEE": DISTRICT, "NATS_URL": secured, "NATS_USER": f"district-{DISTRICT}",
                  "NATS_PASSWORD": PASSWORDS[f"district-{DISTRICT}"], **extra}


def python_example(secured: str, where: Path) -> tuple[Example, callable]:
    shutil.copytree(EXAMPLES / "district-subscriber-python", where, ignore=shutil.ignore_patterns("*.sqlite3*"))
    store = where / "events.sqlite3"
    example = Example([sys.executable, "subscriber.py"], where, example_env(secured, SUBSCRIBER_STORE=str(store)),
                      where / "run.log")

    def received() -> list[tuple[str, str]]:
        if not store.exists():
            return []
        with sqlite3.connect(store) as db:
            try:
                return db.execute("SELECT id, subject FROM events").fetchall()
            except sqlite3.OperationalError:  # the program is making its table
                return []
    return example, received


def js_example(secured: str, where: Path) -> tuple[Example, callable]:
    modules = npm_packages(NATS_JS) / "node_modules"
    shutil.copytree(EXAMPLES / "district-subscriber-js", where, ignore=shutil.ignore_patterns("node_modules"))
    (where / "node_modules").symlink_to(modules)
    events = where / "events.jsonl"
    example = Example([node_binary(), "subscriber.mjs"], where,
                      example_env(secured, EVENTS_FILE=str(events), SEEN_FILE=str(where / "seen.txt")),
                      where / "run.log")

    def received() -> list[tuple[str, str]]:
        if not events.exists():
            return []
        return [(e["id"], e["subject"]) for e in map(json.loads, events.read_text().splitlines())]
    return example, received


@pytest.mark.parametrize("make", [python_example, js_example], ids=["python", "javascript"])
async def test_an_example_receives_its_committees_events_only_resumes_and_applies_each_once(
        system, secured, tmp_path, make):
    example, received = make(secured, tmp_path / "example")
    for stream in STREAMS:  # from the first event (another test may have moved the consumer on)
        await reset_consumer(system, stream)
    await make_events(system)
    example.start()
    try:
        async def caught_up(expected: set[str]):
            got = received()
            return got if {i for i, _ in got} >= expected else None

        events = await settled(system)
        mine = events[DISTRICT]
        assert mine and events[OTHER], events.keys()  # both committees published
        got = await eventually(lambda: caught_up(mine), timeout=60)
        # Every one of its committee's events, once, and nothing else.
        assert sorted(i for i, _ in got) == sorted(mine), example.output()[-2000:]
        assert all(subject.endswith(f".{DISTRICT}") for _, subject in got)
        assert not {i for i, _ in got} & (set().union(*events.values()) - mine)

        # Stopped, and events published meanwhile: started again, it goes on from where it stopped.
        example.stop()
        await make_events(system)
        events = await settled(system)
        assert len(events[DISTRICT]) > len(mine)
        mine = events[DISTRICT]
        example.start()
        got = await eventually(lambda: caught_up(mine), timeout=60)
        assert sorted(i for i, _ in got) == sorted(mine), example.output()[-2000:]

        # Everything delivered again (its consumer made anew): nothing applied twice.
        already = example.output().count("already applied")
        for stream in STREAMS:
            await reset_consumer(system, stream)

        async def redelivered():
            return example.output().count("already applied") - already >= len(mine)
        await eventually(redelivered, timeout=60)
        assert sorted(i for i, _ in received()) == sorted(mine)
        assert example.process.poll() is None, example.output()[-2000:]
    finally:
        example.stop()
