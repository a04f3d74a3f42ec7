"""OpenTelemetry set-up. Exporters follow the standard variables
(OTEL_TRACES_EXPORTER=otlp|console|none, OTEL_EXPORTER_OTLP_ENDPOINT, …);
with none set, spans are not recorded (a recorded span costs CPU on every
request) but trace context still propagates from HTTP requests through the
outbox and NATS to consumers, so a collector added later sees whole traces.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_provider: TracerProvider | None = None
_processors: list[SpanProcessor] = []


class RecordWhenExported(Sampler):
    """Record spans only while some processor will export them. A dropped span
    still carries a trace id, so `traceparent` propagates all the same."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if _processors else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "RecordWhenExported"


def setup_tracing(service_name: str, *extra: SpanProcessor) -> TracerProvider:
    global _provider
    if _provider is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        _provider = TracerProvider(resource=resource, sampler=RecordWhenExported())
        for exporter in _exporters_from_env():
            _add(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(_provider)
    for processor in extra:
        _add(processor)
    return _provider


def exporting() -> bool:
    """Whether any span will leave this process (an exporter or a test's processor)."""
    return bool(_processors)


def _add(processor: SpanProcessor) -> None:
    _provider.add_span_processor(processor)
    _processors.append(processor)


def _exporters_from_env():
    names = os.environ.get("OTEL_TRACES_EXPORTER", "none")
    for name in (n.strip() for n in names.split(",")):
        if name == "console":
            yield ConsoleSpanExporter()
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            yield OTLPSpanExporter()
        elif name not in ("none", ""):
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} is not supported (otlp, console, none)")


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.force_flush()
