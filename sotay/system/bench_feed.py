"""`sotay bench feed`: the member's feed endpoint against a bare one.

On real servers (embedded ones in a temporary directory unless configured)
it loads content's tables with a Hanoi-like org tree, 100,000 members (the
readers replica), 10,000 published articles with city, committee and
grassroots audiences, and reads for the unread markers. Then, in the same
run and the same way (one uvicorn process, the same thin keep-alive HTTP
client, the same concurrency), it measures:

- the baseline: a bare FastAPI + asyncpg endpoint running the feed's query
  and returning its rows (`sotay.bench_bare`);
- the feed: `GET /api/content/v1/feed` of `sotay serve content`, with a
  member's bearer token (signature checked), the same query through
  SQLAlchemy, cursor and JSON.

Each is run twice, alternately, and the means compared. Target: the feed
at least half the baseline's requests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from services.content.domain import ancestors, committee_of
from services.content.domain.text import fold
from sotay.system.demo.registry import build_org_tree
from sotay.kit.auth import Grant, mint_token
from sotay.system.bench import keep_alive_load, percentile_ms, raw_request, scratch_system, start_service, until_ready
from sotay.kit.db import plain_url
from sotay.kit.embedded import free_port
from sotay.kit.events import uuid7
from sotay.kit.service import ServiceRuntime
from sotay.kit.settings import Settings

TARGET_RATIO = 0.5
CATEGORIES = ("news", "directive", "guidance", "qa", "local_news")


async def run_feed_benchmark(settings: Settings, *, members: int, articles: int, requests: int,
                             json_file: Path | None = None) -> int:
    async with scratch_system(settings, ["content"]) as (settings, infra, db_url):
        return await _run(settings, infra, db_url, members, articles, requests, json_file)


async def _trust_development_key(settings, nats_url: str) -> None:
    """Content runs here without identity: it is given the key set identity would publish."""
    import nats

    from sotay.kit.keys import publish_development_jwks

    nc = await nats.connect(nats_url)
    try:
        await publish_development_jwks(nc.jetstream(), settings)
    finally:
        await nc.close()


async def _run(settings, infra, db_url: str, member_count: int, article_count: int, request_count: int,
               json_file: Path | None) -> int:
    from sotay.system.registry import load

    content = ServiceRuntime(load("content"), settings, infra.nats_url, db_url)
    await content.migrate()
    await content.context.engine.dispose()
    started = time.perf_counter()
    readers = await _load_data(db_url, member_count, article_count)
    print(f"loaded {member_count:,} members and {article_count:,} articles in {time.perf_counter() - started:.1f} s",
          flush=True)

    rng = random.Random(11)
    sample = rng.sample(readers, min(2000, len(readers)))
    key = settings.signing_key()
    await _trust_development_key(settings, infra.nats_url)
    # Each member's app signs in once and sends its token with every request, as a phone does.
    tokens = {card: mint_token(key, f"account-{card}", [Grant("member", unit)], member_card_no=card, unit=unit)
              for card, unit in sample}
    ours_requests, bare_requests = [], []
    for i in range(request_count):
        card, unit = sample[i % len(sample)]
        ours_requests.append(raw_request("GET", "/api/content/v1/feed", headers={"Authorization": f"Bearer {tokens[card]}"}))
        bare_requests.append(raw_request("GET", f"/feed?card={card}&unit={unit}&account=account-{card}"))

    runs: dict[str, list[tuple[float, list[float]]]] = {"bare": [], "feed": []}
    for _ in range(2):
        for name in ("bare", "feed"):
            port = free_port()
            proc = (start_bare(db_url, port) if name == "bare"
                    else start_service("content", infra.nats_url, db_url, settings, port))
            try:
                await wait_http(port, "/healthz" if name == "bare" else "/readyz")
                # Warm up: connection pools, caches, the first requests' imports.
                await keep_alive_load(port, (bare_requests if name == "bare" else ours_requests)[:500])
                runs[name].append(await keep_alive_load(port, bare_requests if name == "bare" else ours_requests))
            finally:
                proc.terminate()
                proc.wait(30)

    def rate(name):
        return [request_count / seconds for seconds, _ in runs[name]]

    def latencies(name):
        return [lat for _, lats in runs[name] for lat in lats]

    bare_rate, feed_rate = sum(rate("bare")) / 2, sum(rate("feed")) / 2
    ratio = feed_rate / bare_rate
    result = {
        "name": "feed", "target": f"feed requests/s at least {TARGET_RATIO}x the bare FastAPI + asyncpg endpoint",
        "data": {"members": member_count, "articles": article_count, "requests_per_run": request_count,
                 "concurrency": 16},
        "figures": {"feed_requests_per_s": round(feed_rate, 1), "feed_runs": [round(r, 1) for r in rate("feed")],
                    "feed_p50_ms": percentile_ms(latencies("feed"), 50), "feed_p99_ms": percentile_ms(latencies("feed"), 99)},
        "floor": {"bare_requests_per_s": round(bare_rate, 1), "bare_runs": [round(r, 1) for r in rate("bare")],
                  "bare_p50_ms": percentile_ms(latencies("bare"), 50), "bare_p99_ms": percentile_ms(latencies("bare"), 99)},
        "ratio": round(ratio, 2), "met": ratio >= TARGET_RATIO,
    }
    f, b = result["figures"], result["floor"]
    print()
    print(f"{'figure':<40}{'value':>22}")
    for label, value in [
        ("bare FastAPI + asyncpg requests/s", f"{b['bare_requests_per_s']} ({b['bare_runs'][0]}, {b['bare_runs'][1]})"),
        ("  p50 / p99", f"{b['bare_p50_ms']} / {b['bare_p99_ms']} ms"),
        ("feed requests/s", f"{f['feed_requests_per_s']} ({f['feed_runs'][0]}, {f['feed_runs'][1]})"),
        ("  p50 / p99", f"{f['feed_p50_ms']} / {f['feed_p99_ms']} ms"),
        ("ratio (feed / bare)", f"{ratio:.2f}x"),
        (f"target >= {TARGET_RATIO}x", "met" if result["met"] else "NOT met"),
    ]:
        print(f"{label:<40}{value:>22}")
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0 if result["met"] else 1


def start_bare(db_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "SOTAY_BENCH_DSN": plain_url(db_url)}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "sotay.system.bench_bare:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], env=env, stdout=subprocess.DEVNULL)


async def wait_http(port: int, path: str, timeout: float = 60) -> None:
    import httpx
    async with httpx.AsyncClient(timeout=5) as client:
        base = f"http://127.0.0.1:{port}"
        if path == "/readyz":
            await until_ready(client, f"{base}/readyz")
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (await client.get(base + path)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise TimeoutError(f"nothing answered on port {port}")


async def _load_data(db_url: str, member_count: int, article_count: int) -> list[tuple[str, str]]:
    """Content's tables as the events would have built them, written with COPY."""
    rng = random.Random(2023)
    units = build_org_tree(2023, scale=1.0)
    paths: dict[str, str] = {}
    unit_rows = []
    for u in units:  # parents come before children
        path = (paths[u.parent] if u.parent else "/") + u.code + "/"
        paths[u.code] = path
        unit_rows.append((u.code, u.name, u.kind, path, ancestors(path), committee_of(path)))
    cells = [u.code for u in units if u.kind == "cell"]
    committees = [u.code for u in units if u.kind == "committee"]
    grassroots = [u.code for u in units if u.kind == "grassroots"]

    readers, reader_rows = [], []
    for i in range(member_count):
        cell, card = rng.choice(cells), f"{i + 1:09d}"
        readers.append((card, cell))
        reader_rows.append((uuid7(), card, f"Đảng viên {i}", cell, paths[cell], ancestors(paths[cell]),
                            committee_of(paths[cell]), "active", 1))

    now = datetime.now(UTC)
    body = "<p>" + "Nội dung bài viết về hoạt động của chi bộ và đảng bộ. " * 30 + "</p>"
    article_rows, article_ids = [], []
    for i in range(article_count):
        roll = rng.random()
        audience = ["city"] if roll < 0.25 else [rng.choice(committees)] if roll < 0.7 else [rng.choice(grassroots)]
        author = "city" if audience == ["city"] else committee_of(paths[audience[0]])
        published = now - timedelta(seconds=rng.uniform(0, 180 * 86400))
        expires = now - timedelta(days=1) if rng.random() < 0.03 else None
        title = f"Bài viết số {i}: tin hoạt động"
        article_id = uuid7()
        article_ids.append(article_id)
        article_rows.append((article_id, title, "Tóm tắt bài viết.", body, "html", body, rng.choice(CATEGORIES), [],
                             [], "bench", author, paths[author], committee_of(paths[author]), audience,
                             [paths[a] for a in audience], "published", published, expires, fold(title)))
    read_rows = []
    for card, _ in rng.sample(readers, min(len(readers), 50_000)):
        for article_id in rng.sample(article_ids, 5):
            read_rows.append((f"account-{card}", article_id, now.date()))

    conn = await asyncpg.connect(plain_url(db_url), server_settings={"search_path": "content, public"})
    try:
        await conn.copy_records_to_table("org_units", records=unit_rows,
                                         columns=("code", "name", "kind", "path", "ancestors", "committee"))
        await conn.copy_records_to_table("readers", records=reader_rows, columns=(
            "member_id", "party_card_no", "full_name", "unit", "unit_path", "ancestors", "committee", "status",
            "version"))
        await conn.copy_records_to_table("articles", records=article_rows, columns=(
            "id", "title", "summary", "body_html", "body_format", "body_source", "category", "tags", "attachments",
            "author", "author_unit", "author_path", "committee", "audience", "audience_paths", "status",
            "published_at", "expires_at", "search_folded"))
        await conn.copy_records_to_table("reads", records=read_rows, columns=("account_id", "article_id", "day"))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return readers
