"""The Hanoi day turning on one service before another (issue 23, clock skew): content's clock
passes midnight a few seconds before metrics' clocks do. A member who read before midnight reads
again in those seconds; content stamps that read on the new day, while metrics still calls it
tomorrow. Both metrics replicas must keep counting the reader today (in readers_today and
readers_7d), the figures metrics keeps as that day's history must count them, and once metrics'
day turns too they count on the new day, once.

The whole system runs (every service a process of its own, as in the other fault tests); the
clocks of content and both metrics replicas are moved with libfaketime to a few seconds from the
next real Hanoi midnight. Tokens are minted by the test at the clock of the service they go to."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from unittest import mock

import httpx
import pytest

from sotay.kit.clock import HANOI
from tests.chaos.harness import UNITS_OF, Env, SkewedClock, running_system
from tests.system.test_cluster import until

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

METRICS = ("metrics-1", "metrics-2")


@pytest.fixture(scope="module")
async def skewed_env(tmp_path_factory):
    if not SkewedClock.available():
        pytest.skip("libfaketime is not installed (apt-get install libfaketime)")
    async with running_system(tmp_path_factory.mktemp("day-turn"), seed=7, proxies=False, small_disk=False,
                              skewed=("content", *METRICS)) as env:
        yield env


def seconds_to_midnight() -> int:
    """Whole seconds from now to the next Hanoi midnight."""
    now = datetime.now(HANOI)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), HANOI)
    return int((midnight - now).total_seconds())


def headers_at(env: Env, offset_s: int, **grant) -> dict[str, str]:
    """A token minted as if the test's clock were `offset_s` ahead (the clock of the service it goes to)."""
    real = time.time
    with mock.patch("sotay.kit.auth.time.time", lambda: real() + offset_s):
        return env.chaos.auth(**grant)


async def figures(env: Env, service: str, unit: str, offset_s: int) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{env.chaos.services[service].base}/api/metrics/v1/rollout", params={"unit": unit},
                                  headers=headers_at(env, offset_s))
    answer.raise_for_status()
    return answer.json()


async def read(env: Env, person, offset_s: int) -> dict:
    """The person reads the article, with a token of content's clock (`offset_s`); refused (401) until
    content has read its clock file (at most once a second)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(20):
            answer = await client.post(
                f"{env.chaos.services['content'].base}/api/content/v1/articles/{env.w.article}/read",
                headers=headers_at(env, offset_s, role="member", unit=person.cell, subject=f"reader-{person.card}",
                                   card=person.card))
            if answer.status_code != 401:
                break
            await asyncio.sleep(0.5)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_reader_counts_today_while_content_has_turned_the_day_and_metrics_has_not(skewed_env: Env):
    env = skewed_env
    person = env.w.readers[0]
    units = UNITS_OF[person.cell]
    before_midnight = seconds_to_midnight() - 120  # the clocks at 23:58:00: two minutes for the steps before
    for name in ("content", *METRICS):
        env.clocks[name].set(before_midnight)
    day = (await read(env, person, before_midnight))["day"]
    today = date.fromisoformat(day)

    async def counted(want_day: date, offset_s: int) -> bool:
        got = [await figures(env, m, u, offset_s) for m in METRICS for u in units]
        return all(f["as_of"] == want_day.isoformat() and f["readers_today"] == f["readers_7d"] == 1 for f in got)

    await until(lambda: counted(today, before_midnight), 60, "the reader counted today on both replicas")

    # Content passes midnight (00:00:05 and on); metrics stays at 23:58 and on.
    content_after = before_midnight + 125
    env.clocks["content"].set(content_after)
    again = await read(env, person, content_after)
    assert again["day"] == (today + timedelta(days=1)).isoformat() and again["counted"], again

    account = f"reader-{person.card}"

    async def metrics_applied() -> bool:
        return await env.db.fetchval("SELECT last_day FROM metrics.readers WHERE account_id = $1",
                                     account) == today + timedelta(days=1)

    await until(metrics_applied, 60, "metrics applied the read stamped tomorrow")
    # The reader is still today's reader, on both replicas, at every unit above them.
    for m in METRICS:
        for u in units:
            f = await figures(env, m, u, before_midnight)
            assert (f["as_of"], f["readers_today"], f["readers_7d"]) == (day, 1, 1), (m, u, f)
    # What metrics publishes last before its midnight (the day's history) counts them too.
    await asyncio.sleep(3)

    # Metrics' day turns: the day's history counts the reader, and the new day counts them once.
    metrics_after = before_midnight + 130
    for m in METRICS:
        env.clocks[m].set(metrics_after)
    await until(lambda: counted(today + timedelta(days=1), metrics_after), 60,
                "the reader counted on the new day on both replicas")

    async def kept() -> list | None:
        rows = await env.db.fetch("SELECT unit, (figures ->> 'readers_today')::int AS n FROM metrics.unit_daily "
                                  "WHERE day = $1 AND unit = ANY($2::text[])", today, units)
        return rows if len(rows) == len(units) else None

    history = await until(kept, 60, "the day's figures kept in the history")
    assert {r["unit"]: r["n"] for r in history} == dict.fromkeys(units, 1)
    stamped = await env.db.fetch("SELECT day FROM content.reads WHERE account_id = $1 ORDER BY day", account)
    assert [r["day"] for r in stamped] == [today, today + timedelta(days=1)]
