"""The baseline of `sotay bench feed`: a bare FastAPI endpoint that runs the
feed's query with asyncpg and returns its rows, nothing else (no token, no
SQLAlchemy, no problem handling). The reader is named by a query parameter.

Run as `uvicorn sotay.bench_bare:app`, with SOTAY_BENCH_DSN set to the
database (search_path content)."""

import os
from contextlib import asynccontextmanager

import asyncpg
import orjson
from fastapi import FastAPI
from fastapi.responses import Response

# The same query as services.content.articles.feed, written out plainly.
FEED_SQL = """
WITH me AS (
    SELECT coalesce(
        (SELECT ancestors FROM readers WHERE party_card_no = $1),
        (SELECT array_agg(DISTINCT a) FROM org_units, unnest(ancestors) a WHERE code = ANY($2::text[]))
    ) AS anc
)
SELECT a.id, a.title, a.summary, a.category, a.tags, a.author_unit, a.published_at, a.expires_at, a.source_url,
       NOT EXISTS (SELECT 1 FROM reads r WHERE r.account_id = $3 AND r.article_id = a.id) AS unread
FROM articles a
WHERE a.status = 'published' AND (a.expires_at IS NULL OR a.expires_at > now())
  AND a.audience_paths && (SELECT anc FROM me)
ORDER BY a.published_at DESC, a.id DESC LIMIT $4
"""

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(os.environ["SOTAY_BENCH_DSN"], min_size=10, max_size=10,
                                     server_settings={"search_path": "content, public"})
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/feed")
async def feed(card: str, unit: str, account: str):
    rows = await pool.fetch(FEED_SQL, card, [unit], account, 21)
    return Response(orjson.dumps([{**r, "id": str(r["id"])} for r in rows]), media_type="application/json")
