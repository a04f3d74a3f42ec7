"""The metrics counters on a real PostgreSQL (and NATS for the publisher):
deltas appended by handlers, folded up the tree by one folder, exact reads
between folds, units the tree learns late, the never-negative check, readers
moving from day to day, one publishing replica, and the day's history."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import nats
import orjson
import pytest
from nats.js.api import KeyValueConfig
from sqlalchemy import text

from sotay.system.registry import load
from services.metrics.adapters import counters, figures, published
from services.metrics.handlers import projection
from services.metrics.handlers.snapshots import Held, SnapshotPublisher, turn_day
from sotay.kit.clock import HANOI, hanoi_day
from sotay.kit.db import create_engine, migrate
from sotay.kit.publishing import BatchPublisher
from sotay.kit.streams import ensure_bucket

pytestmark = pytest.mark.integration

TREE = [("city", "/city/"), ("ba-dinh", "/city/ba-dinh/"), ("ba-dinh-g1", "/city/ba-dinh/ba-dinh-g1/"),
        ("ba-dinh-g1-c1", "/city/ba-dinh/ba-dinh-g1/ba-dinh-g1-c1/"), ("tay-ho", "/city/tay-ho/")]


@pytest.fixture
async def engine(database_url):
    schema = "metrics"
    engine = create_engine(database_url, schema)
    async with engine.begin() as db:
        await db.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    await migrate(engine, schema, load("metrics").migrations)
    async with engine.begin() as db:
        for code, path in TREE:
            await add_unit(db, code, path)
    yield engine
    await engine.dispose()


async def add_unit(db, code: str, path: str) -> None:
    kind = {2: "city", 3: "committee", 4: "grassroots"}.get(path.count("/"), "cell")
    await db.execute(text("INSERT INTO units (code, unit_id, name, kind, path, committee) "
                          "VALUES (:c, :c, :c, :k, :p, :m)"),
                     {"c": code, "k": kind, "p": path, "m": path.strip("/").split("/")[min(1, path.count("/") - 2)]})


async def figures_of(db, *codes: str) -> dict[str, dict]:
    units = await figures.units(db, list(codes))
    return await figures.of_units(db, units, hanoi_day())


async def test_deltas_roll_up_the_tree_and_reads_are_exact_before_the_fold(engine):
    async with engine.begin() as db:
        await counters.append(db, [("ba-dinh-g1-c1", "members_total", 3), ("ba-dinh-g1-c1", "accounts_web", 2),
                                     ("tay-ho", "members_total", 1), ("ba-dinh-g1-c1", "not_eligible:ốm", 1)])
    async with engine.connect() as db:
        before = await figures_of(db, "city", "ba-dinh", "ba-dinh-g1-c1", "tay-ho")
    assert before["city"]["members_total"] == 4 and before["ba-dinh"]["members_total"] == 3
    assert before["ba-dinh"]["installed_pct_total"] == 66.67
    assert before["ba-dinh"]["without_account"]["not_eligible"] == {"ốm": 1}
    async with engine.begin() as db:
        folded = await counters.fold(db, hanoi_day())
    assert folded.units == {"city", "ba-dinh", "ba-dinh-g1", "ba-dinh-g1-c1", "tay-ho"}
    assert folded.counts[("city", "members_total")] == 4
    async with engine.connect() as db:
        assert (await db.execute(text("SELECT count(*) FROM counter_deltas"))).scalar_one() == 0
        after = await figures_of(db, "city", "ba-dinh", "ba-dinh-g1-c1", "tay-ho")
    assert after == before


async def test_a_unit_the_tree_learns_late_counts_at_the_city_then_in_its_subtree(engine):
    async with engine.begin() as db:
        await counters.append(db, [("tay-ho-g9", "accounts_mobile", 2)])
        await counters.fold(db, hanoi_day())
    async with engine.connect() as db:
        f = await figures_of(db, "city", "tay-ho")
    assert (f["city"]["accounts_mobile"], f["tay-ho"]["accounts_mobile"]) == (2, 0)
    async with engine.begin() as db:
        await add_unit(db, "tay-ho-g9", "/city/tay-ho/tay-ho-g9/")
    async with engine.connect() as db:  # known, not adopted yet: the reads count it already
        f = await figures_of(db, "city", "tay-ho", "tay-ho-g9")
    assert (f["city"]["accounts_mobile"], f["tay-ho"]["accounts_mobile"], f["tay-ho-g9"]["accounts_mobile"]) == (2, 2, 2)
    async with engine.begin() as db:
        folded = await counters.fold(db, hanoi_day())
    assert folded.counts == {("tay-ho", "accounts_mobile"): 2, ("tay-ho-g9", "accounts_mobile"): 2}
    async with engine.connect() as db:
        assert await figures_of(db, "city", "tay-ho", "tay-ho-g9") == f
        assert (await db.execute(text("SELECT count(*) FROM orphan_counters"))).scalar_one() == 0


async def test_a_counter_never_goes_below_zero(engine):
    async with engine.begin() as db:
        await counters.append(db, [("tay-ho", "members_total", 1)])
        await counters.fold(db, hanoi_day())
    async with engine.begin() as db:
        await counters.append(db, [("tay-ho", "members_total", -2)])
    with pytest.raises(Exception, match="counters_n_check"):
        async with engine.begin() as db:
            await counters.fold(db, hanoi_day())
    async with engine.connect() as db:  # nothing moved: the delta waits, the counter holds
        assert (await db.execute(text("SELECT n FROM counter_deltas"))).scalar_one() == -2
        assert (await db.execute(text("SELECT n FROM counters WHERE unit = 'tay-ho' AND metric = 'members_total'"))
                ).scalar_one() == 1


def read(account: str, unit: str, day: date) -> dict:
    return {"type": "sotay.content.ArticleRead.v1", "id": f"{account}-{day}",
            "data": {"account_id": account, "unit": unit, "day": day.isoformat(), "article_id": "a"}}


async def test_a_reader_counts_on_the_day_of_their_last_read_only(engine):
    today = hanoi_day()
    yesterday = today - timedelta(days=1)
    async with engine.begin() as db:
        await projection.apply_content_batch(db, [read("an", "ba-dinh-g1-c1", yesterday),
                                                  read("binh", "ba-dinh-g1-c1", yesterday)])
    async with engine.begin() as db:
        await projection.apply_content_batch(db, [read("an", "ba-dinh-g1-c1", today),
                                                  read("an", "ba-dinh-g1-c1", yesterday)])  # late: changes nothing
        await counters.fold(db, today)
    async with engine.connect() as db:
        f = (await figures_of(db, "ba-dinh"))["ba-dinh"]
        kept = dict((await db.execute(text(
            "SELECT metric, n FROM counters WHERE unit = 'ba-dinh' AND metric LIKE 'readers:%'"))).all())
    assert (f["readers_today"], f["readers_7d"]) == (1, 2)
    assert kept == {f"readers:{yesterday}": 1, f"readers:{today}": 1}


async def test_a_reader_whose_read_is_stamped_tomorrow_still_counts_while_metrics_day_has_not_turned(engine):
    # Content's clock is a few seconds ahead of metrics': a member who read yesterday
    # reads again after content's midnight but before metrics' midnight.
    today = hanoi_day()
    metrics_day = today - timedelta(days=1)
    async with engine.begin() as db:
        await projection.apply_content_batch(db, [read("an", "ba-dinh-g1-c1", metrics_day)])
        await counters.fold(db, metrics_day)
    async with engine.begin() as db:
        await projection.apply_content_batch(db, [read("an", "ba-dinh-g1-c1", today)])
    async with engine.connect() as db:  # between folds: the deltas are read as they stand
        units = await figures.units(db, ["ba-dinh"])
        between = (await figures.of_units(db, units, metrics_day))["ba-dinh"]
    async with engine.begin() as db:
        await counters.fold(db, metrics_day)
    async with engine.connect() as db:
        folded = (await figures.of_units(db, units, metrics_day))["ba-dinh"]
        turned = (await figures.of_units(db, units, today))["ba-dinh"]
    for f in (between, folded, turned):
        assert (f["readers_today"], f["readers_7d"]) == (1, 1)


async def test_one_replica_publishes_and_the_day_turn_keeps_the_history(engine, nats_url, database_url, monkeypatch):
    # Rounds compare, announce, put and write `published` a chunk of units at a time: here two.
    monkeypatch.setattr(published, "FLUSH_CHUNK", 2)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_bucket(js, KeyValueConfig(bucket="sotay_rollout", history=1), atomic=True)
    try:
        async with engine.begin() as db:
            await counters.append(db, [("ba-dinh-g1-c1", "members_total", 5), ("ba-dinh-g1-c1", "accounts_web", 1)])
        first, second = SnapshotPublisher(chunk=2), SnapshotPublisher()
        first.publisher = second.publisher = BatchPublisher(js, nc)
        leading = asyncio.create_task(first.run(engine.connect))
        await asyncio.sleep(1.5)
        waiting = asyncio.create_task(second.run(engine.connect))
        await asyncio.sleep(1.0)
        assert first.is_leader and not second.is_leader
        # The first round compared every unit: five snapshots, in the outbox and in the bucket.
        assert first.published == 5 and second.published == 0
        for task in (leading, waiting):
            task.cancel()
        await asyncio.gather(leading, waiting, return_exceptions=True)
        assert not first.is_leader and not second.is_leader
        kv = await js.key_value("sotay_rollout")
        assert orjson.loads((await kv.get("ba-dinh")).value)["installed_pct_total"] == 20.0
        async with engine.connect() as db:
            outbox = (await db.execute(text("SELECT count(*) FROM outbox WHERE subject LIKE 'sotay.metrics.rollout.%'"))
                      ).scalar_one()
        assert outbox == 5

        # A new day: what was published yesterday becomes yesterday's history.
        yesterday = hanoi_day() - timedelta(days=1)
        async with engine.begin() as db:
            await db.execute(text("UPDATE published SET published_at = :t"),
                             {"t": datetime.combine(yesterday, datetime.min.time(), HANOI) + timedelta(hours=20)})
        async with engine.connect() as db:
            held = await Held.load(db)
            await turn_day(db, held, hanoi_day())
            kept = dict((await db.execute(text("SELECT unit, day FROM unit_daily"))).all())
        assert kept == {code: yesterday for code, _ in TREE}
    finally:
        await nc.close()


def test_long_rounds_are_followed_by_as_long_a_pause_up_to_a_cap():
    publisher = SnapshotPublisher(interval_s=0.4, max_pause_s=1.0)
    assert publisher.pause_after(0.1) == pytest.approx(0.3)  # rounds start every interval_s
    assert publisher.pause_after(0.3) == pytest.approx(0.3)
    assert publisher.pause_after(0.8) == 0.8  # a burst: at most half the time publishing …
    assert publisher.pause_after(2.5) == 1.0  # … and no longer a pause than max_pause_s
