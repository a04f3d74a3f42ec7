"""The baseline of `sotay bench feed`: a bare FastAPI endpoint that runs the
feed's query with asyncpg and returns its rows, nothing else (no token, no
SQLAlchemy, no problem handling, no middleware). The reader is named by
query parameters.

Run as `uvicorn sotay.bench_bare:app`, with SOTAY_BENCH_DSN set to the
database (search_path content)."""

import os
from contextlib import asynccontextmanager

import asyncpg
import orjson
from fastapi import FastAPI
from fastapi.responses import Response

from services.content.articles import feed_sql

# The very query the feed runs (first page, no filter).
FEED_SQL = feed_sql(after=False, category=False, unread_only=False)

pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(app):
    global pool
    pool = await asyncpg.create_pool(os.environ["SOTAY_BENCH_DSN"], min_size=10, max_size=10,
                                     server_settings={"search_path": "content, public"})
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})


@app.get("/feed")
async def feed(card: str, unit: str, account: str):
    rows = await pool.fetch(FEED_SQL, card, [unit], account, 21)
    return Response(orjson.dumps([{**r, "id": str(r["id"])} for r in rows]), media_type="application/json")
