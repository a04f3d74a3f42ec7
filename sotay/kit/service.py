"""A service: its definition (what it owns) and its runtime (what it runs).

The same runtime serves split mode (`sotay serve <name>`, one per process)
and all-in-one mode (`sotay up`, several in one process). Each service has
its own engine on its own schema, its own NATS connection, its relay and
its consumers; services share nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from faststream.nats import NatsBroker, NatsUserPassword
from faststream.nats.security import NatsSecurity
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import BucketNotFoundError, NotFoundError, ServiceUnavailableError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sotay.kit import observability, telemetry
from sotay.kit.asyncapi import asyncapi_document
from sotay.kit.asyncapi_page import ASYNCAPI_CSS, ASYNCAPI_STYLESHEET, asyncapi_html
from sotay.kit.auth import JWKS_BUCKET, JWKS_KEY, REVOKED_BUCKET, AuthError, TokenVerifier
from sotay.kit.consumer import Consumer, ConsumerRunner, consumer_config, ensure_consumer
from sotay.kit.db import create_engine, migrate, pending_migrations, read_only
from sotay.kit.events import Catalogue
from sotay.kit.http import (
    BodyLimit,
    Idempotency,
    Problem,
    SecurityHeaders,
    StorableText,
    install_problem_handlers,
    json_response,
)
from sotay.kit.keys import HmacSha256, events_kek, jwks_root_public_key, pii_hmac_key
from sotay.kit.member_keys import MemberKeys
from sotay.kit.observability import HttpMetrics, ServiceProbes
from sotay.kit.outbox import OutboxRelay
from sotay.kit.pages import mount_pages
from sotay.kit.publishing import server_has_atomic_batches
from sotay.kit.settings import Settings
from sotay.kit.streams import (
    DLQ_STREAM,
    dlq_subject,
    ensure_bucket,
    ensure_buckets,
    ensure_district_consumers,
    ensure_streams,
    latest_value,
    member_keys_bucket,
    stream_for_service,
)

log = logging.getLogger("sotay.service")


@dataclass
class ServiceContext:
    """What a service's handlers and routes are given (its composition root's inputs)."""

    name: str
    settings: Settings
    engine: AsyncEngine
    verifier: TokenVerifier
    idempotency: Idempotency
    # Whether the service hashes personal values: only such a service is given the key.
    hashes_personal_data: bool = False
    js: JetStreamContext | None = None
    nc: NatsClient | None = None  # the connection js was made on (an SSE route subscribes on it)
    reader: AsyncEngine | None = None  # the engine's pool in autocommit, for plain reads (db.read_only)
    pii_key: bytes | None = field(default=None, repr=False)  # read on first use (sotay migrate needs none)
    _pii_hmac: HmacSha256 | None = field(default=None, repr=False)
    # The per-member keys of member events' personal part (sotay/kit/member_keys.py), for a
    # service that seals or opens it; set once NATS is connected.
    member_keys: MemberKeys | None = None
    events_kek: bytes | None = field(default=None, repr=False)
    # What the service tells Prometheus when scraped, beyond the kit's own (sotay/kit/observability.py):
    # `ctx.probes.gauge(...)`, `ctx.probes.leader(...)`.
    probes: ServiceProbes | None = None

    def pii_hash(self, value: str) -> str:
        """Keyed hash of a normalised personal value (citizen ID, phone) for events."""
        if self.pii_key is None:
            if not self.hashes_personal_data:
                raise RuntimeError(f"{self.name} does not hold the personal-data hash key")
            self.pii_key = pii_hmac_key(self.settings)
        if self._pii_hmac is None or self._pii_hmac.key is not self.pii_key:
            self._pii_hmac = HmacSha256(self.pii_key)
        return self._pii_hmac.hexdigest(value.encode())


@dataclass
class ServiceDefinition:
    name: str
    migrations: Path
    catalogue: Catalogue
    build_router: Callable[[ServiceContext], APIRouter]
    build_consumers: Callable[[ServiceContext], list[Consumer]] = lambda ctx: []
    description: str = ""
    # Routes at the top of the site, outside /api/<service>/v1 (identity's /.well-known/ documents,
    # where OAuth clients look first); built after build_router.
    build_root_router: Callable[[ServiceContext], APIRouter] | None = None
    # Work of the service's own once NATS and the database are up (keys, caches), and its undoing.
    on_start: Callable[[ServiceContext], Awaitable[None]] | None = None
    on_stop: Callable[[ServiceContext], Awaitable[None]] | None = None
    # Whether it hashes citizen IDs and phones (SOTAY_PII_HMAC_KEY): no other service is given the key.
    hashes_personal_data: bool = False
    # Whether it seals or opens the personal part of member events (SOTAY_EVENTS_KEK): members,
    # identity, content. Metrics needs nothing of a person and is given no key.
    reads_member_keys: bool = False
    # What the service sets up on its context as it is built (reading no key), and the work of its
    # own after its SQL migrations (data those migrations cannot move, such as values to encrypt).
    prepare: Callable[[ServiceContext], None] | None = None
    after_migrate: Callable[[ServiceContext], Awaitable[None]] | None = None


async def stop_tasks(tasks: list[asyncio.Task], owner: str, timeout: float = 15.0) -> None:
    """Cancel `tasks` and wait for them, but never longer than `timeout`: one task that
    does not end (a cancellation swallowed in a library) must not keep a process from stopping."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, stuck = await asyncio.wait(tasks, timeout=timeout)
        for task in stuck:
            log.error("%s: task %s did not stop within %.0f s; leaving it", owner, task.get_name(), timeout)


def nats_servers(url: str) -> list[str]:
    """SOTAY_NATS_URL may list a cluster's servers, comma-separated."""
    return [u.strip() for u in url.split(",") if u.strip()]


def inbox_prefix(service: str) -> str:
    """The subjects a service's replies come on: its NATS user may subscribe to these only."""
    return f"_INBOX_{service}"


def nats_tls(settings: Settings, servers: list[str]) -> ssl.SSLContext | None:
    """The TLS context for NATS, or None for plain connections. TLS is on when a server URL is
    tls:// or SOTAY_NATS_TLS_CA names the CA to check the servers' certificates against (the
    system's CAs otherwise); SOTAY_NATS_TLS_CERT and SOTAY_NATS_TLS_KEY give this client's own
    certificate, for servers that verify their clients. Either way the server's certificate and
    name are verified: a client that would take any certificate would give its password to anyone
    who can answer on the server's address."""
    if not settings.nats_tls_ca and not any(urlsplit(s).scheme == "tls" for s in servers):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.nats_tls_ca or None)
    if settings.nats_tls_cert:
        context.load_cert_chain(settings.nats_tls_cert, settings.nats_tls_key or None)
    return context


def nats_options(settings: Settings, url: str) -> tuple[list[str], dict]:
    """The servers to connect to and nats-py's options for them: the user to connect as
    (SOTAY_NATS_USER and SOTAY_NATS_PASSWORD when set, over credentials in the URLs, else those
    in the URLs) and the TLS context (`tls`) when NATS is reached over TLS."""
    servers = nats_servers(url)
    options: dict = {}
    tls = nats_tls(settings, servers)
    if tls is not None:
        options["tls"] = tls
    if not settings.nats_user:
        return servers, options
    without = []
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        without.append(urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])))
    return without, {**options, "user": settings.nats_user, "password": settings.nats_password or ""}


async def connect_nats(settings: Settings, url: str, *, inbox: str | None = None, **extra):
    """A plain nats-py connection as the configured user (over TLS where configured), for
    command-line work; `extra` are further options of nats.connect."""
    import nats

    servers, options = nats_options(settings, url)
    if inbox:
        options["inbox_prefix"] = inbox
    return await nats.connect(servers, **options, **extra)


async def patiently(what: str, step: Callable[[], Awaitable[None]], attempts: int = 5) -> None:
    """A set-up step against JetStream, again after a timeout: replicas starting
    together, or a cluster electing a leader, can keep an answer past nats-py's
    5 s. Each step creates or updates to one configuration, so repeating it is safe."""
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except (TimeoutError, ServiceUnavailableError) as exc:  # nats-py's TimeoutError is one too
            if attempt == attempts:
                raise
            log.warning("setting up %s: %r; again in %d s", what, exc, attempt)
            await asyncio.sleep(attempt)


class NotSetUp(RuntimeError):
    """What a service started with SOTAY_SETUP_ON_START=false needs is missing: `sotay migrate` must run first."""


class BindOnlyJetStream(JetStreamContext):
    """The JetStream of a service that does not set up (SOTAY_SETUP_ON_START=false): a bucket
    its code would create is bound as `sotay migrate` created it, which needs no more of the
    service's NATS user than reading the bucket's stream information."""

    async def create_key_value(self, config=None, **params):
        bucket = config.bucket if config is not None else params["bucket"]
        try:
            return await self.key_value(bucket)
        except BucketNotFoundError:
            raise NotSetUp(f"the key-value bucket {bucket} does not exist: run `sotay migrate` "
                           "with the NATS admin user first") from None


def token_verifier(settings: Settings) -> TokenVerifier:
    """A verifier for the key sets identity's root signs; it is given the root's public key when
    the service starts (ServiceRuntime.load_keys), and trusts nothing until a set comes."""
    return TokenVerifier(None, max_lifetime_s=settings.token_max_lifetime_s,
                         clock_skew_s=settings.token_clock_skew_s)


@dataclass
class ServiceRuntime:
    definition: ServiceDefinition
    settings: Settings
    nats_url: str
    database_url: str
    context: ServiceContext = field(init=False)
    broker: NatsBroker = field(init=False)
    relay: OutboxRelay | None = field(init=False, default=None)
    relay_task: asyncio.Task | None = field(init=False, default=None)
    runners: list[ConsumerRunner] = field(init=False, default_factory=list)
    _tasks: list[asyncio.Task] = field(init=False, default_factory=list)
    # Set when the process was asked to stop (SIGTERM): /readyz answers 503 from then on, so a proxy
    # sends nothing more while the requests in flight finish (docs/upgrades.md).
    draining: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        name = self.definition.name
        engine = create_engine(self.database_url, schema=name)
        self.context = ServiceContext(
            name=name, settings=self.settings, engine=engine, verifier=token_verifier(self.settings),
            idempotency=Idempotency(engine), reader=read_only(engine),
            hashes_personal_data=self.definition.hashes_personal_data, probes=ServiceProbes(name))
        if self.definition.prepare:
            self.definition.prepare(self.context)
        servers, options = nats_options(self.settings, self.nats_url)
        tls = options.get("tls")
        if "user" in options:
            security = NatsUserPassword(options["user"], options["password"], ssl_context=tls)
        else:
            security = NatsSecurity(ssl_context=tls) if tls else None
        self.broker = NatsBroker(
            servers, max_reconnect_attempts=-1, name=f"sotay-{name}", security=security,
            # Replies (acknowledgements, fetched messages) come under the service's own prefix.
            inbox_prefix=inbox_prefix(name),
            # Per-message INFO logs halve throughput; they stay available at DEBUG.
            log_level=logging.DEBUG,
        )
        self.consumers = self.definition.build_consumers(self.context)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def publishes(self) -> bool:
        """Whether the service publishes events (has a stream and an outbox relay)."""
        return any(True for _ in self.definition.catalogue)

    async def migrate(self) -> list[str]:
        applied = await migrate(self.context.engine, self.name, self.definition.migrations)
        if applied:
            log.info("%s: applied migrations %s", self.name, ", ".join(applied))
        if self.definition.after_migrate:
            await self.definition.after_migrate(self.context)
        return applied

    async def check_migrated(self) -> None:
        """Raise NotSetUp unless every migration of the service has been applied."""
        try:
            missing = await pending_migrations(self.context.engine, self.name, self.definition.migrations)
        except sa_exc.ProgrammingError as exc:  # no schema_migrations, or a role without the schema
            raise NotSetUp(f"{self.name}: cannot read {self.name}.schema_migrations ({exc.orig}): run "
                           "`sotay migrate` as the owner role first, and give this service's role its schema "
                           "(deploy/postgres/roles.sql)") from None
        if missing:
            raise NotSetUp(f"{self.name}: the database schema is not migrated ({len(missing)} migrations "
                           f"missing, first {missing[0]}): run `sotay migrate` as the owner role first")

    def consumer_configs(self) -> list[tuple[Consumer, ConsumerConfig]]:
        return [(consumer, consumer_config(consumer, ack_wait=self.settings.ack_wait_s,
                                           max_ack_pending=self.batch_size(consumer) * 4))
                for consumer in self.consumers]

    async def check_nats_set_up(self, js: JetStreamContext) -> None:
        """Raise NotSetUp unless the service's stream and its durable consumers exist."""
        own = stream_for_service(self.name)
        # A service that publishes no events (the webhook bridge) has no stream of its own.
        checks = [(f"stream {own}", lambda: js.stream_info(own))] if self.publishes else []
        checks += [(f"consumer {c.name} on stream {c.stream}",
                    lambda c=c: js.consumer_info(c.stream, c.name)) for c in self.consumers]
        for what, check in checks:
            try:
                await check()
            except NotFoundError:
                raise NotSetUp(f"{self.name}: the {what} does not exist: run `sotay migrate` with the NATS "
                               "admin user first") from None
            except (NatsTimeoutError, TimeoutError):
                raise NotSetUp(f"{self.name}: NATS did not answer about the {what}: is the service's NATS user "
                               "allowed to ask (deploy/nats/auth.conf)?") from None

    def load_keys(self) -> None:
        """The keys the service holds, read before it starts (MissingKey names what is not set):
        the root's public key every service verifies the key sets with, and the personal-data
        hash key where the service hashes. `sotay migrate` builds runtimes without reading any."""
        self.context.verifier.root = jwks_root_public_key(self.settings)
        if self.definition.hashes_personal_data:
            self.context.pii_key = pii_hmac_key(self.settings)
        if self.definition.reads_member_keys:
            self.context.events_kek = events_kek(self.settings)

    async def start(self) -> None:
        self.load_keys()
        try:
            await self._start()
        except BaseException:
            # What started before the failure (NATS connection, tasks, pool) must not outlive it.
            with contextlib.suppress(Exception):
                await self.stop()
            raise

    async def _start(self) -> None:
        setup = self.settings.setup_on_start
        if setup:
            await self.migrate()
        else:
            await self.check_migrated()
        nc = await self.broker.connect()
        js = nc.jetstream() if setup else BindOnlyJetStream(nc)
        self.context.js, self.context.nc = js, nc
        if setup:
            await patiently("streams", lambda: ensure_streams(
                js, atomic=server_has_atomic_batches(nc), replicas=self.settings.stream_replicas,
                duplicate_window_s=self.settings.duplicate_window_s))
        else:
            await self.check_nats_set_up(js)
        if self.definition.reads_member_keys:
            if setup:
                await patiently("member keys", lambda: ensure_bucket(js, member_keys_bucket(self.settings.stream_replicas),
                                                                  update=False))
            self.context.member_keys = MemberKeys(js, self.context.events_kek, replicas=self.settings.stream_replicas)
        await self.broker.start()
        if self.definition.on_start:
            await patiently(f"{self.name} start", lambda: self.definition.on_start(self.context))
        await self._trust_published_keys(js)
        for bucket, key, apply in ((JWKS_BUCKET, JWKS_KEY, self._trust_keys), (REVOKED_BUCKET, ">", self._end_sessions)):
            self._tasks.append(asyncio.create_task(self._watch_bucket(js, bucket, key, apply),
                                                   name=f"{self.name}-{bucket}"))
        if self.publishes:
            self.relay = OutboxRelay(self.database_url, self.name, js, nc)
            self.start_relay()
        for consumer, config in self.consumer_configs():
            if setup:
                await patiently(f"consumer {consumer.name}", lambda c=consumer, k=config: ensure_consumer(js, c, k))
            self._start_consumer(consumer, js)
        self._probe(js)

    def _probe(self, js: JetStreamContext) -> None:
        """The kit's gauges of this service, read when /metrics is scraped (sotay/kit/observability.py)."""
        probes = self.context.probes
        if self.publishes:  # a service with no events of its own (webhooks) has no relay to lead
            probes.leader("relay", lambda: self.relay is not None and self.relay.is_leader)
        # The pool is read each time: disposing of the engine (a database outage) makes a new one.
        probes.gauge("sotay_db_pool_size", "Connections the service's database pool holds open",
                     lambda: self.context.engine.pool.size())
        probes.gauge("sotay_db_pool_checked_out", "Connections of the service's database pool in use "
                     "(at the pool's size, requests wait their turn)", lambda: self.context.engine.pool.checkedout())
        probes.gauge("sotay_outbox_published_rows", "Outbox rows this replica's relay has published since it started",
                     lambda: self.relay.published if self.relay else None)
        probes.refresh_with("consumers", lambda: self._probe_consumers(js))
        probes.refresh_with("dead letters", lambda: self._probe_dead_letters(js))
        probes.refresh_with("outbox", self._probe_outbox)
        observability.watch(probes)

    async def _probe_consumers(self, js: JetStreamContext) -> None:
        async def one(consumer: Consumer) -> None:
            try:
                info = await js.consumer_info(consumer.stream, consumer.name)
                pending, in_flight = info.num_pending, info.num_ack_pending
            except Exception:  # unknown now: left out of the scrape, not shown stale
                pending = in_flight = None
            labels = {"consumer": consumer.name, "stream": consumer.stream}
            self.context.probes.set("sotay_consumer_pending_messages", "Messages of the stream the durable "
                                    "consumer has not been delivered yet (JetStream's num_pending): its lag",
                                    pending, **labels)
            self.context.probes.set("sotay_consumer_ack_pending_messages", "Messages delivered to the durable "
                                    "consumer and not acknowledged yet (num_ack_pending)", in_flight, **labels)
        await asyncio.gather(*(one(c) for c in self.consumers))

    async def _probe_dead_letters(self, js: JetStreamContext) -> None:
        help_ = "Dead letters of the durable consumer waiting in SOTAY_DLQ (`sotay dlq list`)"
        try:
            info = await js.stream_info(DLQ_STREAM, subjects_filter=dlq_subject())
        except Exception:
            for consumer in self.consumers:
                self.context.probes.set("sotay_dead_letters", help_, None, consumer=consumer.name)
            raise
        subjects = info.state.subjects or {}
        for consumer in self.consumers:
            self.context.probes.set("sotay_dead_letters", help_, subjects.get(dlq_subject(consumer.name), 0),
                                    consumer=consumer.name)

    async def _probe_outbox(self) -> None:
        probes = self.context.probes
        backlog_help = "Outbox rows committed and not yet published to JetStream"
        age_help = "Age of the oldest outbox row not yet published (0 when none waits)"
        try:
            async with self.context.reader.connect() as db:
                backlog, age = (await db.execute(text(
                    "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0) "
                    "FROM outbox WHERE published_at IS NULL"))).one()
        except Exception:
            backlog = age = None
            raise
        finally:
            probes.set("sotay_outbox_backlog_rows", backlog_help, backlog)
            probes.set("sotay_outbox_oldest_unpublished_age_seconds", age_help, age)

    async def _trust_published_keys(self, js: JetStreamContext) -> None:
        """The key set identity published last, before the first request (the watch follows changes)."""
        try:
            signed = await latest_value(js, JWKS_BUCKET, JWKS_KEY)
        except Exception:  # no bucket yet: identity has not started; the watch will see its set
            return
        if signed:
            self._trust_key_set(signed)

    def _trust_keys(self, entry) -> None:
        self._trust_key_set(entry.value)

    def _trust_key_set(self, signed: bytes) -> None:
        """Trust the keys identity publishes, so tokens verify with no call to identity; a set
        its root key did not sign (written by anyone else) changes nothing."""
        try:
            self.context.verifier.trust_signed_jwks(signed)
        except AuthError as exc:
            log.warning("%s: a key set in %s was ignored: %s", self.name, JWKS_BUCKET, exc)

    def _end_sessions(self, entry) -> None:
        """End the sessions of accounts identity disabled, everywhere at once."""
        self.context.verifier.revoke(entry.key, float(entry.value))

    async def _watch_bucket(self, js: JetStreamContext, bucket: str, key: str, apply) -> None:
        """Apply each value put under `key` (a KV filter) in `bucket`, for as long as the service runs."""
        while True:
            try:
                watcher = await (await js.key_value(bucket)).watch(key)
                async for entry in watcher:
                    if entry is not None and entry.value:
                        apply(entry)
            except asyncio.CancelledError:
                raise
            except Exception:  # no bucket yet (identity not started) or NATS away: look again soon
                await asyncio.sleep(2.0)

    def start_relay(self) -> None:
        self.relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-relay")
        self._tasks.append(self.relay_task)

    @contextlib.asynccontextmanager
    async def member_keys(self):
        """The member keys for work that writes member events without starting the service (an
        import from the command line, a benchmark): a NATS connection of its own while it lasts."""
        nc = await connect_nats(self.settings, self.nats_url)
        try:
            js = nc.jetstream()
            await ensure_bucket(js, member_keys_bucket(self.settings.stream_replicas), update=False)
            self.context.member_keys = MemberKeys(js, events_kek(self.settings), replicas=self.settings.stream_replicas)
            yield self.context.member_keys
        finally:
            self.context.member_keys = None
            await nc.close()

    async def stop_relay(self) -> None:
        if self.relay_task is not None:
            await stop_tasks([self.relay_task], self.name)

    async def drain(self, timeout: float = 15.0) -> None:
        """Before stop(), when the process goes away on purpose: each consumer applies and acks the
        batch it holds (and the one being fetched behind it) and fetches no more, the relay finishes
        the round it is publishing and marks it. Nothing is then left waiting for its ack wait or
        published again; whatever does not finish within `timeout` is cancelled by stop()."""
        self.draining = True
        for runner in self.runners:
            runner.stop()
        if self.relay is not None:
            self.relay.stop()
        tasks = [t for t in self._tasks if t.get_name().startswith("consumer-") or t is self.relay_task]
        if not tasks:
            return
        started = asyncio.get_running_loop().time()
        _, late = await asyncio.wait(tasks, timeout=timeout)
        if late:
            log.warning("%s: %s still running after %.0f s of draining; cancelling", self.name,
                        ", ".join(t.get_name() for t in late), timeout)
        else:
            log.info("%s: consumers and relay drained in %.1f s", self.name,
                     asyncio.get_running_loop().time() - started)

    async def stop(self) -> None:
        log.info("%s: stopping", self.name)
        observability.unwatch(self.context.probes)
        await stop_tasks(self._tasks, self.name)
        self._tasks.clear()
        try:
            if self.definition.on_stop:
                await self.definition.on_stop(self.context)
            try:
                await self.broker.stop()
            except Exception as exc:  # NATS away (reconnecting): nothing left to flush, stop anyway
                log.warning("%s: NATS connection not closed cleanly: %r", self.name, exc)
        finally:
            await self.context.engine.dispose()
        log.info("%s: stopped", self.name)

    async def readiness(self) -> dict[str, bool]:
        checks = {"serving": not self.draining,
                  "nats": bool(self.context.nc and self.context.nc.is_connected),
                  "consumers": all(r.bound for r in self.runners),
                  "relay": not self.publishes or (self.relay_task is not None and not self.relay_task.done())}
        try:
            async with self.context.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
            checks["database"] = True
        except Exception:
            checks["database"] = False
        return checks

    def batch_size(self, consumer: Consumer) -> int:
        return consumer.batch_size or self.settings.consumer_batch

    def _start_consumer(self, consumer: Consumer, js: JetStreamContext) -> None:
        runner = ConsumerRunner(consumer, self.context.engine, js, max_deliver=self.settings.max_deliver,
                                nack_delay=self.settings.nack_delay_s, batch_size=self.batch_size(consumer),
                                fetch_timeout=self.settings.consumer_fetch_timeout_s)
        self.runners.append(runner)
        self._tasks.append(asyncio.create_task(runner.run(), name=f"consumer-{consumer.name}"))

    def asyncapi(self) -> dict:
        return asyncapi_document(service=self.name, description=self.definition.description,
                                 catalogue=self.definition.catalogue, consumers=self.consumers,
                                 nats_url=self.nats_url)

    def routers(self) -> list[tuple[APIRouter, str]]:
        """The service's routers and the prefix each goes under (included straight
        into the app: every level of nesting is matched again on every request)."""
        prefix = f"/api/{self.name}/v1"
        api = self.definition.build_router(self.context)
        routers = [(api, prefix), (self._platform_routes(api, prefix), prefix)]
        if self.definition.build_root_router:
            routers.append((self.definition.build_root_router(self.context), ""))
        return routers

    def _platform_routes(self, api: APIRouter, prefix: str) -> APIRouter:
        routes = APIRouter(tags=["platform"])
        catalogue = self.definition.catalogue
        openapi_cache: dict = {}

        @routes.get("/healthz", include_in_schema=False)
        async def healthz():
            return {"status": "ok", "service": self.name}

        @routes.get("/readyz", include_in_schema=False)
        async def readyz():
            checks = await self.readiness()
            return json_response({"ready": all(checks.values()), "checks": checks},
                                 status_code=200 if all(checks.values()) else 503)

        @routes.get("/openapi.json", include_in_schema=False)
        async def openapi():
            if not openapi_cache:
                prefixed = APIRouter()
                prefixed.include_router(api, prefix=prefix)
                openapi_cache.update(get_openapi(
                    title=f"sotay {self.name}", version="1.0.0", description=self.definition.description,
                    routes=prefixed.routes))
            return openapi_cache

        @routes.get("/asyncapi", include_in_schema=False)
        async def asyncapi():
            return self.asyncapi()

        # The document as a page written here, with its own stylesheet: nothing from another origin.
        @routes.get("/asyncapi.html", include_in_schema=False, response_class=HTMLResponse)
        async def asyncapi_page():
            return HTMLResponse(asyncapi_html(self.asyncapi(), json_url="asyncapi"))

        @routes.get(f"/{ASYNCAPI_STYLESHEET}", include_in_schema=False)
        async def asyncapi_css():
            return Response(ASYNCAPI_CSS, media_type="text/css; charset=utf-8")

        @routes.get("/events", include_in_schema=False)
        async def event_types():
            return [{"type": t.event_type(), "subject": t.subject_pattern(),
                     "schema": f"{prefix}/events/{t.event_type()}.schema.json"} for t in catalogue]

        @routes.get("/events/{event_type}.schema.json", include_in_schema=False)
        async def event_schema(event_type: str):
            if event_type not in catalogue.types:
                raise Problem(404, "Unknown event type", f"{event_type} is not published by {self.name}")
            return catalogue.envelope_schema(event_type)

        return routes


def revoked_ttl_s(settings: Settings) -> float:
    """How long a revocation is kept: past the longest life a token may claim, and the skew."""
    return settings.token_max_lifetime_s + settings.token_clock_skew_s + 60


async def set_up_nats(nc: NatsClient, settings: Settings, runtimes: list[ServiceRuntime]) -> None:
    """What services started with SOTAY_SETUP_ON_START=false cannot make themselves (`sotay migrate`
    does it as the NATS admin): the streams, the key-value buckets, every service's durable
    consumers and those of the district systems (SOTAY_DISTRICT_CONSUMERS)."""
    js, atomic = nc.jetstream(), server_has_atomic_batches(nc)
    await ensure_streams(js, atomic=atomic, replicas=settings.stream_replicas,
                         duplicate_window_s=settings.duplicate_window_s)
    await ensure_buckets(js, atomic=atomic, replicas=settings.stream_replicas, revoked_ttl_s=revoked_ttl_s(settings))
    for runtime in runtimes:
        for consumer, config in runtime.consumer_configs():
            await ensure_consumer(js, consumer, config)
    await ensure_district_consumers(js, settings.district_codes(), ack_wait=settings.ack_wait_s)


class CloseWhenDraining:
    """`Connection: close` on every answer while any of `runtimes` is draining (docs/upgrades.md)."""

    def __init__(self, app, runtimes: list[ServiceRuntime]) -> None:
        self.app, self.runtimes = app, runtimes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not any(r.draining for r in self.runtimes):
            return await self.app(scope, receive, send)

        async def closing(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)
        return await self.app(scope, receive, closing)


def service_app(runtimes: list[ServiceRuntime], *, title: str, lifespan) -> FastAPI:
    """One FastAPI app serving the given services under their prefixes, with
    root /healthz and /readyz covering all of them."""
    # FastAPI's own OpenTelemetry support makes the server span of each request and takes an
    # incoming traceparent, which the outbox then writes into the events. It runs only while
    # spans are exported (a server span costs ~0.1 ms of a 1 ms request even when dropped);
    # spans around each dependency and handler would cost more than they tell.
    app = FastAPI(title=title, lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None,
                  telemetry={"tracing": telemetry.exporting(), "operation_spans": False})
    install_problem_handlers(app)
    app.add_middleware(StorableText)
    app.add_middleware(BodyLimit)  # the outer one: a body's limit applies before StorableText looks at it
    # So that the other two's refusals carry the headers too.
    app.add_middleware(SecurityHeaders)
    if not telemetry.exporting():  # a trace for each request all the same (log lines, the outbox's events)
        app.add_middleware(telemetry.TraceContext)
    # While draining (SIGTERM), each answer closes its connection: a client's next request opens a new
    # one, which the proxy sends to a replica that stays, rather than racing the listener's close.
    app.add_middleware(CloseWhenDraining, runtimes=runtimes)
    # Outermost: every answer is counted, refusals too (sotay/kit/observability.py).
    app.add_middleware(HttpMetrics, services=[r.name for r in runtimes],
                       default=runtimes[0].name if len(runtimes) == 1 else "sotay")
    for runtime in runtimes:
        for router, prefix in runtime.routers():
            app.include_router(router, prefix=prefix)

    mount_pages(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok", "services": [r.name for r in runtimes]}

    # Prometheus' scrape of this process: every service it runs, each sample labelled with its
    # service; internal (the proxies route /api/<service>/ only) and for the scrape token alone.
    guard = observability.scrape_guard(runtimes[0].settings) if runtimes else None

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request):
        guard(request.headers.get("authorization"))
        return Response(await observability.scrape([r.context.probes for r in runtimes]),
                        media_type=observability.CONTENT_TYPE)

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        checks = {r.name: await r.readiness() for r in runtimes}
        ready = all(all(c.values()) for c in checks.values())
        return json_response({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return app
