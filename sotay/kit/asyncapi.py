"""A service's AsyncAPI 3 document (`/api/<service>/v1/asyncapi`), written from the code.

It says what the service publishes (operations with action `send`) and what it consumes
(`receive`, one per durable consumer and event type), each event on its channel
`sotay.<service>.<event>.{committee}` with the `committee` parameter declared, and each
message's payload (the whole CloudEvents envelope, as its JSON Schema) and the NATS headers it
really carries. tests/integration/test_asyncapi_parser.py checks it with the official
@asyncapi/parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from sotay.kit.consumer import Consumer
from sotay.kit.events import CITY, Catalogue, Event

ASYNCAPI_VERSION = "3.0.0"

COMMITTEE_PARAMETER = {
    "description": (
        "The code of the committee directly under the city that the event concerns (lowercase), or "
        f"`{CITY}` for city-level events. A committee's own system subscribes to `sotay.*.*.<its code>` "
        "and is permitted nothing else (deploy/nats/auth.conf)."),
    "examples": [CITY, "ba-dinh", "hoan-kiem"],
}

# What every event carries in its NATS headers (sotay/kit/outbox.py): no correlation id.
HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "format": "uuid",
                        "description": "The event's id (the envelope's `id`): JetStream drops a duplicate "
                                       "within the stream's duplicate window."},
        "traceparent": {"type": "string",
                        "description": "W3C trace context of the request that caused the event, when traced."},
    },
}


def server_host(nats_url: str) -> str:
    """The first server's host and port, without any credentials the URL holds."""
    first = next((u.strip() for u in nats_url.split(",") if u.strip()), "localhost:4222")
    parts = urlsplit(first if "://" in first else f"nats://{first}")
    return parts.netloc.rpartition("@")[2] or "localhost:4222"


def asyncapi_document(*, service: str, description: str, catalogue: Catalogue,
                      consumers: Iterable[Consumer], nats_url: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel_of(event: type[Event]) -> dict[str, str]:
        key = event.event_type()
        if key not in channels:
            messages[key] = _message(event, schemas)
            channels[key] = {
                "address": event.subject_pattern().replace("*", "{committee}"),
                "title": key,
                "description": _describe(event),
                "parameters": {"committee": dict(COMMITTEE_PARAMETER)},
                "messages": {event.__name__: {"$ref": f"#/components/messages/{key}"}},
                "servers": [{"$ref": "#/servers/nats"}],
            }
        return {"$ref": f"#/channels/{_escape(key)}"}

    for event in catalogue:
        key = event.event_type()
        channel = channel_of(event)
        operations[f"send.{key}"] = {
            "action": "send", "channel": channel, "title": f"{service} publishes {event.__name__}",
            "summary": f"Written to {service}'s outbox with the change and published to JetStream.",
            "messages": [{"$ref": f"#/channels/{_escape(key)}/messages/{event.__name__}"}],
        }
    for consumer in consumers:
        for key, event in sorted(consumer.events.items()):
            channel = channel_of(event)
            operations[f"receive.{consumer.name}.{key}"] = {
                "action": "receive", "channel": channel, "title": f"{consumer.name} consumes {event.__name__}",
                "summary": f"The durable pull consumer `{consumer.name}` on {consumer.stream} "
                           f"(filter `{consumer.filter_subject}`), explicit acknowledgements; "
                           "each event applied once (inbox).",
                "messages": [{"$ref": f"#/channels/{_escape(key)}/messages/{event.__name__}"}],
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"sotay {service} events", "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": server_host(nats_url), "protocol": "nats",
                             "description": "NATS JetStream. Streams: SOTAY_<SERVICE> holds sotay.<service>.>."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _describe(event: type[Event]) -> str:
    return " ".join((event.description or event.__doc__ or event.__name__).split())


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _message(event: type[Event], schemas: dict[str, Any]) -> dict[str, Any]:
    key = event.event_type()
    envelope = Catalogue(event).envelope_schema(key)
    defs = envelope.pop("$defs", {})
    renamed = {}
    for name, schema in defs.items():
        target = name
        if name in schemas and schemas[name] != schema:
            target = f"{key}.{name}"
        renamed[name] = target
    envelope.pop("$id", None)
    fixed = _refs(envelope, renamed)
    for name, schema in defs.items():
        schemas[renamed[name]] = _refs(schema, renamed)
    schemas[key] = fixed
    return {
        "name": event.__name__,
        "title": key,
        "summary": _describe(event),
        "contentType": "application/json",
        "headers": HEADERS,
        "payload": {"$ref": f"#/components/schemas/{key}"},
    }


def _refs(node: Any, renamed: dict[str, str]) -> Any:
    """The schema with its `#/$defs/X` references pointing into components/schemas."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/components/schemas/{renamed[v.removeprefix('#/$defs/')]}"
            else:
                out[k] = _refs(v, renamed)
        return out
    if isinstance(node, list):
        return [_refs(v, renamed) for v in node]
    return node
