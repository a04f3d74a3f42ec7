"""Publishing many messages to one stream, each of them acknowledged.

On a server with atomic batch publishing (nats-server 2.12+) and a stream
created with `allow_atomic`, up to 999 messages go as one batch that the
server stores whole or not at all, with a single acknowledgement: about a
third of the client CPU of one acknowledgement per message (`sotay bench`
figures in the README). The server refuses a batch holding a Nats-Msg-Id it
has already stored (a relay that died between publishing and marking its rows
sends them again): such a batch, or any batch refused or left unanswered, is
sent again one acknowledged message at a time, where a duplicate is simply
dropped. On an older server every message is acknowledged on its own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext

log = logging.getLogger("sotay.publishing")

ATOMIC_MAX = 999  # the server's default ceiling is 1,000 messages a batch
DUPLICATE_IN_BATCH = 10201  # "atomic publish batch contains duplicate message id"

Outgoing = tuple[str, bytes, dict[str, str] | None]  # subject, body, headers


def without_batch_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """A stored message's headers fit to publish it again: the Nats-Batch-* headers
    it was committed with would make the server take it for part of a new batch."""
    return {k: v for k, v in (headers or {}).items() if not k.startswith("Nats-Batch-")}


def server_has_atomic_batches(nc: Client) -> bool:
    version = nc.connected_server_version
    return (version.major, version.minor) >= (2, 12)


class BatchPublisher:
    """Publishes lists of messages bound for one stream (see the module doc)."""

    def __init__(self, js: JetStreamContext, nc: Client, *, timeout: float = 10.0) -> None:
        self.js = js
        self.nc = nc  # the connection `js` was made on: atomic batches are plain requests
        self.timeout = timeout
        self._refused: set[str] = set()  # streams (by subject prefix) with atomic publishing off

    async def publish(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        """Publish `messages` in order; one result per message, None when stored."""
        results: list[BaseException | None] = []
        for start in range(0, len(messages), ATOMIC_MAX):
            chunk = messages[start:start + ATOMIC_MAX]
            if len(chunk) > 1 and self.atomic_allowed(chunk[0][0]):
                try:
                    await self._atomic(chunk)
                    results += [None] * len(chunk)
                    continue
                except _Refused as refused:
                    if refused.code != DUPLICATE_IN_BATCH:
                        log.info("atomic batch to %s refused (%s); one message at a time", chunk[0][0], refused)
                        if refused.permanent:
                            self._refused.add(_prefix(chunk[0][0]))
                except Exception as exc:  # unanswered, no stream…: one at a time tells which messages fail
                    log.info("atomic batch to %s failed (%r); one message at a time", chunk[0][0], exc)
            results += await self._one_by_one(chunk)
        return results

    def atomic_allowed(self, subject: str) -> bool:
        """Whether messages to `subject` go in atomic batches (the server has them, its stream has not refused)."""
        return server_has_atomic_batches(self.nc) and _prefix(subject) not in self._refused

    async def _atomic(self, chunk: Sequence[Outgoing]) -> None:
        batch_id = uuid.uuid4().hex
        last = len(chunk)
        for sequence, (subject, body, headers) in enumerate(chunk, 1):
            batch_headers = {**(headers or {}), "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(sequence)}
            if sequence < last:
                await self.nc.publish(subject, body, headers=batch_headers)
            else:
                batch_headers["Nats-Batch-Commit"] = "1"
                answer = await self.nc.request(subject, body, headers=batch_headers, timeout=self.timeout)
                reply = orjson.loads(answer.data)
                if "error" in reply:
                    raise _Refused(reply["error"])

    async def _one_by_one(self, chunk: Sequence[Outgoing]) -> list[BaseException | None]:
        futures = [await self.js.publish_async(subject, body, headers=headers) for subject, body, headers in chunk]
        done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), self.timeout)
        return [r if isinstance(r, BaseException) else None for r in done]


class _Refused(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(error.get("description", "refused"))
        self.code = error.get("err_code")
        # Atomic publishing is off for the stream: not worth trying again.
        self.permanent = self.code == 10174  # "atomic publish is disabled"


def _prefix(subject: str) -> str:
    """The part of a subject that names its stream here: `sotay.<service>` or `$KV.<bucket>`."""
    return ".".join(subject.split(".")[:2])
