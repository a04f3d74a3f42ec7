"""OpenTelemetry set-up. Exporters follow the standard variables
(OTEL_TRACES_EXPORTER=otlp|console|none, OTEL_EXPORTER_OTLP_ENDPOINT, …);
with none set, spans are still made, so trace context propagates from HTTP
requests through the outbox and NATS to consumers, but nothing is exported.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_provider: TracerProvider | None = None


def setup_tracing(service_name: str, *extra: SpanProcessor) -> TracerProvider:
    global _provider
    if _provider is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        _provider = TracerProvider(resource=resource)
        for exporter in _exporters_from_env():
            _provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(_provider)
    for processor in extra:
        _provider.add_span_processor(processor)
    return _provider


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
