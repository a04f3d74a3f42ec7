"""Durable pull consumers with an inbox, delayed retries and a dead-letter stream.

A batch of messages is applied in one database transaction together with
their inbox rows, so a redelivered event changes nothing. Should a handler
fail, the batch is applied again one message at a time, each under a
savepoint, so one bad message does not undo the others. After the
commit the applied messages are acked; a message whose handler failed is
nacked with a delay, and dead-lettered once it has been delivered
`max_deliver` times. A message that cannot be decoded is dead-lettered at
once, so it never blocks the ones behind it. When the database itself is
unreachable the whole batch is nacked and nothing is dead-lettered: the
fault is not the messages'.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import propagate, trace
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sotay.kit import observability, telemetry
from sotay.kit.db import database_error_text, error_chain
from sotay.kit.events import Event, Upcaster, parse_envelope
from sotay.kit.publishing import without_batch_headers
from sotay.kit.streams import dlq_subject

log = logging.getLogger("sotay.consumer")
tracer = trace.get_tracer("sotay.consumer")

Handler = Callable[[AsyncConnection, dict[str, Any]], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[None]]

DLQ_HEADERS = ("Sotay-Dlq-Reason", "Sotay-Dlq-Consumer", "Sotay-Dlq-Subject", "Sotay-Dlq-Stream-Seq",
               "Sotay-Dlq-Deliveries")


# The messages whose handler is running, by event id (their subject, headers and bytes as
# published), for a handler that needs more than the decoded envelopes: the webhook bridge
# forwards the bytes. A batch handler finds its whole batch's there.
current_messages: contextvars.ContextVar[dict[str, Msg]] = contextvars.ContextVar("current_messages", default={})


class PermanentError(Exception):
    """The message can never be applied: dead-letter it without retrying."""


class _HandlerFailed(Exception):
    """A handler failed inside a whole-batch transaction; `verdict` is that message's."""

    def __init__(self, index: int, verdict: tuple[str, str]) -> None:
        super().__init__(verdict[1])
        self.index, self.verdict = index, verdict


_INBOX_ONE = text("INSERT INTO inbox (consumer, event_id) VALUES (:c, :e) ON CONFLICT DO NOTHING RETURNING 1")
_INBOX_MANY = text("INSERT INTO inbox (consumer, event_id) SELECT :c, unnest(CAST(:ids AS uuid[])) "
                   "ON CONFLICT DO NOTHING RETURNING CAST(event_id AS text)")  # as the envelopes have them: no UUID objects


async def first_deliveries(conn: AsyncConnection, consumer: str,
                           envelopes: list[dict[str, Any] | None]) -> list[bool]:
    """Record the inbox rows of these events in one statement; for each, whether
    this is its first application (one seen before, or twice in the list, is not)."""
    ids = [e["id"] for e in envelopes if e is not None]
    new = set((await conn.execute(_INBOX_MANY, {"c": consumer, "ids": ids})).scalars()) if ids else set()
    first = []
    for envelope in envelopes:
        first.append(envelope is not None and envelope["id"] in new)
        if first[-1]:
            new.discard(envelope["id"])
    return first


# Faults of the infrastructure, not of the message.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError, sa_exc.InterfaceError, sa_exc.OperationalError,
)


def error_text(exc: BaseException) -> str:
    """What a log line or a dead letter says about an error: never the data it was about.

    A database error is told by its class, SQLSTATE, constraint and primary message
    (sotay.db.database_error_text), not by the DETAIL that quotes the row's values; a
    payload that failed validation by the fields and what was wrong with them, not by
    the input pydantic quotes."""
    told = database_error_text(exc)
    if told is not None:
        return told
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['type']}"
                             for e in exc.errors(include_input=False, include_url=False, include_context=False))
        return f"ValidationError: {exc.error_count()} errors in {exc.title}: {problems}"
    return f"{type(exc).__name__}: {exc}"


# PostgreSQL's own word that the fault is the server's: insufficient resources (53: disk full, out
# of memory, too many connections), operator intervention (57P: shutting down, in crash recovery),
# system errors (58: I/O). A handler's write refused for these is retried without counting towards
# the message's deliveries (a full disk once dead-lettered events: tests/chaos/test_load.py).
INFRASTRUCTURE_SQLSTATES = ("53", "57P", "58")


def _is_infrastructure_error(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return True
    return any(isinstance(link, asyncpg.PostgresError) and (link.sqlstate or "").startswith(INFRASTRUCTURE_SQLSTATES)
               for link in error_chain(exc))


@dataclass
class Consumer:
    """A durable consumer `<service>-<purpose>` on one stream."""

    name: str
    stream: str
    filter_subject: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    # Set by on_batch: applies a whole batch's new events at once (in stream order).
    batch_handler: BatchHandler | None = None
    # Messages fetched at a time, when not the service's SOTAY_CONSUMER_BATCH: a
    # batch handler's cost is mostly per batch, so it takes larger ones.
    batch_size: int | None = None
    # Optional: the key of the entity an event is about. Events with one key must
    # be applied in stream order; events with different keys may be applied side
    # by side (the metrics replay does, in lanes: rebuild.py).
    lane_key: Callable[[dict[str, Any]], Any] | None = None
    # The classes of the events handled (given as classes): the AsyncAPI document's receive operations.
    events: dict[str, type[Event]] = field(default_factory=dict)
    # Older versions of the events handled, read as the current one: old type → (type, upcaster).
    older: dict[str, tuple[str, Upcaster]] = field(default_factory=dict)
    # What upcasters hash a personal value with, when an older version carried it in clear (the
    # service's keyed hash, where it holds the key); None elsewhere.
    hasher: Callable[[str], str] | None = None
    # False for a consumer that passes events on as they came (webhooks): an older version is then
    # not read as the current one but dead-lettered with its reason like any version not followed.
    reads_older: bool = True

    def on(self, event: type[Event] | str) -> Callable[[Handler], Handler]:
        """Register the handler of an event, given by its class (sotay.contracts), or its type."""
        def register(handler: Handler) -> Handler:
            self.handlers[self._known(event)] = handler
            return handler
        return register

    def _known(self, event: type[Event] | str) -> str:
        if not isinstance(event, str):
            self.events[event.event_type()] = event
            if self.reads_older:
                for older, upcast in event.older_types().items():
                    self.older[older] = (event.event_type(), upcast)
        return _type_of(event)

    def read_older(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """An older version of an event handled, as the current one (docs/events.md, "Versions"):
        its data upcast and its type the current one, the type it came as kept in `upcast_from`.
        Any other envelope as it is. PermanentError when the older payload cannot be read."""
        if (known := self.older.get(envelope["type"])) is None:
            return envelope
        current, upcast = known
        try:
            data = upcast(envelope["data"], self.hasher)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PermanentError(f"{envelope['type']} cannot be read as {current}: "
                                 f"{type(exc).__name__} {exc}") from None
        return {**envelope, "data": data, "type": current, "upcast_from": envelope["type"]}

    def on_batch(self, events: Iterable[type[Event] | str], handler: BatchHandler) -> None:
        """One handler for all these events, given each fetched batch's new events
        together: a projection can then read and write the batch's rows in a few
        statements. Should it fail, the kit applies the batch again one event at a
        time (a list of one), so the failure stays with its message."""
        self.batch_handler = handler
        for event in events:
            async def one(conn: AsyncConnection, envelope: dict[str, Any]) -> None:
                await handler(conn, [envelope])
            self.handlers[self._known(event)] = one


def _type_of(event: type[Event] | str) -> str:
    return event if isinstance(event, str) else event.event_type()


def _unversioned(event_type: str) -> str:
    """`sotay.members.MemberRegistered.v2` → `sotay.members.MemberRegistered`."""
    name, dot, version = event_type.rpartition(".")
    return name if dot and version.startswith("v") and version[1:].isdigit() else event_type


def unhandled_verdict(handlers: dict[str, Any], event_type: str) -> tuple[str, str]:
    """What becomes of an event no handler takes. An event this consumer does not follow is
    acknowledged and left ("ignored": streams carry every event of their service). But another
    version of an event it does follow (a v1 from a replica of the publisher not yet upgraded, a
    v3 from one already ahead) is not dropped in silence: it goes to the dead letters with its
    reason, to be sent again once both sides read it (docs/events.md, "Versions")."""
    name = _unversioned(event_type)
    read = sorted(t for t in handlers if _unversioned(t) == name)
    if read:
        return "dead", f"{event_type}: a version this consumer does not read (it reads {', '.join(read)})"
    return "ignored", ""


@dataclass
class Outcome:
    acked: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0


# A fetch answers within its timeout. One that has not after this much longer is stuck, and the
# runner subscribes again: a fetch that never returned would stop this replica consuming the
# stream without a word (the fault tests once saw a replica stop pulling).
FETCH_GRACE_S = 10.0


class FetchStuck(Exception):
    pass


class ConsumerRunner:
    """Fetches batches for one durable consumer and applies them.

    The fetch loop is ours rather than FastStream's pull subscriber: that one
    waits to fill a batch until its timeout (latency on a quiet stream) and
    its task dies on the built-in TimeoutError nats-py raises near a
    deadline, leaving fetched messages unacked until their ack wait."""

    def __init__(self, consumer: Consumer, engine: AsyncEngine, js: JetStreamContext, *,
                 max_deliver: int, nack_delay: float, batch_size: int = 200, fetch_timeout: float = 2.0) -> None:
        self.consumer = consumer
        self.engine = engine
        self.js = js
        self.max_deliver = max_deliver
        self.nack_delay = nack_delay
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.totals = Outcome()
        self.bound = False
        # After a batch failed for a cause not its own (the database away): how long to wait before
        # the next one, doubling up to 5 s while it lasts, 0 once a batch goes through.
        self.pause = 0.0
        # Set by stop(): the runner applies and acks what it has fetched, fetches no more, and returns.
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop after the batch in hand (and the one being fetched behind it), acked: a replica
        going away leaves nothing waiting for its ack wait (docs/upgrades.md). `run` then returns."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until cancelled, surviving NATS and database outages."""
        while not self._stopping.is_set():
            subscription = None
            try:
                subscription = await self.js.pull_subscribe_bind(self.consumer.name, self.consumer.stream)
                self.bound = True
                await self._consume(subscription)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s: %s; resubscribing in 1s", self.consumer.name, error_text(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
            finally:
                self.bound = False
                if subscription is not None:
                    if self._stopping.is_set():
                        await self._hand_back(subscription)
                    # A live subscription makes the connection's drain on shutdown wait its full timeout.
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()

    async def _hand_back(self, subscription) -> None:
        """Messages delivered to the subscription after its last fetch (a pull request's late
        answer): given back at once for another replica, not left to their ack wait."""
        queue = subscription._sub._pending_queue
        while not queue.empty():
            msg = queue.get_nowait()
            if msg.headers and msg.headers.get("Status"):  # a status of the pull request, not a message
                continue
            with contextlib.suppress(Exception):
                await msg.nak()

    async def _fetch(self, subscription) -> list[Msg]:
        try:
            return await subscription.fetch(self.batch_size, timeout=self.fetch_timeout)
        except TimeoutError:  # nats-py's own TimeoutError subclasses the built-in one
            return []

    async def _consume(self, subscription) -> None:
        me = asyncio.current_task()
        fetching: asyncio.Future | None = None
        try:
            while True:
                # Python 3.11's wait_for (inside nats-py's fetch) can swallow a cancellation
                # that lands as a message arrives; the task still knows it was asked to stop.
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError
                if self._stopping.is_set() and fetching is None:
                    return  # what was fetched is applied and acked
                try:
                    messages = await asyncio.wait_for(fetching or self._fetch(subscription),
                                                      self.fetch_timeout + FETCH_GRACE_S)
                except TimeoutError:  # _fetch turns nats-py's own timeout into []: this is ours
                    raise FetchStuck(f"a fetch did not return within {self.fetch_timeout + FETCH_GRACE_S:.0f} s"
                                     ) from None
                # While a batch is applied the next one is on its way (one fetch at a time); none once
                # stopping. A fetch under way is not cancelled: what it has taken would wait its ack wait.
                fetching = (asyncio.ensure_future(self._fetch(subscription))
                            if messages and not self._stopping.is_set() else None)
                if not messages:
                    continue
                try:
                    await self.process_batch(messages)
                except Exception as exc:
                    # Not the messages' fault (see process_batch): let them come back later.
                    log.error("consumer %s: batch failed: %s", self.consumer.name, error_text(exc))
                    self._back_off()
                    await asyncio.gather(*(m.nak(delay=self.nack_delay) for m in messages), return_exceptions=True)
                if self.pause:
                    # Rather than fetch, fail and nak as fast as the server redelivers (a hot
                    # loop that floods the log for as long as the database is away).
                    await asyncio.sleep(self.pause)
        finally:
            if fetching is not None:
                fetching.cancel()

    async def process_batch(self, messages: list[Msg]) -> Outcome:
        self._batch = (time.perf_counter(), messages)  # for the batch's metrics (_add)
        outcome = Outcome()
        try:
            try:
                verdicts = await self._apply_batch(messages)
            except _HandlerFailed as failed:
                log.warning("consumer %s: batch of %d failed (%s); applying it one message at a time",
                            self.consumer.name, len(messages), failed.verdict[1])
                # Again, one message at a time, so the failure stays with its message
                # (which is not run a second time for this delivery).
                verdicts = await self._apply_each(messages, {failed.index: failed.verdict})
        except Exception as exc:
            if not _is_infrastructure_error(exc):
                raise
            log.warning("consumer %s: database unavailable (%s); batch of %d will be redelivered",
                        self.consumer.name, error_text(exc), len(messages))
            self._back_off()
            await asyncio.gather(*(m.nak(delay=max(self.nack_delay, self.pause)) for m in messages),
                                 return_exceptions=True)
            outcome.retried = len(messages)
            self._add(outcome)
            return outcome

        self.pause = 0.0
        to_dead_letter: list[tuple[Msg, str]] = []
        for msg, (verdict, reason) in zip(messages, verdicts, strict=True):
            if verdict == "dead":
                to_dead_letter.append((msg, reason))
            elif verdict == "retry" and msg.metadata.num_delivered >= self.max_deliver:
                to_dead_letter.append((msg, f"failed {msg.metadata.num_delivered} deliveries: {reason}"))
            elif verdict == "retry":
                await msg.nak(delay=self.nack_delay * msg.metadata.num_delivered)
                outcome.retried += 1
            else:
                await msg.ack()
                outcome.acked += 1
                outcome.duplicates += verdict == "duplicate"
        for msg, reason in to_dead_letter:
            await self.dead_letter(msg, reason)
        outcome.dead_lettered = len(to_dead_letter)
        self._add(outcome)
        return outcome

    async def _apply_batch(self, messages: list[Msg]) -> list[tuple[str, str]]:
        """The common case in one transaction and few round trips: the inbox
        rows of the whole batch in one statement, then each new event's
        handler. Any handler failure undoes it all (raised as _HandlerFailed)."""
        verdicts: list[tuple[str, str]] = []
        envelopes: list[dict[str, Any] | None] = []
        for msg in messages:
            try:
                envelope = parse_envelope(msg.data)
            except (ValueError, TypeError) as exc:
                verdicts.append(("dead", f"malformed envelope: {exc}"))
                envelopes.append(None)
                continue
            try:
                envelope = self.consumer.read_older(envelope)
            except PermanentError as exc:
                verdicts.append(("dead", str(exc)))
                envelopes.append(None)
                continue
            handled = envelope["type"] in self.consumer.handlers
            verdicts.append(("pending", "") if handled else unhandled_verdict(self.consumer.handlers, envelope["type"]))
            envelopes.append(envelope if handled else None)
        if all(e is None for e in envelopes):
            return verdicts
        async with self.engine.begin() as conn:
            first = await first_deliveries(conn, self.consumer.name, envelopes)
            for index, envelope in enumerate(envelopes):
                if envelope is not None:
                    verdicts[index] = ("applied", "") if first[index] else ("duplicate", "")
            if self.consumer.batch_handler is not None:
                token = current_messages.set({e["id"]: m for e, m in zip(envelopes, messages, strict=True) if e})
                try:
                    await self._apply_as_batch(conn, [e for e, f in zip(envelopes, first, strict=True) if f],
                                               [m for m, f in zip(messages, first, strict=True) if f])
                finally:
                    current_messages.reset(token)
                return verdicts
            for index, (msg, envelope) in enumerate(zip(messages, envelopes, strict=True)):
                if not first[index]:
                    continue
                try:
                    await self._handle(conn, msg, envelope)
                except Exception as exc:
                    if _is_infrastructure_error(exc):
                        raise
                    raise _HandlerFailed(index, self._failure_verdict(envelope, exc)) from exc
        return verdicts

    async def _apply_as_batch(self, conn: AsyncConnection, batch: list[dict[str, Any]], messages: list[Msg]) -> None:
        if batch:
            # One span for the batch, a child of the trace its events share or linked to each of theirs
            # (docs/architecture.md, "Tracing"): a span per event would cost more than the event.
            with telemetry.batch_span(tracer, "consume", trace.SpanKind.CONSUMER, [m.headers for m in messages],
                                      subjects=[m.subject for m in messages], message_ids=[e["id"] for e in batch[:1]],
                                      attributes={"messaging.consumer.group.name": self.consumer.name}):
                log.debug("consumer %s: applying a batch of %d events", self.consumer.name, len(batch))
                try:
                    await self.consumer.batch_handler(conn, batch)
                except Exception as exc:
                    if _is_infrastructure_error(exc):
                        raise
                    # Which event failed is unknown: all are applied again one by one.
                    raise _HandlerFailed(-1, ("retry", error_text(exc))) from exc

    async def _apply_each(self, messages: list[Msg], known: dict[int, tuple[str, str]]) -> list[tuple[str, str]]:
        async with self.engine.begin() as conn:
            return [known[i] if i in known else await self._apply_one(conn, msg) for i, msg in enumerate(messages)]

    def _failure_verdict(self, envelope: dict[str, Any], exc: Exception) -> tuple[str, str]:
        if isinstance(exc, (PermanentError, ValidationError, KeyError)):
            return "dead", error_text(exc)
        log.warning("consumer %s: %s failed: %s", self.consumer.name, envelope["id"], error_text(exc))
        return "retry", error_text(exc)

    async def _handle(self, conn: AsyncConnection, msg: Msg, envelope: dict[str, Any]) -> None:
        parent = propagate.extract(msg.headers or {})
        with tracer.start_as_current_span(
            f"consume {envelope['type']}", context=parent, kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.operation.name": "consume",
                        "messaging.operation.type": "process", "messaging.destination.name": msg.subject,
                        "messaging.consumer.group.name": self.consumer.name, "messaging.message.id": envelope["id"]},
        ):
            log.debug("consumer %s: applying %s %s", self.consumer.name, envelope["type"], envelope["id"])
            token = current_messages.set({envelope["id"]: msg})
            try:
                await self.consumer.handlers[envelope["type"]](conn, envelope)
            finally:
                current_messages.reset(token)

    async def _apply_one(self, conn: AsyncConnection, msg: Msg) -> tuple[str, str]:
        try:
            envelope = self.consumer.read_older(parse_envelope(msg.data))
        except (ValueError, TypeError) as exc:
            return "dead", f"malformed envelope: {exc}"
        except PermanentError as exc:
            return "dead", str(exc)
        if envelope["type"] not in self.consumer.handlers:
            return unhandled_verdict(self.consumer.handlers, envelope["type"])
        try:
            async with conn.begin_nested():
                inserted = await conn.execute(_INBOX_ONE, {"c": self.consumer.name, "e": envelope["id"]})
                if inserted.first() is None:
                    return "duplicate", ""
                await self._handle(conn, msg, envelope)
        except Exception as exc:
            if _is_infrastructure_error(exc):
                raise
            return self._failure_verdict(envelope, exc)
        return "applied", ""

    async def dead_letter(self, msg: Msg, reason: str) -> None:
        meta = msg.metadata
        headers = without_batch_headers(msg.headers)
        original_id = headers.pop("Nats-Msg-Id", None)
        headers.update({
            "Sotay-Dlq-Original-Msg-Id": original_id or "",
            "Sotay-Dlq-Reason": reason[:2000],
            "Sotay-Dlq-Consumer": self.consumer.name,
            "Sotay-Dlq-Subject": msg.subject,
            "Sotay-Dlq-Stream-Seq": str(meta.sequence.stream),
            "Sotay-Dlq-Deliveries": str(meta.num_delivered),
            "Nats-Msg-Id": f"dlq:{self.consumer.name}:{meta.sequence.stream}",
        })
        await self.js.publish(dlq_subject(self.consumer.name), msg.data, headers=headers)
        await msg.term()
        log.error("consumer %s: dead-lettered stream seq %s: %s", self.consumer.name, meta.sequence.stream, reason)

    def _back_off(self) -> None:
        self.pause = min(max(self.pause * 2, self.nack_delay, 0.1), 5.0)

    def _add(self, outcome: Outcome) -> None:
        for name in ("acked", "duplicates", "retried", "dead_lettered"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(outcome, name))
        observability.consumer_batch(self.consumer.name, outcome, *self._batch)


def consumer_config(consumer: Consumer, *, ack_wait: float, max_ack_pending: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=consumer.name,
        filter_subject=consumer.filter_subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        # The delivery limit is ours (see module doc): the server must never
        # stop delivering a message we have not dead-lettered.
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
    )


async def ensure_consumer(js: JetStreamContext, consumer: Consumer, config: ConsumerConfig) -> None:
    """Create the durable consumer or bring an existing one up to `config`:
    an existing durable keeps its old config until it is updated on the
    server. The create call updates it in place (the server refuses, with
    an error, a change it cannot make to a live consumer). Where delivery
    starts only matters when it is created, and may have been set otherwise
    (a replay resumes after what it replayed): an existing one keeps it."""
    try:
        existing = (await js.consumer_info(consumer.stream, consumer.name)).config
    except NotFoundError:
        existing = None
    if existing is not None:
        config.deliver_policy, config.opt_start_seq = existing.deliver_policy, existing.opt_start_seq
        config.opt_start_time = existing.opt_start_time
    await js.add_consumer(consumer.stream, config)


def dlq_record(msg: Msg) -> dict[str, Any]:
    headers = msg.headers or {}
    try:
        envelope = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        envelope = None
    return {
        "dlq_seq": msg.metadata.sequence.stream if msg.metadata else None,
        "consumer": headers.get("Sotay-Dlq-Consumer"),
        "subject": headers.get("Sotay-Dlq-Subject"),
        "stream_seq": headers.get("Sotay-Dlq-Stream-Seq"),
        "deliveries": headers.get("Sotay-Dlq-Deliveries"),
        "reason": headers.get("Sotay-Dlq-Reason"),
        "event_id": envelope.get("id") if isinstance(envelope, dict) else None,
    }
