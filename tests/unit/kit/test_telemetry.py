"""The sampler: nothing recorded while nothing exports; then the standard OTEL_TRACES_SAMPLER
chooses when set (every span otherwise), and a database call outside any span is not traced.
And the messaging spans' parent or links (telemetry.origins)."""

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from sotay.kit import telemetry
from sotay.kit.telemetry import origins, sampler_from_env, subject_template


@pytest.fixture
def exporting(monkeypatch):
    """As if an exporter were configured (the sampler looks at the module's processors)."""
    monkeypatch.setattr(telemetry, "_processors", [object()])


def recorded(env: dict[str, str], spans: int = 200, parent=None, **kwargs) -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler_from_env(env))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for _ in range(spans):
        tracer.start_span("work", context=parent, **kwargs).end()
    return len(exporter.get_finished_spans())


def remote_parent(sampled: bool):
    context = SpanContext(trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736, span_id=0x00F067AA0BA902B7, is_remote=True,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT))
    return trace.set_span_in_context(NonRecordingSpan(context))


def test_nothing_is_recorded_while_nothing_exports_whatever_the_sampler(monkeypatch):
    monkeypatch.setattr(telemetry, "_processors", [])
    assert recorded({}) == 0
    assert recorded({"OTEL_TRACES_SAMPLER": "always_on"}) == 0


def test_without_a_sampler_set_every_span_is_recorded_even_under_an_unsampled_parent(exporting):
    assert recorded({}, spans=10) == 10
    assert recorded({}, spans=10, parent=remote_parent(sampled=False)) == 10
    assert sampler_from_env({}).get_description() == "RecordWhenExported"


def test_the_standard_variable_chooses_when_set(exporting):
    assert recorded({"OTEL_TRACES_SAMPLER": "always_off"}) == 0
    assert recorded({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}) == 0
    assert recorded({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1"}) == 200
    assert 40 < recorded({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, spans=400) < 360
    assert recorded({"OTEL_TRACES_SAMPLER": "traceidratio"}) == 200  # no argument: the standard's 1.0
    parent_based = {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
    assert recorded(parent_based, spans=5, parent=remote_parent(sampled=False)) == 0
    assert recorded(parent_based, spans=5, parent=remote_parent(sampled=True)) == 5
    ratio = {"OTEL_TRACES_SAMPLER": "ParentBased_TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    assert recorded(ratio, spans=5) == 0 and recorded(ratio, spans=5, parent=remote_parent(sampled=True)) == 5
    assert "TraceIdRatioBased" in sampler_from_env({"OTEL_TRACES_SAMPLER": "traceidratio",
                                                    "OTEL_TRACES_SAMPLER_ARG": "0.25"}).get_description()


@pytest.mark.parametrize("env", [{"OTEL_TRACES_SAMPLER": "sometimes"},
                                 {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
                                 {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}])
def test_a_sampler_or_ratio_that_is_not_one_refuses_to_start(env):
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER"):
        sampler_from_env(env)


def test_a_database_call_outside_any_span_is_not_traced(exporting):
    db = {"attributes": {"db.system": "postgresql"}, "kind": SpanKind.CLIENT}
    assert recorded({}, spans=5, **db) == 0
    assert recorded({}, spans=5, **({"attributes": {"db.system.name": "postgresql"}, "kind": SpanKind.CLIENT})) == 0
    assert recorded({}, spans=5, parent=remote_parent(sampled=True), **db) == 5


def test_a_batch_of_one_trace_joins_it_and_one_of_many_links_to_each(exporting):
    one = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parent, links = origins([{"traceparent": one}, None, {}, {"traceparent": one, "Nats-Msg-Id": "x"}])
    assert trace.get_current_span(parent).get_span_context().trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert links == []
    parent, links = origins([{"traceparent": one}, {"traceparent": other}, {"traceparent": one}])
    assert not trace.get_current_span(parent).get_span_context().is_valid
    assert sorted(link.context.trace_id for link in links) == sorted([0x4BF92F3577B34DA6A3CE929D0E0E4736,
                                                                        0x0AF7651916CD43DD8448EB211C80319C])
    many = [{"traceparent": f"00-{n:032x}-00f067aa0ba902b7-01"} for n in range(1, 500)]
    assert len(origins(many)[1]) == telemetry.MAX_LINKS
    assert origins([None, {}])[1] == []


def test_links_are_not_made_while_nothing_exports(monkeypatch):
    monkeypatch.setattr(telemetry, "_processors", [])
    parent, links = origins([{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                             {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}])
    assert links == []


def test_span_names_use_the_subjects_family():
    assert subject_template(["sotay.identity.account_approved.ba-dinh"]) == "sotay.identity.account_approved.*"
    assert subject_template(["sotay.identity.account_approved.ba-dinh",
                             "sotay.identity.registration_submitted.tay-ho"]) == "sotay.identity.>"


# --- a trace for each request while nothing is exported ------------------------------------------

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_each_request_has_a_trace_its_outbox_rows_and_log_lines_carry_while_nothing_is_exported():
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from sotay.kit.logs import current_ids
    from sotay.kit.outbox import trace_headers

    app = FastAPI(telemetry={"tracing": False})

    @app.get("/probe")
    async def probe():
        return {"headers": trace_headers(), "ids": current_ids()}
    wrapped = telemetry.TraceContext(app)
    wrapped.tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")  # records nothing, as in production
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t") as client:
        continued = (await client.get("/probe", headers={"traceparent": TRACEPARENT})).json()
        fresh = [(await client.get("/probe")).json() for _ in range(2)]
    # The caller's trace goes on: the outbox would write it, log lines carry it, with a span of ours.
    assert continued["ids"][0] == "4bf92f3577b34da6a3ce929d0e0e4736" and continued["ids"][1] != "00f067aa0ba902b7"
    assert continued["headers"]["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    # Without one, each request starts its own.
    assert all(f["ids"] and f["headers"]["traceparent"] for f in fresh)
    assert fresh[0]["ids"][0] != fresh[1]["ids"][0]


@pytest.mark.parametrize("hostile", ["garbage", "00-" + "f" * 5000 + "-00f067aa0ba902b7-01",
                                     "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nNats-Msg-Id: x"])
async def test_a_hostile_traceparent_starts_a_fresh_trace_and_reaches_no_header_as_sent(hostile):
    import re

    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from sotay.kit.outbox import trace_headers

    app = FastAPI(telemetry={"tracing": False})

    @app.get("/probe")
    async def probe():
        return trace_headers()
    wrapped = telemetry.TraceContext(app)
    wrapped.tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t") as client:
        headers = (await client.get("/probe", headers={"traceparent": hostile.replace("\r\n", " ")})).json()
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", headers["traceparent"]), headers
    assert headers["traceparent"] not in hostile and set(headers) <= {"traceparent", "tracestate"}
