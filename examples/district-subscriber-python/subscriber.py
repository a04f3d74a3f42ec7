"""A committee's own system receiving sotay's events: a small FastStream app to copy.

It reads the committee's member and content events through the durable consumers sotay made
for it (`district-<code>` on SOTAY_MEMBERS and SOTAY_CONTENT, created by `sotay migrate` with
SOTAY_DISTRICT_CONSUMERS=<code>; the server keeps where it stopped), as the NATS user
`district-<code>`, which may read that committee's events and nothing else. Each event is
applied once: its id goes into a small SQLite store in the same transaction as what the
system does with it, and only then is the message acknowledged. A message delivered again
(after a crash between the two) is acknowledged and skipped.

Run it:  python subscriber.py   (or `faststream run subscriber:app`; settings from the environment, below)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3

from faststream import FastStream
from faststream.nats import NatsBroker, NatsUserPassword

COMMITTEE = os.environ.get("SOTAY_COMMITTEE", "ba-dinh")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
NATS_USER = os.environ.get("NATS_USER", f"district-{COMMITTEE}")
NATS_PASSWORD = os.environ.get("NATS_PASSWORD", "")
STORE = os.environ.get("SUBSCRIBER_STORE", "events.sqlite3")
STREAMS = ("SOTAY_MEMBERS", "SOTAY_CONTENT")  # SOTAY_IDENTITY and SOTAY_METRICS work the same way
BATCH = 100

log = logging.getLogger("district-subscriber")

broker = NatsBroker(
    NATS_URL, security=NatsUserPassword(NATS_USER, NATS_PASSWORD), name=f"district-subscriber-{COMMITTEE}",
    # Replies (the fetched messages) come on this user's own inbox subjects: the only ones it may read.
    inbox_prefix=f"_INBOX_district-{COMMITTEE}",
)
app = FastStream(broker)
tasks: list[asyncio.Task] = []


class Store:
    """The ids of the events applied, and what this example does with an event: keep it."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, type TEXT NOT NULL, "
                        "subject TEXT NOT NULL, sequence TEXT, received_at TEXT DEFAULT CURRENT_TIMESTAMP, "
                        "body TEXT NOT NULL)")

    def apply_once(self, nats_subject: str, event: dict) -> bool:
        """Apply the event unless it was applied before; whether it was new."""
        with contextlib.closing(self.db.cursor()) as cur:
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("INSERT OR IGNORE INTO events (id, type, subject, sequence, body) VALUES (?, ?, ?, ?, ?)",
                            (event["id"], event["type"], nats_subject, event.get("sequence"), json.dumps(event)))
                new = cur.rowcount == 1
                if new:
                    handle(cur, nats_subject, event)
                cur.execute("COMMIT")
                return new
            except BaseException:
                cur.execute("ROLLBACK")
                raise


def handle(cur: sqlite3.Cursor, nats_subject: str, event: dict) -> None:
    """Your system's work, in the same transaction as the event's id. `event` is a CloudEvent:
    `type` (sotay.members.MemberRegistered.v2 ...), `subject` (the aggregate's id), `orgunit`,
    `sequence` (the aggregate's version as 20 digits: compare strings to drop stale updates; events
    from before 2026 carry an integer) and `data` (the payload; /api/<service>/v1/asyncapi)."""


store: Store | None = None


async def consume(js, stream: str) -> None:
    """Fetch from the committee's durable consumer on `stream` until stopped, surviving outages."""
    durable = f"district-{COMMITTEE}"
    while True:
        try:
            subscription = await js.pull_subscribe_bind(durable, stream)
            while True:
                try:
                    messages = await subscription.fetch(BATCH, timeout=5)
                except TimeoutError:  # nothing new (nats-py raises its own or asyncio's: both are TimeoutError)
                    continue
                for message in messages:
                    await process(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # NATS away, the consumer not there yet: try again soon
            log.warning("%s: %r; binding again in 2 s", stream, exc)
            await asyncio.sleep(2)


async def process(message) -> None:
    try:
        event = json.loads(message.data)
    except ValueError:
        event = None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get("type"), str)):
        log.error("not an event, left aside: %s", message.subject)
        await message.term()  # it will not get better: never delivered again
        return
    try:
        new = store.apply_once(message.subject, event)
    except Exception:
        log.exception("event %s not applied; it comes again in 10 s", event["id"])
        await message.nak(delay=10)
        return
    await message.ack_sync()  # only once applied: a crash before this delivers it again, and it is skipped
    log.info("%s %s %s", "applied" if new else "already applied", event["type"], event["id"])


@app.after_startup
async def start() -> None:
    global store
    store = Store(STORE)
    nc = await broker.connect()
    js = nc.jetstream()
    tasks.extend(asyncio.create_task(consume(js, stream), name=f"consume-{stream}") for stream in STREAMS)
    log.info("receiving the events of %s from %s", COMMITTEE, ", ".join(STREAMS))


@app.on_shutdown
async def stop() -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(app.run())  # stops on SIGINT or SIGTERM
