"""One trace follows a registry import, a registration and its approval across the services,
and the logs of the whole run hold none of the people's details.

All four services run in one process (tests/support/system.py) on real NATS and PostgreSQL,
with an in-memory span exporter. Each HTTP request's trace runs through the outbox row (its
`traceparent`), the relay's publish and every consumer that applies the events, per-event
consumers as children and batch consumers (one span a batch) as children or linked; the
database calls inside are client spans of OpenTelemetry's asyncpg instrumentation. Meanwhile
every log record is captured (at DEBUG) and written by the configured JSON handler too."""

from __future__ import annotations

import asyncio
import io
import logging
import re

import orjson
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import services.content
import services.identity
import services.members
import services.metrics
from sotay.kit.logs import configure_logging
from sotay.kit.telemetry import setup_tracing
from tests.attacks.test_no_personal_data_in_logs import LogCapture, digits_pattern, phone_patterns
from tests.support.system import (
    CONSENT,
    consumers_caught_up,
    create_org_tree,
    eventually,
    identity_holds_registry,
    import_registry,
    make_settings,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

SPANS = InMemorySpanExporter()
PASSWORD = "Chi bo so 1 vung manh"
# The people of the run: card, name, unit, citizen ID, date of birth (their phone is 09 + the card's last 8).
PEOPLE = [("0100000801", "Đặng Thị Truy Vết", "ba-dinh-g1-c1", "001088099001", "1971-03-04"),
          ("0100000802", "Vương Văn Dấu Vết", "ba-dinh-g1-c2", "001088099002", "1972-05-06"),
          ("0200000803", "Tạ Thị Nhật Ký", "tay-ho-g1-c1", "001088099003", "1973-07-08")]
REGISTRANT = PEOPLE[0]
# The batch consumers of the members' events in the three other services.
REGISTRY_CONSUMERS = ("identity-registry", "content-registry", "metrics-registry")


def phone(card: str) -> str:
    return f"09{card[-8:]}"


def personal_patterns() -> dict[str, str]:
    found = {}
    for card, name, _, citizen_id, born in PEOPLE:
        found[f"name {name}"] = re.escape(name)
        found[f"card {card}"] = digits_pattern(card)
        found[f"citizen ID {citizen_id}"] = digits_pattern(citizen_id)
        for i, pattern in enumerate(phone_patterns(phone(card))):
            found[f"phone {phone(card)} ({i})"] = pattern
        year, month, day = (int(p) for p in born.split("-"))
        found[f"date of birth {born}"] = f"{re.escape(born)}|date\\({year}, {month}, {day}\\)"
    found["password"] = re.escape(PASSWORD)
    return found


def leaks(text: str) -> list[str]:
    return [what for what, pattern in personal_patterns().items() if re.search(pattern, text)]


@pytest.fixture(scope="module")
async def run(data_dir, nats_url, database_url):
    """The workload, with spans exported to memory and every log record captured: the traces of its
    three requests and what was logged."""
    setup_tracing("sotay-test", SimpleSpanProcessor(SPANS))
    SPANS.clear()
    capture, written = LogCapture(), io.StringIO()
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    configure_logging("DEBUG", "json", stream=written, service="sotay-test")
    traces: dict[str, int] = {}
    try:
        with capture.running():
            settings = make_settings(data_dir)
            definitions = [services.members.definition(), services.identity.definition(),
                           services.content.definition(), services.metrics.definition()]
            async with running_system(definitions, settings, nats_url, database_url) as system:
                admin = system.auth("city_admin")
                await create_org_tree(system.client, ("ba-dinh", "tay-ho"), admin)
                # The org tree's events applied first: a consumer that lags (a loaded machine) would
                # otherwise take them in one batch with the import's rows, a batch of two traces.
                await consumers_caught_up(system, "SOTAY_MEMBERS", list(REGISTRY_CONSUMERS))
                rows = [registry_row(card, name, unit, born=born) | {"citizen_id": citizen_id}
                        for card, name, unit, citizen_id, born in PEOPLE]
                await import_registry(system.client, rows, admin)
                traces["import"] = server_span("POST /api/members/v1/imports").context.trace_id
                await identity_holds_registry(system, len(PEOPLE))

                card, name, _, _, born = REGISTRANT
                registered = await system.client.post("/api/identity/v1/registrations", json={
                    "party_card_no": card, "full_name": name, "date_of_birth": born, "phone": phone(card),
                    "password": PASSWORD, "platform": "web", "consent": CONSENT})
                assert registered.status_code == 202, registered.text
                traces["registration"] = server_span("POST /api/identity/v1/registrations").context.trace_id
                reg_id = registered.json()["id"]
                approved = await system.client.post(f"/api/identity/v1/registrations/{reg_id}/approve",
                                                    headers=system.auth("unit_admin", "ba-dinh"))
                assert approved.status_code == 200, approved.text
                traces["approval"] = server_span("POST /api/identity/v1/registrations/{reg_id}/approve"
                                                 ).context.trace_id
                # Every consumer has applied the approval: members' has-account replica, content's notice,
                # metrics' counters.
                await eventually(lambda: asyncio.sleep(0, result=consumer_services(traces["approval"])
                                                       >= {"members", "content", "metrics"}), timeout=30)
                await eventually(lambda: asyncio.sleep(0, result=consumer_services(traces["import"])
                                                       >= {"identity", "content", "metrics"}), timeout=30)
    finally:
        for handler in [h for h in root.handlers if h not in handlers_before]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
    yield traces, capture.text(), written.getvalue()


def server_span(name: str):
    (span,) = [s for s in SPANS.get_finished_spans() if s.kind is SpanKind.SERVER and s.name == name]
    return span


def joins(span, trace_id: int) -> bool:
    """In the trace, or (a batch's span) linked to it."""
    return span.context.trace_id == trace_id or any(link.context.trace_id == trace_id for link in span.links)


def consumer_spans(trace_id: int) -> list:
    return [s for s in SPANS.get_finished_spans() if s.kind is SpanKind.CONSUMER and joins(s, trace_id)]


def consumer_services(trace_id: int) -> set[str]:
    return {s.attributes["messaging.consumer.group.name"].split("-")[0] for s in consumer_spans(trace_id)}


def publish_spans(trace_id: int) -> list:
    return [s for s in SPANS.get_finished_spans() if s.kind is SpanKind.PRODUCER and joins(s, trace_id)]


async def test_the_approval_runs_from_the_request_through_the_relay_to_three_services(run):
    traces, _, _ = run
    trace_id = traces["approval"]
    request = server_span("POST /api/identity/v1/registrations/{reg_id}/approve")
    (publish,) = [s for s in publish_spans(trace_id) if s.name.startswith("publish sotay.identity.")]
    assert publish.attributes["messaging.system"] == "nats"
    assert publish.attributes["messaging.operation.type"] == "send"
    if publish.attributes["messaging.batch.message_count"] == 1:
        assert publish.attributes["messaging.destination.name"].startswith("sotay.identity.account_approved.")
        assert publish.attributes["messaging.message.id"]
    consumed = consumer_spans(trace_id)
    by_group = {s.attributes["messaging.consumer.group.name"]: s for s in consumed
                if s.attributes.get("messaging.destination.name", "").startswith("sotay.identity.account_approved.")
                or s.attributes.get("messaging.batch.message_count", 1) > 1}
    assert {"members-accounts", "content-registrations", "metrics-accounts"} <= set(by_group), sorted(by_group)
    # The per-event consumers are children of the request's trace, with the event's id.
    for group in ("members-accounts", "content-registrations"):
        span = by_group[group]
        assert span.context.trace_id == trace_id and span.parent is not None, group
        assert span.attributes["messaging.system"] == "nats" and span.attributes["messaging.message.id"], group
    # metrics folds its events in batches: one span a batch, in the trace or linked to it.
    assert by_group["metrics-accounts"].attributes["messaging.batch.message_count"] >= 1
    assert joins(by_group["metrics-accounts"], trace_id)
    assert request.parent is None


async def test_a_registration_reaches_metrics_batch_consumer(run):
    traces, _, _ = run
    trace_id = traces["registration"]
    assert publish_spans(trace_id)
    assert {"content", "metrics"} <= consumer_services(trace_id)


async def test_an_import_reaches_the_batch_consumers_of_three_services_as_one_trace(run):
    traces, _, _ = run
    trace_id = traces["import"]
    assert publish_spans(trace_id)
    batch = [s for s in consumer_spans(trace_id) if s.name == "consume sotay.members.>"
             or s.name.startswith("consume sotay.members.")]
    groups = {s.attributes["messaging.consumer.group.name"] for s in batch}
    assert set(REGISTRY_CONSUMERS) <= groups, sorted(groups)
    # One import's rows share its traceparent: their batches are children of the import, not linked.
    assert all(s.context.trace_id == trace_id for s in batch if s.attributes["messaging.consumer.group.name"]
               in REGISTRY_CONSUMERS)


async def test_database_calls_are_client_spans_inside_the_traces_without_their_parameters(run):
    traces, _, _ = run
    spans = SPANS.get_finished_spans()
    database = [s for s in spans if s.kind is SpanKind.CLIENT and
                ("db.system" in s.attributes or "db.system.name" in s.attributes)]
    in_approval = [s for s in database if s.context.trace_id == traces["approval"]]
    assert in_approval, "no database span in the approval's trace"
    assert all(s.parent is not None for s in database), "a database call outside any span was recorded"
    assert not [s for s in database if "db.statement.parameters" in s.attributes]


async def test_no_span_carries_a_persons_details(run):
    text = "\n".join(f"{s.name} {dict(s.attributes)} {[e.attributes for e in s.events]}"
                     for s in SPANS.get_finished_spans())
    assert not leaks(text), leaks(text)


async def test_the_logs_of_the_run_hold_none_of_the_peoples_details(run):
    _, captured, written = run
    assert captured and written, "nothing was logged: the capture is broken"
    assert not leaks(captured), [line for line in captured.splitlines() if leaks(line)][:10]
    assert not leaks(written), leaks(written)


async def test_log_lines_are_json_with_the_trace_of_the_work_they_tell_of(run):
    traces, _, written = run
    lines = [orjson.loads(line) for line in written.splitlines() if line.startswith("{")]
    assert len(lines) == len(written.splitlines()), "a line that is not JSON"
    assert {"time", "level", "logger", "message", "service"} <= set(lines[0])
    with_ids = [line for line in lines if "trace_id" in line]
    assert with_ids and all(re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) and
                            re.fullmatch(r"[0-9a-f]{16}", line["span_id"]) for line in with_ids)
    # At DEBUG the relay and the consumers tell of each batch and event, inside its span.
    approval = format(traces["approval"], "032x")
    told = {line["message"].split(":")[0] for line in with_ids if line["trace_id"] == approval}
    assert {"relay identity", "consumer members-accounts", "consumer content-registrations"} <= told, told
    imported = format(traces["import"], "032x")
    assert [line for line in with_ids if line["trace_id"] == imported and "applying a batch" in line["message"]]
