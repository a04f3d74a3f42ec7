"""Events: payload models, the CloudEvents envelope, subjects and streams.

An event type is a pydantic model subclassing `Event` and naming its service;
its CloudEvents `type` is `sotay.<service>.<Name>.v<version>` and its NATS
subject `sotay.<service>.<name_in_snake_case>.<committee>`.
"""

from __future__ import annotations

import functools
import os
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

CITY = "city"
SUBJECT_TOKEN_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# A UUID as str(uuid.UUID(…)) writes it (and PostgreSQL): lower-case hex, hyphenated 8-4-4-4-12.
CANONICAL_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The CloudEvents Sequence extension: a string that sorts in order; ours is the aggregate's
# version as 20 zero-padded decimal digits ("00000000000000000009" < "00000000000000000010").
SEQUENCE_DIGITS = 20
SEQUENCE_RE = re.compile(r"[0-9]{1,20}")
ENVELOPE_REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data")


_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): ids sort by creation time.
    The random bits are not secrets, so a seeded PRNG (fast) suffices."""
    unix_ms = time.time_ns() // 1_000_000
    rand = _ids.getrandbits(74)
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (2**62 - 1))
    return uuid.UUID(int=value)


@functools.cache
def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@functools.lru_cache(maxsize=65536)
def _subject_token(committee: str) -> str:
    if not SUBJECT_TOKEN_RE.match(committee):
        raise ValueError(f"not a valid committee code for a subject: {committee!r}")
    return committee


Upcaster = Callable[[dict[str, Any], Callable[[str], str] | None], dict[str, Any]]


class Event(BaseModel):
    """Base of every event payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: ClassVar[str]
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    # The subject's event token, when the contract names it otherwise than the class (snake_cased).
    subject_name: ClassVar[str | None] = None
    # Older versions a consumer of this one reads too, each with what turns its payload into this
    # version's (`upcast(data, hasher)`, hasher: the consumer's keyed hash of personal values, or
    # None): docs/events.md, "Versions".
    older_versions: ClassVar[dict[int, Upcaster]] = {}

    @classmethod
    def event_type(cls) -> str:
        return f"sotay.{cls.service}.{cls.__name__}.v{cls.version}"

    @classmethod
    def older_types(cls) -> dict[str, Upcaster]:
        """`sotay.<service>.<Name>.v<older>` → its upcaster, for each older version read as this one."""
        return {f"sotay.{cls.service}.{cls.__name__}.v{v}": upcast for v, upcast in cls.older_versions.items()}

    @classmethod
    def subject_for(cls, committee: str) -> str:
        return f"sotay.{cls.service}.{cls._subject_name()}.{_subject_token(committee)}"

    @classmethod
    def subject_pattern(cls) -> str:
        return f"sotay.{cls.service}.{cls._subject_name()}.*"

    @classmethod
    def _subject_name(cls) -> str:
        return cls.subject_name or snake_case(cls.__name__)


PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Envelope(BaseModel, Generic[PayloadT]):
    """CloudEvents 1.0, JSON structured mode, with the extensions `orgunit` and `sequence`."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="UUID (v7); also sent as the Nats-Msg-Id header")
    source: str = Field(pattern=r"^sotay/[a-z]+$")
    type: str = Field(pattern=r"^sotay\.[a-z]+\.[A-Za-z]+\.v[0-9]+$")
    subject: str = Field(description="the aggregate's id")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    orgunit: str | None = Field(default=None, description="the unit the event concerns")
    sequence: str | None = Field(
        default=None, pattern=r"^[0-9]{20}$",
        description="CloudEvents Sequence extension: the aggregate's version as 20 zero-padded decimal digits, "
                    "so that it sorts in order as a string (events written before 2026 carry it as a JSON integer)")
    data: PayloadT


def sequence_string(version: int) -> str:
    """The `sequence` attribute of an aggregate's version."""
    if not 0 <= version < 10**SEQUENCE_DIGITS:
        raise ValueError(f"version {version} does not fit the sequence attribute")
    return f"{version:0{SEQUENCE_DIGITS}d}"


def sequence_of(envelope: dict[str, Any], default: int = 0) -> int:
    """The aggregate's version an event carries, to compare with the one a replica holds: from the
    string form, or the JSON integer of events published before it (still in the streams, replayed);
    `default` when the event has none."""
    value = envelope.get("sequence")
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**SEQUENCE_DIGITS:
        return value
    if isinstance(value, str) and SEQUENCE_RE.fullmatch(value):
        return int(value)
    raise ValueError(f"sequence {str(value)[:40]!r} is not an aggregate version")


@dataclass(slots=True)
class Message:
    """An event ready to be written to the outbox."""

    id: uuid.UUID
    subject: str  # NATS subject
    envelope: dict[str, Any]

    def body(self) -> bytes:
        return orjson.dumps(self.envelope)


def make_message(
    event: Event,
    *,
    aggregate_id: str,
    committee: str,
    orgunit: str | None = None,
    sequence: int | None = None,
    event_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> Message:
    return message_from_payload(
        type(event), event.model_dump(mode="json"), aggregate_id=aggregate_id, committee=committee,
        orgunit=orgunit, sequence=sequence, event_id=event_id, at=at)


def message_from_payload(
    event_type: type[Event],
    data: dict[str, Any],
    *,
    aggregate_id: str,
    committee: str,
    orgunit: str | None = None,
    sequence: int | None = None,
    event_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> Message:
    """Build a message from an already JSON-ready payload. Bulk paths use it
    directly with payloads their own validation has already checked."""
    event_id = event_id or uuid7()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "source": f"sotay/{event_type.service}",
        "type": event_type.event_type(),
        "subject": aggregate_id,
        "time": (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "orgunit": orgunit,
        "sequence": None if sequence is None else sequence_string(sequence),
        "data": data,
    }
    return Message(id=event_id, subject=event_type.subject_for(committee or CITY), envelope=envelope)


class Catalogue:
    """The event types a service publishes, by CloudEvents type."""

    def __init__(self, *types: type[Event]) -> None:
        self.types: dict[str, type[Event]] = {t.event_type(): t for t in types}

    def __iter__(self):
        return iter(self.types.values())

    def envelope_schema(self, event_type: str) -> dict[str, Any]:
        payload = self.types[event_type]
        model = Envelope[payload]  # type: ignore[valid-type]
        schema = model.model_json_schema()
        schema["$id"] = f"urn:sotay:event:{event_type}"
        schema["title"] = event_type
        schema["properties"]["type"] = {"const": event_type, "type": "string"}
        # What every event we publish carries: CloudEvents' required attributes (specversion, id,
        # source, type) and ours (pydantic leaves out of `required` the fields with a default).
        schema["required"] = list(ENVELOPE_REQUIRED)
        return schema


def parse_envelope(body: bytes) -> dict[str, Any]:
    """Decode and check the CloudEvents attributes every consumer relies on."""
    envelope = orjson.loads(body)
    if not isinstance(envelope, dict):
        raise ValueError("envelope is not a JSON object")
    missing = [k for k in ("specversion", "id", "source", "type", "data") if k not in envelope]
    if missing:
        raise ValueError(f"envelope lacks {', '.join(missing)}")
    if envelope["specversion"] != "1.0":
        raise ValueError(f"unsupported specversion {envelope['specversion']!r}")
    if not isinstance(envelope["type"], str):
        raise ValueError("type is not a string")
    if not isinstance(envelope["id"], str):
        raise ValueError("id is not a string")
    # The inbox keys on the id as PostgreSQL writes a UUID: "urn:uuid:…", braces or capitals
    # would fail its cast (stalling the batch) or not be recognised as the row just written.
    if not CANONICAL_UUID_RE.fullmatch(envelope["id"]):
        raise ValueError(f"id {envelope['id'][:60]!r} is not a UUID in its canonical form")
    if not isinstance(envelope["data"], dict):
        raise ValueError("data is not a JSON object")
    sequence_of(envelope)  # a consumer comparing versions must be able to read it
    return envelope
