"""Hostile events fed to every consumer of every service through the kit's
consumer path (ConsumerRunner.process_batch: envelope parsing, the inbox,
savepoints, retries, dead-lettering) on the real PostgreSQL schemas of a
running system.

Payloads start from real events of each type the consumer handles (taken
from the services' outboxes after the seed) and are then broken: fields
missing, of the wrong type, huge, nested junk, invalid UUIDs, unknown event
types, bodies that are not JSON or not an object. For every message:

- the runner never raises (an exception would stall the consumer on a poison
  message: the batch would be nacked again and again);
- the message is acked (applied, or ignored as a type the consumer does not
  handle), or dead-lettered with a reason, or nacked for a retry and then
  dead-lettered once delivered the maximum number of times;
- a message that is not applied writes nothing: every table of the service
  is unchanged (digest of its rows), inbox included;
- in a batch, a hostile message does not keep its neighbours from being applied.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from services.content.entrypoints.events import registry_consumer as content_registry
from services.identity.entrypoints.events import registry_consumer as identity_registry
from services.members.entrypoints.events import accounts_consumer
from services.metrics.entrypoints.events import consumers as metrics_consumers
from sotay.kit.consumer import Consumer, ConsumerRunner
from tests.attacks.tally import count

pytestmark = pytest.mark.integration

MAX_DELIVER = 3
EXAMPLES = 30
_ids = itertools.count(1)
_seq = itertools.count(1)


async def _no_sessions_to_end(account_id: str) -> None:
    return None


# Identity's and content's consumers open member events with the service's member keys (and
# identity hashes cards with its key): bound to the running world's contexts by `bound` below.
LATE = {"identity": SimpleNamespace(), "content": SimpleNamespace()}


def all_consumers() -> list[tuple[str, Consumer]]:
    out = [("members", accounts_consumer()), ("identity", identity_registry(LATE["identity"], _no_sessions_to_end)),
           ("content", content_registry(LATE["content"]))]
    return out + [("metrics", c) for c in metrics_consumers()]


CONSUMERS = all_consumers()


@pytest.fixture(autouse=True)
def bound(world):
    for name, late in LATE.items():
        context = world.system.runtimes[name].context
        late.member_keys, late.pii_hash = context.member_keys, context.pii_hash


@dataclass
class FakeMsg:
    """A fetched JetStream message as the runner sees it; what the runner did to it is recorded."""

    data: bytes
    delivered: int = 1
    subject: str = "sotay.test.hostile.city"
    headers: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = SimpleNamespace(num_delivered=self.delivered, sequence=SimpleNamespace(stream=next(_seq)))

    async def ack(self) -> None:
        self.done.append("ack")

    async def nak(self, delay: float | None = None) -> None:
        self.done.append("nak")

    async def term(self) -> None:
        self.done.append("term")


class FakeJetStream:
    def __init__(self) -> None:
        self.dead: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.dead.append((subject, payload, headers or {}))


# --- hostile values and payloads --------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False),
    st.text(max_size=30), st.just("x" * 200_000), st.just("not-a-uuid"), st.just("'; DROP TABLE inbox;--"),
    st.just("\u0000\u202e\u200b"), st.just("9999-99-99"), st.just(["/", "..", ""]),
    st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=12),
)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


RAW_BODIES = st.sampled_from([
    b"", b"not json", b'{"specversion":"1.0","id":"00000000-0000-0000-0000-000000000001","source":"x","type":"t",'
    b'"data":{},"sequence":1' + b"0" * 400 + b"}", b"[]", b"null", b"42", b'"text"', b"\xff\xfe\x00", _nested(10_000), b'{"specversion":"1.0"}',
])


def mutate(template: dict[str, Any], data) -> tuple[str, dict[str, Any]]:
    """One way of breaking an envelope, named, and the broken envelope."""
    envelope = copy.deepcopy(template)
    envelope["id"] = str(uuid.UUID(int=next(_ids)))
    payload = envelope["data"]
    how = data.draw(st.sampled_from([
        "drop data field", "junk data field", "junk envelope field", "drop envelope field", "extra fields",
        "unknown type", "junk type", "junk data", "junk id", "noncanonical id", "junk sequence"]), label="how")
    if how == "drop data field" and payload:
        payload.pop(data.draw(st.sampled_from(sorted(payload)), label="field"))
    elif how == "junk data field" and payload:
        payload[data.draw(st.sampled_from(sorted(payload)), label="field")] = data.draw(JUNK, label="value")
    elif how == "junk envelope field":
        envelope[data.draw(st.sampled_from(["specversion", "source", "time", "orgunit", "subject"]))] = \
            data.draw(JUNK, label="value")
    elif how == "drop envelope field":
        envelope.pop(data.draw(st.sampled_from(["specversion", "id", "type", "data", "source"]), label="field"))
    elif how == "extra fields":
        payload.update(data.draw(st.dictionaries(st.text(max_size=10), JUNK, min_size=1, max_size=4)))
    elif how == "unknown type":
        envelope["type"] = data.draw(st.sampled_from(
            ["sotay.members.MemberEaten.v1", "sotay.members.MemberRegistered.v99", "", "sotay.x.Y.v1"]))
    elif how == "junk type":
        envelope["type"] = data.draw(JUNK, label="type")
    elif how == "junk data":
        envelope["data"] = data.draw(JUNK, label="data")
    elif how == "junk id":
        envelope["id"] = data.draw(st.one_of(JUNK, st.sampled_from(
            [f"urn:uuid:{uuid.UUID(int=next(_ids))}", "{" + str(uuid.UUID(int=next(_ids))) + "}"])), label="id")
    elif how == "noncanonical id":
        envelope["id"] = str(uuid.UUID(int=next(_ids))).upper()
    elif how == "junk sequence":
        envelope["sequence"] = data.draw(JUNK, label="sequence")
    return how, envelope


# --- the world's events and the runner ----------------------------------------------------------------


@pytest.fixture(scope="module")
def templates(world) -> dict[str, list[dict[str, Any]]]:
    """Real envelopes of every type the services published during the seed, by type."""
    async def read():
        found: dict[str, list[dict[str, Any]]] = {}
        for service in world.system.runtimes:
            async with world.engine(service).connect() as conn:
                for body in (await conn.execute(text("SELECT body FROM outbox ORDER BY position"))).scalars():
                    envelope = orjson.loads(body)
                    found.setdefault(envelope["type"], []).append(envelope)
        return found
    return world.run(read())


def templates_for(consumer: Consumer, templates: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """For each type the consumer handles, real events of it, or of its closest sibling
    (member events all carry the member's snapshot)."""
    out = []
    for event_type in sorted(consumer.handlers):
        if event_type in templates:
            out += templates[event_type][:2]
            continue
        service = event_type.split(".")[1]
        sibling = next((v for k, v in sorted(templates.items()) if k.split(".")[1] == service
                        and ("Member" in k) == ("Member" in event_type)), None)
        if sibling:
            out.append({**sibling[0], "type": event_type})
    assert out, f"no events to start from for {consumer.name}"
    return out


def feed(world, service: str, consumer: Consumer, messages: list[FakeMsg]) -> FakeJetStream:
    js = FakeJetStream()
    runner = ConsumerRunner(consumer, world.engine(service), js, max_deliver=MAX_DELIVER, nack_delay=0.0,
                            batch_size=len(messages))
    world.run(runner.process_batch(messages))  # raising here is the failure this suite looks for
    return js


def applied(world, service: str, consumer: Consumer, event_id: Any) -> bool:
    if not isinstance(event_id, str):
        return False
    try:
        canonical = str(uuid.UUID(event_id))
    except ValueError:
        return False
    return bool(world.scalar(service, "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = CAST(:e AS uuid)",
                             c=consumer.name, e=canonical))


def settle(world, service: str, consumer: Consumer, msg: FakeMsg) -> str:
    """Deliver the message until the runner is done with it; its fate."""
    js = feed(world, service, consumer, [msg])
    if msg.done == ["nak"]:  # a retry: delivered again, the last time it may be
        msg.done.clear()
        msg.metadata.num_delivered = MAX_DELIVER
        js = feed(world, service, consumer, [msg])
    assert len(msg.done) == 1 and msg.done[0] in ("ack", "term"), f"{consumer.name}: left as {msg.done}"
    if msg.done == ["term"]:
        assert len(js.dead) == 1, "terminated without being dead-lettered"
        subject, payload, headers = js.dead[0]
        assert subject == f"sotay.dlq.{consumer.name}" and payload == msg.data
        assert headers["Sotay-Dlq-Reason"], "dead-lettered without a reason"
        assert headers["Sotay-Dlq-Consumer"] == consumer.name
        return "dead-lettered"
    return "acked"


# Metrics' snapshot publisher folds counter_deltas into counters and publishes (outbox, published) on
# its own every 0.4 s, whatever the consumer does: those tables are left out of its comparison. A refused
# event's inbox row, rolled back with its effects in the same savepoint, still is compared.
PUBLISHER_TABLES = {"counter_deltas", "counters", "orphan_counters", "published", "outbox", "unit_daily"}


def digest(world, service: str, moving: bool) -> dict[str, str]:
    if service == "metrics":
        return {t: d for t, d in world.digest(service).items() if t not in PUBLISHER_TABLES}
    return world.quiet_digest(service) if moving else world.digest(service)


@pytest.mark.parametrize("service,consumer", CONSUMERS, ids=[c.name for _, c in CONSUMERS])
def test_hostile_events_are_applied_or_dead_lettered_and_a_refused_one_writes_nothing(world, templates, service,
                                                                                       consumer):
    starts = templates_for(consumer, templates)
    fates: dict[str, int] = {}
    moving = [True]  # an applied event sets things moving (the relay, metrics' fold): let them settle first

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(data=st.data())
    def hostile(data):
        if data.draw(st.integers(0, 9), label="raw?") == 0:
            how, body, event_id = "raw body", data.draw(RAW_BODIES, label="body"), None
        else:
            how, envelope = mutate(data.draw(st.sampled_from(starts), label="start"), data)
            body, event_id = orjson.dumps(envelope), envelope.get("id")
        before = digest(world, service, moving[0])
        fate = settle(world, service, consumer, FakeMsg(body))
        count("hostile event payloads tried")
        if fate == "acked" and applied(world, service, consumer, event_id):
            fate = "applied"
            moving[0] = True
        else:
            moving[0] = False
            assert digest(world, service, False) == before, f"{consumer.name}: a refused event ({how}) wrote"
        fates[fate] = fates.get(fate, 0) + 1

    hostile()
    for fate, n in fates.items():
        count(f"  to {consumer.name}: {fate}", n)
    assert fates.get("dead-lettered"), f"{consumer.name}: nothing was refused: {fates}"


@pytest.mark.parametrize("service,consumer", CONSUMERS, ids=[c.name for _, c in CONSUMERS])
def test_a_hostile_event_in_a_batch_does_not_hold_up_its_neighbours(world, templates, service, consumer):
    """Two good events around a poison one (not JSON, a type that is a list, a bad id): the good
    ones are applied and acked in the same pass, the poison one dead-lettered."""
    starts = [t for t in templates_for(consumer, templates) if t["type"] in templates and t in templates[t["type"]]]
    for poison in (b"{not json", orjson.dumps({**starts[0], "id": str(uuid.UUID(int=next(_ids))), "type": ["x"]}),
                   orjson.dumps({**starts[0], "id": "urn:uuid:" + str(uuid.UUID(int=next(_ids)))}),
                   orjson.dumps({**starts[0], "id": str(uuid.UUID(int=next(_ids))), "data": "nothing"})):
        good = []
        for start in (starts[0], starts[-1]):
            envelope = copy.deepcopy(start)
            envelope["id"] = str(uuid.UUID(int=next(_ids)))
            good.append(envelope)
        messages = [FakeMsg(orjson.dumps(good[0])), FakeMsg(poison, delivered=MAX_DELIVER),
                    FakeMsg(orjson.dumps(good[1]))]
        js = feed(world, service, consumer, messages)
        count("hostile event payloads tried")
        assert [m.done for m in messages] == [["ack"], ["term"], ["ack"]], (poison[:80], [m.done for m in messages])
        assert len(js.dead) == 1 and js.dead[0][2]["Sotay-Dlq-Reason"]
        for envelope in good:
            assert applied(world, service, consumer, envelope["id"]), f"{consumer.name}: a good neighbour was lost"
