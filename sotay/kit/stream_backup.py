"""JetStream's own backup: a stream, with its consumers' state, snapshotted while the server runs,
and restored into a server that does not have it (what `nats stream backup` and `nats stream
restore` do), over nats-py.

The protocol (nats-server's server/jetstream_api.go, `jsStreamSnapshotRequest`, `streamSnapshot`
and `processStreamRestore`):

- snapshot: subscribe to an inbox, then ask `$JS.API.STREAM.SNAPSHOT.<stream>` with
  `{"deliver_subject": inbox, "chunk_size", "window_size"}`; the answer carries the stream's
  config and state at the moment of the snapshot. The server then sends the snapshot (an s2
  compressed archive of the store and the consumers' state) in chunks to the inbox, each with a
  reply subject: an empty message to it frees one chunk of the window, and with no ack for 5 s the
  server gives up. A last chunk shorter than the others comes without a reply subject; the end is
  an empty message, with a status header `204` (or none); status `408` or `500` is a failure.
- restore: ask `$JS.API.STREAM.RESTORE.<stream>` with `{"config", "state"}` (the snapshot's
  answer); the answer names a deliver subject. Each chunk is a request to it (the empty answer
  acks it, a JSON one is an error), and an empty request ends it: its answer, once the server has
  rebuilt the stream, is the stream's info or the error. The server refuses to restore over a
  stream that exists, and gives up after 5 s without a chunk.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO

import orjson
from nats.aio.client import Client

SNAPSHOT_API = "$JS.API.STREAM.SNAPSHOT.{}"
RESTORE_API = "$JS.API.STREAM.RESTORE.{}"
NAMES_API = "$JS.API.STREAM.NAMES"
CHUNK = 128 * 1024
WINDOW = 8 * 1024 * 1024


class StreamBackupError(RuntimeError):
    """The server refused or broke off a snapshot or a restore."""


@dataclass
class Snapshot:
    """What the server said of a stream when it took the snapshot, and how it went."""

    stream: str
    config: dict[str, Any]
    state: dict[str, Any]
    started_at: datetime
    seconds: float
    size: int

    def meta(self) -> dict[str, Any]:
        return {"stream": self.stream, "config": self.config, "state": self.state,
                "started_at": self.started_at.isoformat(), "seconds": round(self.seconds, 3), "size": self.size}


def _answer(raw: bytes, what: str) -> dict[str, Any]:
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StreamBackupError(f"{what}: not a JetStream answer: {raw[:200]!r}") from None
    if error := answer.get("error"):
        raise StreamBackupError(f"{what}: {error.get('description', error)} (code {error.get('err_code')})")
    return answer


async def stream_names(nc: Client, timeout: float = 10.0) -> list[str]:
    """Every stream of the account (the key-value buckets' `KV_<bucket>` too), sorted."""
    names: list[str] = []
    while True:
        answer = _answer((await nc.request(NAMES_API, orjson.dumps({"offset": len(names)}), timeout=timeout)).data,
                         "stream names")
        page = answer.get("streams") or []
        names += page
        if not page or len(names) >= answer.get("total", 0):
            return sorted(names)


async def snapshot(nc: Client, stream: str, out: BinaryIO, *, consumers: bool = True, chunk_size: int = CHUNK,
                   window_size: int = WINDOW, timeout: float = 30.0) -> Snapshot:
    """Write the stream's snapshot (with its consumers) to `out`; the server keeps running and
    taking messages meanwhile: the snapshot holds the stream as it was when asked."""
    started, clock = datetime.now(timezone.utc), time.monotonic()
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    size = 0
    try:
        request = {"deliver_subject": inbox, "no_consumers": not consumers, "chunk_size": chunk_size,
                   "window_size": window_size}
        answer = _answer((await nc.request(SNAPSHOT_API.format(stream), orjson.dumps(request),
                                           timeout=timeout)).data, f"snapshot of {stream}")
        while True:
            try:
                msg = await sub.next_msg(timeout=timeout)
            except TimeoutError:
                raise StreamBackupError(f"snapshot of {stream}: no chunk for {timeout:.0f} s") from None
            if not msg.data:
                status = (msg.headers or {}).get("Status")
                if status not in (None, "", "204"):
                    reason = (msg.headers or {}).get("Description", "")
                    raise StreamBackupError(f"snapshot of {stream}: the server broke off ({status} {reason})")
                break
            out.write(msg.data)
            size += len(msg.data)
            if msg.reply:
                await nc.publish(msg.reply, b"")
    finally:
        await sub.unsubscribe()
    return Snapshot(stream, answer["config"], answer["state"], started, time.monotonic() - clock, size)


async def restore(nc: Client, config: dict[str, Any], state: dict[str, Any], source: BinaryIO, *,
                  chunk_size: int = CHUNK, timeout: float = 30.0, finish_timeout: float = 300.0) -> dict[str, Any]:
    """Rebuild a stream (and the consumers its snapshot holds) from `source`; the server must not
    have it. The stream's info, as the server answers once it is rebuilt."""
    stream = config["name"]
    answer = _answer((await nc.request(RESTORE_API.format(stream), orjson.dumps({"config": config, "state": state}),
                                       timeout=timeout)).data, f"restore of {stream}")
    deliver = answer["deliver_subject"]
    while chunk := source.read(chunk_size):
        reply = await nc.request(deliver, chunk, timeout=timeout)
        if reply.data:
            _answer(reply.data, f"restore of {stream}")
    done = await nc.request(deliver, b"", timeout=finish_timeout)
    return _answer(done.data, f"restore of {stream}")


async def message_ids(nc: Client, stream: str, since: datetime, *, batch: int = 1000,
                      timeout: float = 5.0) -> set[str]:
    """The `Nats-Msg-Id` of every message the stream holds from `since` on (headers only)."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    js = nc.jetstream()
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return set()
    sub = await js.pull_subscribe(info.config.subjects[0], stream=stream, config=ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since, ack_policy=AckPolicy.NONE,
        headers_only=True, inactive_threshold=60.0))
    found: set[str] = set()
    consumer = await sub.consumer_info()
    try:
        pending = consumer.num_pending
        while pending:
            try:
                msgs = await sub.fetch(min(batch, pending), timeout=timeout)
            except TimeoutError:
                raise StreamBackupError(f"reading {stream}: {pending} messages not delivered in {timeout:.0f} s") \
                    from None
            for msg in msgs:
                if msg_id := (msg.headers or {}).get("Nats-Msg-Id"):
                    found.add(msg_id)
            pending = msgs[-1].metadata.num_pending
        return found
    finally:
        await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, consumer.name)
