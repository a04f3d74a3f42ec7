"""The webhook bridge's rules, no I/O: the signature, the retry schedule, how an event goes
over HTTP (CloudEvents structured or binary content mode), which endpoint URLs are allowed.

The signature (docs/webhooks.md): `Sotay-Signature: t=<unix seconds>,v1=<hex>` where the hex
is HMAC-SHA256, keyed with the endpoint's secret (its text, as given once), over
`<t>.` followed by the request body's bytes. A receiver recomputes it, compares in constant
time and refuses a `t` far from its clock (a replayed request)."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Callable
from typing import Any, Literal

import orjson

SIGNATURE_HEADER = "Sotay-Signature"
# The streams whose events are sent (members' and content's), each in its own order.
STREAMS = ("SOTAY_MEMBERS", "SOTAY_CONTENT")
Mode = Literal["structured", "binary"]
MODES = ("structured", "binary")
STRUCTURED_TYPE = "application/cloudevents+json; charset=utf-8"
# A committee code (or `city`) as the org tree writes unit codes: lowercase, digits, dashes.
COMMITTEE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Attributes of the envelope that are not sent as ce- headers in binary mode.
_NOT_HEADERS = {"data", "data_base64", "datacontenttype"}


def new_secret() -> str:
    """A signing secret: 32 random bytes, shown once as text."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300) -> bool:
    """What a receiver does (docs/webhooks.md has the same in a few lines): the header's `t`
    within `tolerance_s` of `now`, and one of its `v1` values the HMAC of `t.` + body."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    macs = [v.strip() for k, _, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not macs:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def retry_delay(attempts: int, *, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """How long to wait after the `attempts`-th failed try: base × 2^(attempts-1), at most max,
    drawn between half and all of it (jitter: endpoints failing together do not retry together)."""
    full = min(max_s, base_s * 2 ** min(max(attempts - 1, 0), 40))
    return full / 2 + rand() * full / 2


def schedule(max_attempts: int, *, base_s: float, max_s: float) -> list[float]:
    """The longest wait before each retry, for the documentation and the operator."""
    return [min(max_s, base_s * 2 ** (n - 1)) for n in range(1, max_attempts)]


def _header_value(value: Any) -> str:
    """A CloudEvents attribute as an HTTP header value (CloudEvents HTTP binding 3.1.3.2): text,
    with space, `"`, `%` and everything outside printable ASCII percent-encoded as UTF-8."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    out = []
    for char in text:
        if "!" <= char <= "~" and char not in '"%':
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode())
    return "".join(out)


def request_for(mode: Mode, published: bytes) -> tuple[dict[str, str], bytes]:
    """The headers (but the signature) and body that carry an event as published.

    Structured: the body is the event's bytes exactly as they were published to the stream.
    Binary: the body is the event's `data` (JSON), each other attribute a `ce-` header."""
    if mode == "structured":
        return {"Content-Type": STRUCTURED_TYPE}, published
    envelope = orjson.loads(published)
    headers = {f"ce-{name}": _header_value(value) for name, value in envelope.items()
               if name not in _NOT_HEADERS and value is not None}
    headers["Content-Type"] = envelope.get("datacontenttype") or "application/json"
    return headers, orjson.dumps(envelope.get("data"))


def committee_of(subject: str) -> str:
    """The committee an event is addressed to: the last token of `sotay.<service>.<event>.<committee>`."""
    return subject.rsplit(".", 1)[-1]
