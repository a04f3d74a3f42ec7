"""Idempotency-Key against a real PostgreSQL: the effect and its stored answer
commit together, so a request cut off midway leaves its key free and its
retry acts once, and a retry racing the first request replays its answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import orjson
import pytest
from sqlalchemy import text
from starlette.requests import Request

from sotay.kit.db import create_engine, migrate, plain_url
from sotay.kit.http import Idempotency, Problem, json_response
from tests.support.system import eventually

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parents[1] / "support" / "probe_migrations"


@pytest.fixture(scope="module")
async def engine(database_url):
    engine = create_engine(database_url, "idem")
    await migrate(engine, "idem", MIGRATIONS)  # the kit's tables (idempotency_keys) and the probe's `effects`
    yield engine
    await engine.dispose()


def post(key: str, body: dict) -> Request:
    raw = orjson.dumps(body)
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}
    return Request({"type": "http", "method": "POST", "path": "/api/idem/v1/things", "query_string": b"",
                    "headers": [(b"idempotency-key", key.encode())]}, receive)


def writer(label: str, *, pause: asyncio.Event | None = None, started: asyncio.Event | None = None):
    async def work(db):
        await db.execute(text("INSERT INTO effects (event_id, type, subject) VALUES (gen_random_uuid(), 'thing', :s)"),
                         {"s": label})
        if started:
            started.set()
        if pause:
            await pause.wait()
        return json_response({"label": label}, 201)
    return work


async def effects(engine, label: str) -> int:
    async with engine.connect() as db:
        return (await db.execute(text("SELECT count(*) FROM effects WHERE subject = :s"), {"s": label})).scalar()


async def test_a_request_killed_midway_leaves_its_key_free_and_the_retry_acts_once(engine, database_url):
    idem = Idempotency(engine)
    started, resume = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(idem.run(post("k-killed", {"n": 1}), "alice", writer("killed", pause=resume,
                                                                                     started=started)))
    await started.wait()
    # What a kill -9 of the service does to its transaction: the server loses the connection.
    admin = await asyncpg.connect(plain_url(database_url))
    terminated = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'")
    await admin.close()
    assert terminated >= 1
    resume.set()  # the request goes on, to find its transaction gone
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a lost connection
        await first
    assert await effects(engine, "killed") == 0

    retried = await idem.run(post("k-killed", {"n": 1}), "alice", writer("killed"))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    again = await idem.run(post("k-killed", {"n": 1}), "alice", writer("killed"))
    assert again.headers["idempotent-replayed"] == "true" and orjson.loads(again.body) == {"label": "killed"}
    assert await effects(engine, "killed") == 1


async def test_a_retry_racing_the_first_request_waits_and_replays_its_answer(engine):
    idem = Idempotency(engine)
    started, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(idem.run(post("k-race", {"n": 2}), "bob", writer("race", pause=release,
                                                                                 started=started)))
    await started.wait()
    second = asyncio.create_task(idem.run(post("k-race", {"n": 2}), "bob", writer("race")))

    async def held_on_the_claim():  # the retry's statement waits on the first request's row lock
        async with engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND datname = current_database()"))).scalar() == 1
    await eventually(held_on_the_claim, timeout=10)
    assert not second.done()
    release.set()
    one, two = await first, await second
    assert (one.status_code, two.status_code) == (201, 201)
    assert two.headers["idempotent-replayed"] == "true" and two.body == one.body
    assert await effects(engine, "race") == 1


async def test_a_refused_request_stores_nothing_and_other_bodies_are_refused(engine):
    idem = Idempotency(engine)

    async def refuse(db):
        await writer("refused")(db)
        raise Problem(409, "Conflict", "refused after writing")
    with pytest.raises(Problem):
        await idem.run(post("k-refused", {"n": 3}), "carol", refuse)
    assert await effects(engine, "refused") == 0
    assert (await idem.run(post("k-refused", {"n": 3}), "carol", writer("refused"))).status_code == 201
    with pytest.raises(Problem) as reused:
        await idem.run(post("k-refused", {"n": 4}), "carol", writer("refused"))
    assert reused.value.status == 422
    # Another caller's key of the same name is theirs.
    assert (await idem.run(post("k-refused", {"n": 4}), "dave", writer("refused"))).status_code == 201
    assert await effects(engine, "refused") == 2


async def test_answers_are_kept_their_window_then_deleted_and_sealed_when_a_key_is_given(engine):
    idem = Idempotency(engine, keep_s=3600)
    await idem.run(post("old-key", {"n": 1}), "p-keep", writer("old"))
    async with engine.begin() as db:  # as if answered two hours ago
        await db.execute(text("UPDATE idempotency_keys SET created_at = now() - interval '2 hours' "
                              "WHERE principal = 'p-keep' AND key = 'old-key'"))
    idem.cleaned_at -= Idempotency.CLEAN_EVERY_S  # and the last clean-up as long ago as they come
    await idem.run(post("new-key", {"n": 2}), "p-keep", writer("new"))  # the next claim cleans up
    async with engine.connect() as db:
        kept = (await db.execute(text("SELECT key FROM idempotency_keys WHERE principal = 'p-keep' ORDER BY key"))).scalars()
        assert list(kept) == ["new-key"]

    sealed = Idempotency(engine)
    sealed.answer_key = lambda: b"k" * 32
    first = await sealed.run(post("sealed-key", {"n": 3}), "p-sealed", writer("sealed-answer"))
    async with engine.connect() as db:
        stored = (await db.execute(text("SELECT response FROM idempotency_keys WHERE principal = 'p-sealed'"))).scalar()
    assert b"sealed-answer" not in stored
    again = await sealed.run(post("sealed-key", {"n": 3}), "p-sealed", writer("sealed-answer"))
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"


def driver_writer(label: str):
    async def work(conn):
        await conn.execute("INSERT INTO effects (event_id, type, subject) VALUES (gen_random_uuid(), 'thing', $1)",
                           label)
        return json_response({"label": label}, 201)
    return work


async def test_on_asyncpgs_own_connection_the_same_claim_answer_and_replay(engine):
    """run_on_driver (identity's registrations): a refusal stores nothing and leaves the key free, the
    answer is replayed to a retry, another body under the key is refused, as run does."""
    idem = Idempotency(engine)

    async def refuse(conn):
        await driver_writer("driver")(conn)
        raise Problem(409, "Conflict", "refused after writing")
    with pytest.raises(Problem):
        await idem.run_on_driver(post("k-driver", {"n": 5}), "erin", refuse)
    assert await effects(engine, "driver") == 0
    first = await idem.run_on_driver(post("k-driver", {"n": 5}), "erin", driver_writer("driver"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await idem.run_on_driver(post("k-driver", {"n": 5}), "erin", driver_writer("driver"))
    assert again.headers["idempotent-replayed"] == "true" and again.body == first.body
    # The key is the same whichever path answered it.
    assert (await idem.run(post("k-driver", {"n": 5}), "erin", writer("driver"))).body == first.body
    with pytest.raises(Problem) as reused:
        await idem.run_on_driver(post("k-driver", {"n": 6}), "erin", driver_writer("driver"))
    assert reused.value.status == 422
    assert await effects(engine, "driver") == 1
