"""OpenTelemetry set-up. Exporters follow the standard variables
(OTEL_TRACES_EXPORTER=otlp|console|none, OTEL_EXPORTER_OTLP_ENDPOINT, …);
with none set, spans are not recorded (a recorded span costs CPU on every
request) but trace context still propagates from HTTP requests (TraceContext)
through the outbox and NATS to consumers, so log lines carry one trace id
across the services, and a collector added later sees whole traces. Which
traces are recorded while exporting: the standard OTEL_TRACES_SAMPLER and
OTEL_TRACES_SAMPLER_ARG when set, every one otherwise (RecordWhenExported).

While spans are exported, the database calls are traced too, by OpenTelemetry's
own asyncpg instrumentation (statements without their parameters). NATS has no
maintained instrumentation for nats-py: the relay's publish and the consumers'
processing spans are made here (`batch_span`), after OpenTelemetry's messaging
conventions (messaging.system=nats, messaging.destination.name, messaging.message.id).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind

_provider: TracerProvider | None = None
_processors: list[SpanProcessor] = []
_database_traced = False

# A batch span links to at most this many producing contexts (the SDK keeps 128 links by default,
# OTEL_SPAN_LINK_COUNT_LIMIT): past it, extracting more would cost and show nothing.
MAX_LINKS = 128


class RecordWhenExported(Sampler):
    """Record spans only while some processor will export them. A dropped span
    still carries a trace id, so `traceparent` propagates all the same.

    While spans are exported, which are recorded is the standard sampler's choice
    when OTEL_TRACES_SAMPLER names one (`then`), and every span otherwise. A
    database call outside any span (a polling loop's, a leader's lock, the relay
    looking for rows) is never recorded: one trace per poll tells nothing."""

    def __init__(self, then: Sampler | None = None) -> None:
        self.then = then

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        if not _processors:
            return SamplingResult(Decision.DROP, attributes)
        if attributes and ("db.system" in attributes or "db.system.name" in attributes) \
                and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP, attributes)
        if self.then is not None:
            return self.then.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return f"RecordWhenExported{{{self.then.get_description()}}}" if self.then else "RecordWhenExported"


_SAMPLERS = {
    "always_on": lambda arg: sampling.ALWAYS_ON,
    "always_off": lambda arg: sampling.ALWAYS_OFF,
    "parentbased_always_on": lambda arg: sampling.ParentBased(sampling.ALWAYS_ON),
    "parentbased_always_off": lambda arg: sampling.ParentBased(sampling.ALWAYS_OFF),
    "traceidratio": lambda arg: sampling.TraceIdRatioBased(_ratio(arg)),
    "parentbased_traceidratio": lambda arg: sampling.ParentBasedTraceIdRatio(_ratio(arg)),
}


def _ratio(arg: str | None) -> float:
    try:
        rate = float(arg if arg not in (None, "") else 1.0)
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a ratio between 0 and 1") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a ratio between 0 and 1")
    return rate


def sampler_from_env(environ: Mapping[str, str] = os.environ) -> RecordWhenExported:
    """The sampler: RecordWhenExported, choosing by the standard OTEL_TRACES_SAMPLER (and
    OTEL_TRACES_SAMPLER_ARG for the ratios) when it is set."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if not name:
        return RecordWhenExported()
    if name not in _SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r} is not supported ({', '.join(_SAMPLERS)})")
    return RecordWhenExported(_SAMPLERS[name](environ.get("OTEL_TRACES_SAMPLER_ARG")))


def setup_tracing(service_name: str, *extra: SpanProcessor) -> TracerProvider:
    global _provider
    if _provider is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        _provider = TracerProvider(resource=resource, sampler=sampler_from_env())
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
    _trace_database()


def _trace_database() -> None:
    """Client spans of every PostgreSQL call (SQLAlchemy's and the driver's own), from OpenTelemetry's
    maintained asyncpg instrumentation: only once spans are exported, as a wrapped call costs even
    when its span is dropped. Parameters are never captured (they hold personal data)."""
    global _database_traced
    if _database_traced:
        return
    try:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    except ImportError:  # an installation without it traces everything but the database calls
        return
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=_provider)
    _database_traced = True


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


# --- messaging spans -------------------------------------------------------------------------------


def origins(carriers: Iterable[Mapping[str, Any] | None]) -> tuple[Context, list[Link]]:
    """Where a batch of messages came from, from their headers (each message's `traceparent`,
    written by the outbox in the transaction that made it).

    Messages of one trace (one request's events, one import's thousands of rows): that context,
    so the batch's span joins the trace as a child. Of several: a root span linked to each
    (links made only while spans are exported; at most MAX_LINKS). Only the distinct header
    values are parsed, so a batch costs a set insert per message."""
    distinct: dict[str, Mapping[str, Any]] = {}
    for carrier in carriers:
        parent = carrier.get("traceparent") if carrier else None
        if parent and parent not in distinct:
            distinct[parent] = carrier
            if len(distinct) > MAX_LINKS:
                break
    if len(distinct) == 1:
        return propagate.extract(dict(next(iter(distinct.values())))), []
    if not distinct or not _processors:
        return Context(), []
    links = []
    for carrier in list(distinct.values())[:MAX_LINKS]:
        linked = trace.get_current_span(propagate.extract(dict(carrier))).get_span_context()
        if linked.is_valid:
            links.append(Link(linked))
    return Context(), links


def subject_template(subjects: Iterable[str]) -> str:
    """The NATS subjects' family, a low-cardinality span name: `sotay.identity.account_approved.*`
    for one event type (any committee), `sotay.identity.>` for several."""
    common: list[str] | None = None
    for subject in subjects:
        tokens = subject.split(".")[:3]
        if common is None:
            common = tokens
        while common and common != tokens[:len(common)]:
            common = common[:-1]
    if not common:
        return ">"
    return ".".join(common) + (".*" if len(common) == 3 else ".>")


@contextlib.contextmanager
def batch_span(tracer: trace.Tracer, operation: str, kind: SpanKind, carriers: list[Mapping[str, Any] | None],
               *, subjects: list[str], message_ids: list[str], attributes: dict[str, Any] | None = None
               ) -> Iterator[trace.Span]:
    """One span for a batch of NATS messages (the relay's publish, a batch consumer's transaction),
    named `<operation> <subject family>`, after the messaging conventions: a single message's
    subject and id, a batch's size. Its parent, or its links, come from `origins`."""
    parent, links = origins(carriers)
    template = subject_template(subjects)
    attrs: dict[str, Any] = {"messaging.system": "nats", "messaging.operation.name": operation,
                             "messaging.operation.type": "send" if kind is SpanKind.PRODUCER else "process",
                             "messaging.batch.message_count": len(subjects)}
    if len(subjects) == 1:
        attrs["messaging.destination.name"] = subjects[0]
        if message_ids:
            attrs["messaging.message.id"] = message_ids[0]
    else:
        attrs["messaging.destination.template"] = template
    if attributes:
        attrs.update(attributes)
    with tracer.start_as_current_span(f"{operation} {template}", context=parent, kind=kind, links=links,
                                      attributes=attrs) as span:
        yield span


# --- requests while nothing is exported ------------------------------------------------------------


class TraceContext:
    """While nothing is exported FastAPI makes no request spans (one costs even when dropped), yet
    a request should still have a trace: its log lines carry the ids, and the outbox writes them
    into its events, so the consumers' lines in other services carry the same trace id. This
    gives each HTTP request the caller's `traceparent` or a new trace, as a span that records
    nothing (a few microseconds). service_app installs it only while nothing is exported."""

    def __init__(self, app) -> None:
        self.app = app
        self.tracer = trace.get_tracer("sotay.http")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {}
        for name, value in scope["headers"]:
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode()] = value.decode("latin-1")
        parent = propagate.extract(carrier) if carrier else Context()
        span = self.tracer.start_span("request", context=parent, kind=SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
