"""The baseline of `sotay bench feed` and of the suite's morning reading: a
bare FastAPI app that runs content's queries with asyncpg and returns their
rows, nothing else (no token, no SQLAlchemy, no problem handling, no
middleware). The reader is named by query parameters.

- `GET /feed`: the feed's very query;
- `GET /article`: the article, if the reader may see it (the same test);
- `POST /read`: the same transaction as recording a read: the visibility
  check, the reader's row, the read inserted, an event row written to an
  outbox-like table of its own (`bench_bare_outbox`, which no relay reads,
  so the bare reads reach no other service) and a NOTIFY.

Run as `uvicorn sotay.system.bench_bare:app`, with SOTAY_BENCH_DSN set to the
database (search_path content)."""

import os
import uuid
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
import orjson
from fastapi import FastAPI
from fastapi.responses import Response

from services.content.adapters.articles import ARTICLE_SQL, IN_FEED_SQL, INSERT_READ_SQL, feed_sql

# The very statements content runs: the feed's (first page, no filter), the article's, the read's
# visibility check and insert.
FEED_SQL = feed_sql(after=False, category=False, unread_only=False)
VISIBLE_SQL, READ_SQL = IN_FEED_SQL, INSERT_READ_SQL
READER_SQL = "SELECT member_id, unit, committee FROM readers WHERE party_card_no = $1"
# As sotay.outbox.add_events: the event row and the relay's wake-up in one statement.
OUTBOX_SQL = ("WITH inserted AS (INSERT INTO bench_bare_outbox (event_id, subject, body, headers) "
              "VALUES ($1, $2, $3, '{}')) SELECT pg_notify('bench_bare', '')")

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(os.environ["SOTAY_BENCH_DSN"], min_size=10, max_size=10,
                                     server_settings={"search_path": "content, public"})
    await pool.execute("CREATE TABLE IF NOT EXISTS public.bench_bare_outbox (id bigserial PRIMARY KEY, "
                       "event_id uuid, subject text, body bytea, headers jsonb)")
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})


def _json(value) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


@app.get("/feed")
async def feed(card: str, unit: str, account: str):
    rows = await pool.fetch(FEED_SQL, card, [unit], account, 21)
    return _json([{**r, "id": str(r["id"])} for r in rows])


@app.get("/article")
async def article(card: str, unit: str, id: uuid.UUID):
    row = await pool.fetchrow(ARTICLE_SQL, card, [unit], id)
    if row is None or not row["in_feed"]:
        return Response(status_code=404)
    return _json({k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in row.items()})


@app.post("/read")
async def read(card: str, unit: str, account: str, id: uuid.UUID):
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(VISIBLE_SQL, card, [unit], id) is None:
            return Response(status_code=404)
        reader = await conn.fetchrow(READER_SQL, card)
        day = date.today()
        first = await conn.fetchval(READ_SQL, account, id, day, reader["member_id"], reader["unit"]) is not None
        if first:
            body = orjson.dumps({"type": "ArticleRead", "data": {"article_id": str(id), "account_id": account,
                                                                 "unit": reader["unit"], "day": day.isoformat()}})
            await conn.execute(OUTBOX_SQL, uuid.uuid4(), f"bench.bare.{reader['committee']}", body)
    return _json({"article_id": str(id), "day": day.isoformat(), "counted": first})
