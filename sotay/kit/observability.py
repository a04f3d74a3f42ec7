"""Prometheus metrics of every service, for operators (docs/operations.md, "Observability").

Each process serves its metrics at `/metrics` (never through the public proxy: deploy/proxy), to
a caller holding the scrape token (`SOTAY_METRICS_TOKEN` as a bearer token; sotay/kit/keys.py,
`metrics_token`). Every sample carries a `service` label, so `sotay up` (the four services in one
process) and `sotay serve <service>` give the same series.

Two kinds of metric:

- counted as things happen (prometheus_client objects, process-wide): HTTP requests by route
  template and status with their latency (`HttpMetrics`, an ASGI middleware), and the kit
  consumer's batches, redeliveries and dead letters (`consumer_batch`);
- read when scraped (`ServiceProbes`, one per running service): consumer lag from JetStream's
  consumer info, the outbox backlog and its oldest row, the dead letters waiting in SOTAY_DLQ,
  who leads (relay, snapshot publisher, scheduler), the database pool. A service registers
  what is its own (identity's password pool, metrics' last snapshot) on `ctx.probes`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from starlette.routing import Mount

from sotay.kit.http import Problem
from sotay.kit.keys import metrics_token
from sotay.kit.settings import Settings

log = logging.getLogger("sotay.observability")

# The exposition format Prometheus and promtool read (text 0.0.4).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# How long a scrape waits for what it reads from JetStream and PostgreSQL.
PROBE_TIMEOUT_S = 3.0
# This process, as `sotay status` tells replicas apart.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"

# --- counted as things happen -----------------------------------------------------------------

HTTP_REQUESTS = Counter("sotay_http_requests", "HTTP requests answered, by route template and status",
                        ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram("sotay_http_request_duration_seconds",
                         "Time from a request's arrival to the end of its answer, by route template",
                         ["service", "method", "route"],
                         buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
BATCH_MESSAGES = Histogram("sotay_consumer_batch_messages", "Messages in each batch a durable consumer applied",
                           ["service", "consumer"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000))
BATCH_SECONDS = Histogram("sotay_consumer_batch_duration_seconds",
                          "Time a durable consumer took to apply a batch (its transaction and acknowledgements)",
                          ["service", "consumer"],
                          buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
CONSUMED = Counter("sotay_consumer_messages", "Messages a durable consumer handled, by outcome "
                   "(acked: applied or skipped; duplicate: applied before; retried: nacked; dead_lettered)",
                   ["service", "consumer", "outcome"])
REDELIVERIES = Counter("sotay_consumer_redeliveries", "Messages delivered to a durable consumer more than once",
                       ["service", "consumer"])
DEAD_LETTERED = Counter("sotay_consumer_dead_letters", "Messages a durable consumer moved to SOTAY_DLQ",
                        ["service", "consumer"])

_OUTCOMES = ("acked", "duplicates", "retried", "dead_lettered")
_batch_children: dict[str, tuple] = {}


def _service_of(consumer: str) -> str:
    """A durable consumer is named <service>-<purpose>."""
    return consumer.split("-", 1)[0]


def consumer_batch(consumer: str, outcome: Any, started: float, messages: list) -> None:
    """A batch the kit consumer applied (sotay/kit/consumer.py): its size, how long it took, its
    redeliveries and its outcome (`Outcome`: acked, duplicates, retried, dead_lettered)."""
    children = _batch_children.get(consumer)
    if children is None:
        labels = (_service_of(consumer), consumer)
        children = _batch_children[consumer] = (
            BATCH_MESSAGES.labels(*labels), BATCH_SECONDS.labels(*labels), REDELIVERIES.labels(*labels),
            DEAD_LETTERED.labels(*labels),
            tuple(CONSUMED.labels(*labels, name.removesuffix("s") if name == "duplicates" else name)
                  for name in _OUTCOMES))
    size, seconds, redelivered, dead, outcomes = children
    size.observe(len(messages))
    seconds.observe(time.perf_counter() - started)
    again = sum(1 for m in messages if (m.metadata.num_delivered or 1) > 1)
    if again:
        redelivered.inc(again)
    if outcome.dead_lettered:
        dead.inc(outcome.dead_lettered)
    for child, name in zip(outcomes, _OUTCOMES, strict=True):
        if n := getattr(outcome, name):
            child.inc(n)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """ASGI middleware: each request counted by its route's template (`/api/members/v1/members/
    {member_id}`, never the raw path: bounded series, no ids in labels), method and status, and
    timed to the end of its answer (a live stream's whole life). Cheap on every request: the
    labelled children are looked up once per (route, method, status) and kept."""

    def __init__(self, app, services: Iterable[str] = (), default: str = "sotay") -> None:
        self.app = app
        self.prefixes = tuple((f"/api/{s}/", s) for s in services)
        self.default = default
        self._children: dict[tuple[int, str, int], tuple] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # an exception before the answer started: the server's 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            # By the route's identity (routes are not hashable); the route is kept to check it.
            key = (id(route), scope["method"], status)
            children = self._children.get(key)
            if children is None or children[2] is not route:
                children = self._children[key] = self._labelled(route, scope, status)
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

    def _labelled(self, route, scope, status: int) -> tuple:
        template = _template(route, scope.get("path", ""))
        method = scope["method"]
        service = next((s for prefix, s in self.prefixes if template.startswith(prefix)), self.default)
        method = method if method in _METHODS else "other"
        return (HTTP_REQUESTS.labels(service, method, template, str(status)),
                HTTP_SECONDS.labels(service, method, template), route)


def _template(route, path: str) -> str:
    """The whole template of the route a request reached: FastAPI hands over the route as its
    router declared it ("/org-units/{code}"), without the prefix it was included under, which
    the request's path has in front of the part the route matched."""
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    if isinstance(route, Mount):
        return template + "/{path}"
    if ":path}" in template or template.startswith("/api/"):
        return template
    parts = path.split("/")
    return "/".join(parts[:len(parts) - template.count("/")]) + template


# --- read when scraped ------------------------------------------------------------------------

Labels = dict[str, str]
Probe = Callable[[], "float | None"]


class ServiceProbes:
    """What one running service tells when scraped: gauges read from callables (`gauge`, `leader`)
    and values coroutines refresh before each scrape (`refresh_with`, `set`). Registering the same
    gauge (name and labels) or refresher (name) again replaces it: a service started again
    registers its own once more."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.help: dict[str, str] = {}
        self.probes: dict[str, dict[tuple, tuple[Labels, Probe]]] = {}
        self.values: dict[str, dict[tuple, float]] = {}
        self.refreshers: dict[str, Callable[[], Awaitable[None]]] = {}

    def gauge(self, name: str, help: str, probe: Probe, **labels: str) -> None:
        """A gauge whose value `probe()` gives at each scrape (None: no sample)."""
        self.help[name] = help
        self.probes.setdefault(name, {})[tuple(sorted(labels.items()))] = (labels, probe)

    def leader(self, role: str, is_leader: Callable[[], bool]) -> None:
        """Whether this replica leads `role` (kit/leader.py): 1 or 0."""
        self.gauge("sotay_leader", "1 where this replica holds the lead of the role (one replica at a time: "
                   "the outbox relay, the snapshot publisher, the scheduler), else 0",
                   lambda: 1.0 if is_leader() else 0.0, role=role)

    def refresh_with(self, name: str, refresher: Callable[[], Awaitable[None]]) -> None:
        """A coroutine run before each scrape (with a timeout) that `set`s values read elsewhere."""
        self.refreshers[name] = refresher

    def set(self, name: str, help: str, value: float | None, **labels: str) -> None:
        """A value for the next scrapes (None: no sample, such as when it could not be read)."""
        self.help[name] = help
        key = tuple(sorted(labels.items()))
        if value is None:
            self.values.get(name, {}).pop(key, None)
        else:
            self.values.setdefault(name, {})[key] = float(value)

    async def refresh(self) -> None:
        async def one(name, refresher):
            try:
                await asyncio.wait_for(refresher(), PROBE_TIMEOUT_S)
            except Exception as exc:  # NATS or the database away: the values stay out of the scrape
                log.debug("%s: the metrics probe %s failed: %r", self.service, name, exc)
        await asyncio.gather(*(one(n, r) for n, r in self.refreshers.items()))

    def samples(self) -> Iterable[tuple[str, Labels, float]]:
        for name, probes in self.probes.items():
            for labels, probe in probes.values():
                try:
                    value = probe()
                except Exception:
                    continue
                if value is not None:
                    yield name, labels, float(value)
        for name, values in self.values.items():
            for key, value in values.items():
                yield name, dict(key), value


class _Probed(Collector):
    """The gauges of every live ServiceProbes of this process, one family per name."""

    def __init__(self) -> None:
        self.live: list[ServiceProbes] = []

    def collect(self):
        families: dict[str, GaugeMetricFamily] = {}
        for probes in list(self.live):
            for name, labels, value in probes.samples():
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(name, probes.help.get(name, name),
                                                                labels=["service", *sorted(labels)])
                family.add_metric([probes.service, *(labels[k] for k in sorted(labels))], value)
        yield from families.values()

    def describe(self):
        return []  # read at each scrape: nothing to check at registration


_PROBED = _Probed()
REGISTRY.register(_PROBED)


def watch(probes: ServiceProbes) -> None:
    """Include a running service's probes in this process's /metrics."""
    probes.set("sotay_service_info", "1 for each service this process runs (process: host:pid)", 1,
               process=PROCESS)
    if probes not in _PROBED.live:
        _PROBED.live.append(probes)


def unwatch(probes: ServiceProbes) -> None:
    if probes in _PROBED.live:
        _PROBED.live.remove(probes)


async def scrape(probes: Iterable[ServiceProbes]) -> bytes:
    """This process's metrics in the text format, after refreshing what is read when scraped."""
    await asyncio.gather(*(p.refresh() for p in probes))
    return generate_latest(REGISTRY)


def authorised(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the scrape token (compared in constant time)."""
    if not token or not header or not header[:7].lower() == "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def scrape_guard(settings: Settings) -> Callable[[str | None], None]:
    """What a scrape route calls with the request's Authorization header: it passes with the scrape
    token (SOTAY_METRICS_TOKEN; in development the data dir's, made on first use), is refused
    with 401 otherwise, and with 404 where no token is configured (production): scraping is off."""
    token = metrics_token(settings)

    def check(header: str | None) -> None:
        if token is None:
            raise Problem(404, "Not Found", "Metrics are off: SOTAY_METRICS_TOKEN is not set.")
        if not authorised(header, token):
            raise Problem(401, "Unauthorized", "Metrics are for the scraper: send the scrape token "
                          "(SOTAY_METRICS_TOKEN) as a bearer token.")
    return check


def gauges_text(families: Iterable[GaugeMetricFamily]) -> str:
    """Families of gauges made for one answer (the rollout figures), in the text format."""
    class Once(Collector):
        def collect(self):
            yield from families
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Once())
    return generate_latest(registry).decode()
