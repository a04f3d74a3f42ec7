"""The dead letters in SOTAY_DLQ: listing them and driving them again (`sotay dlq`).

A consumer dead-letters a message (consumer.py) by publishing it, body and
headers, to `sotay.dlq.<consumer>` with what happened in the `Sotay-Dlq-*`
headers (DLQ_HEADERS, and `Sotay-Dlq-Original-Msg-Id`).

Redriving a letter publishes the original message again on its original
subject, so every consumer of that stream receives it. Consumers dedupe by
the envelope's `id` in their inbox (consumer.first_deliveries), not by the
`Nats-Msg-Id`: those that applied the event already take it for a
duplicate and ack it; the consumer that failed has no inbox row for it (its
failed attempt was rolled back with its savepoint) and applies it. The
republished message carries `Nats-Msg-Id: redrive:<dlq seq>:<event id>`, fresh for the
stream (the original id may still be in its duplicate window) yet the same
for the same letter, so a redrive repeated after a crash between the
publish and the deletion is dropped by the stream as a duplicate. The
letter is deleted from SOTAY_DLQ only once the stream has acknowledged the
republished message. Outside systems reading the stream (district
consumers) see the event twice and must dedupe by the envelope id too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

import orjson
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from sotay.kit.streams import DLQ_STREAM, dlq_subject


@dataclass
class DeadLetter:
    seq: int  # in SOTAY_DLQ
    time: datetime | None
    consumer: str
    subject: str  # the original subject
    stream_seq: int | None  # in the original stream
    deliveries: int | None
    reason: str
    original_msg_id: str
    event_id: str | None
    event_type: str | None
    data: bytes
    headers: dict[str, str]

    @classmethod
    def from_raw(cls, raw: RawStreamMsg) -> DeadLetter:
        headers = _headers(raw)
        try:
            envelope = orjson.loads(raw.data or b"")
        except orjson.JSONDecodeError:
            envelope = None
        envelope = envelope if isinstance(envelope, dict) else {}
        return cls(
            seq=raw.seq, time=_time(raw.time), consumer=headers.get("Sotay-Dlq-Consumer", ""),
            subject=headers.get("Sotay-Dlq-Subject", ""), stream_seq=_int(headers.get("Sotay-Dlq-Stream-Seq")),
            deliveries=_int(headers.get("Sotay-Dlq-Deliveries")), reason=headers.get("Sotay-Dlq-Reason", ""),
            original_msg_id=headers.get("Sotay-Dlq-Original-Msg-Id", ""),
            event_id=envelope.get("id") if isinstance(envelope.get("id"), str) else None,
            event_type=envelope.get("type") if isinstance(envelope.get("type"), str) else None,
            data=raw.data or b"", headers=headers)

    @property
    def redrivable(self) -> bool:
        """Only an event (with its id, so consumers can dedupe it) whose subject is known."""
        return bool(self.event_id and self.subject and not self.subject.startswith("sotay.dlq."))

    def summary(self) -> dict:
        return {"seq": self.seq, "time": self.time.isoformat() if self.time else None, "consumer": self.consumer,
                "subject": self.subject, "stream_seq": self.stream_seq, "deliveries": self.deliveries,
                "reason": self.reason, "event_id": self.event_id, "type": self.event_type}


def _headers(raw: RawStreamMsg) -> dict[str, str]:
    """The message's headers as UTF-8 text (nats-py parses them as e-mail headers, which turns a value
    with non-ASCII text, a reason naming a member, into an email.header.Header)."""
    if not raw.hdrs:
        return {}
    lines = base64.b64decode(raw.hdrs).decode("utf-8", "replace").split("\r\n")[1:]  # after NATS/1.0
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep and name:
            headers.setdefault(name.strip(), value.strip())
    return headers


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _time(value) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    try:
        # The server's RFC 3339 time has nanoseconds; Python takes microseconds.
        text = str(value).replace("Z", "+00:00")
        if "." in text:
            head, _, rest = text.partition(".")
            digits = "".join(c for c in rest if c.isdigit())
            zone = rest[len(digits):]
            text = f"{head}.{digits[:6]}{zone}"
        return datetime.fromisoformat(text)
    except ValueError:
        return None


async def letters(js: JetStreamContext, *, consumer: str | None = None, limit: int | None = None):
    """The dead letters in stream order (of one consumer), at most `limit`."""
    seq, found = 1, 0
    while limit is None or found < limit:
        try:
            raw = await js.get_msg(DLQ_STREAM, seq=seq, subject=dlq_subject(consumer), next=True)
        except NotFoundError:
            return
        yield DeadLetter.from_raw(raw)
        found += 1
        seq = raw.seq + 1


async def letter(js: JetStreamContext, seq: int) -> DeadLetter | None:
    try:
        return DeadLetter.from_raw(await js.get_msg(DLQ_STREAM, seq=seq))
    except NotFoundError:
        return None


def redrive_headers(dead: DeadLetter) -> dict[str, str]:
    headers = {k: v for k, v in dead.headers.items()
               if not k.startswith("Sotay-Dlq-") and not k.startswith("Nats-")}
    headers["Nats-Msg-Id"] = f"redrive:{dead.seq}:{dead.event_id}"
    headers["Sotay-Redriven-From"] = str(dead.seq)
    return headers


async def redrive(js: JetStreamContext, dead: DeadLetter, *, timeout: float = 10.0) -> None:
    """Publish the letter's message again on its original subject and, once the
    stream acknowledged it, delete the letter (see the module doc)."""
    if not dead.redrivable:
        raise ValueError(f"dead letter {dead.seq} is not an event with an id and a subject: it cannot be redriven")
    await js.publish(dead.subject, dead.data, headers=redrive_headers(dead), timeout=timeout)
    await js.delete_msg(DLQ_STREAM, dead.seq)


def format_table(rows: list[DeadLetter]) -> str:
    header = ("seq", "time", "consumer", "subject", "stream seq", "deliveries", "reason")
    lines = [header] + [(str(d.seq), d.time.strftime("%Y-%m-%d %H:%M:%S") if d.time else "", d.consumer, d.subject,
                         str(d.stream_seq or ""), str(d.deliveries or ""), d.reason.replace("\n", " ")[:120])
                        for d in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
                     for line in lines)


def format_letter(dead: DeadLetter) -> str:
    out = [f"{k}: {v}" for k, v in dead.summary().items()]
    out.append(f"original Nats-Msg-Id: {dead.original_msg_id}")
    out.append("headers:")
    out += [f"  {k}: {v}" for k, v in sorted(dead.headers.items()) if not k.startswith("Sotay-Dlq-")]
    out.append("body:")
    try:
        out.append(orjson.dumps(orjson.loads(dead.data), option=orjson.OPT_INDENT_2).decode())
    except orjson.JSONDecodeError:
        out.append(repr(dead.data))
    return "\n".join(out)
