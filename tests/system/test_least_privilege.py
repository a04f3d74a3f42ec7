"""Least privilege (deploy/README.md): the NATS users of deploy/nats/auth.conf and the
PostgreSQL roles of deploy/postgres/roles.sql, on a nats-server started with that
configuration and a real PostgreSQL.

`sotay migrate` sets everything up as the owner role and the NATS admin, as the
compose file's `migrate` does. Then each service's user may publish its own subjects
and consume its own consumers and nothing else, a district system reads its own
committee's events only, each service's role keeps to its schema, and the four
services run with their users and roles (SOTAY_SETUP_ON_START=false): their relays
publish, their consumers consume and dead-letter, identity puts into its buckets and
every service follows them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import nats
import orjson
import pytest
from nats.js.api import ConsumerConfig, KeyValueConfig

from sotay.system.registry import SERVICES, load
from sotay.kit.auth import JWKS_BUCKET, JWKS_KEY, REVOKED_BUCKET, open_signed_jwks
from sotay.kit.keys import jwks_root_public_key
from sotay.kit.db import create_engine, migrate
from sotay.kit.embedded import terminate, wait_for_port, free_port, nats_server_binary, postgres_bin_dir
from sotay.kit.service import NotSetUp, ServiceRuntime, inbox_prefix, set_up_nats
from sotay.kit.settings import Settings
from sotay.kit.streams import DLQ_STREAM, MEMBER_KEYS_BUCKET, ROLLOUT_BUCKET, STREAMS, ensure_bucket, stream_for_service
from tests.support.system import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NATS_CONFIG = ROOT / "deploy" / "nats" / "nats-server.conf"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
DISTRICT = "ba-dinh"  # the committee of the example district user in auth.conf
OTHER_COMMITTEE = "hoan-kiem"
NATS_USERS = ("admin", *SERVICES, f"district-{DISTRICT}")
# The services that publish events (a stream of their own); webhooks publishes none.
PUBLISHERS = tuple(s for s in SERVICES if any(True for _ in load(s).catalogue))
PASSWORDS = {user: f"{user}-test-{uuid.uuid4().hex[:8]}" for user in NATS_USERS}


def password_variable(user: str) -> str:
    """The server's environment variable auth.conf reads the user's password from."""
    return f"NATS_{user.upper().replace('-', '_')}_PASSWORD"


# --- servers ----------------------------------------------------------------------------


@dataclass
class SecuredNats:
    process: subprocess.Popen
    url: str
    monitor_port: int = 0

    def stop(self) -> None:
        terminate(self.process, signal.SIGTERM, 10)


def start_secured_nats(store: Path, environment: dict[str, str], args: list[str] | None = None, *,
                       port: int | None = None) -> SecuredNats:
    """nats-server with deploy/nats/nats-server.conf (and so auth.conf), its ports moved to free
    ones (the client port `port` when given); `environment` holds the NATS_*_PASSWORD variables."""
    port, monitor = port or free_port(), free_port()
    cmd = [nats_server_binary(), *(args or ["--config", str(NATS_CONFIG), "-js"]), "-sd", str(store),
           "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-l", str(store / "nats-server.log")]
    store.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")} | environment
    process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_port(port, 15, process)
    return SecuredNats(process, f"nats://127.0.0.1:{port}", monitor)


@dataclass
class Roles:
    """A database with the roles of roles.sql (named <prefix>_owner, <prefix>_<service>)."""

    superuser_url: str
    database: str
    prefix: str
    passwords: dict[str, str]

    def url(self, who: str) -> str:
        base = self.superuser_url.rsplit("/", 1)[0].split("://", 1)[1].rpartition("@")[2]
        return f"postgresql://{self.prefix}_{who}:{self.passwords[who]}@{base}/{self.database}"

    def database_url(self) -> str:
        return f"{self.superuser_url.rsplit('/', 1)[0]}/{self.database}"


def apply_roles_sql(database_url: str, environment: dict[str, str], *variables: str) -> subprocess.CompletedProcess:
    """roles.sql run by psql as the postgres container runs it (passwords from the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | environment
    psql = str(postgres_bin_dir() / "psql")
    args = [psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-f", str(ROLES_SQL)]
    for variable in variables:
        args[1:1] = ["-v", variable]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


async def create_roles(superuser_url: str, passwords: dict[str, str]) -> Roles:
    roles = Roles(superuser_url, f"sotay_lp_{uuid.uuid4().hex[:8]}", f"lp{uuid.uuid4().hex[:6]}", passwords)
    admin = await asyncpg.connect(superuser_url)
    await admin.execute(f'CREATE DATABASE "{roles.database}"')
    await admin.close()
    done = apply_roles_sql(roles.database_url(), {f"PG_{who.upper()}_PASSWORD": pw for who, pw in passwords.items()},
                           f"role_prefix={roles.prefix}")
    assert done.returncode == 0, done.stdout + done.stderr
    return roles


async def drop_roles(roles: Roles) -> None:
    admin = await asyncpg.connect(roles.superuser_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{roles.database}" WITH (FORCE)')
        for who in roles.passwords:
            await admin.execute(f'DROP ROLE IF EXISTS "{roles.prefix}_{who}"')
    finally:
        await admin.close()


def sotay(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sotay", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def secured_nats_server(tmp_path_factory):
    server = start_secured_nats(tmp_path_factory.mktemp("nats-auth"),
                                {password_variable(user): pw for user, pw in PASSWORDS.items()})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secured_nats(secured_nats_server) -> str:
    return secured_nats_server.url


@pytest.fixture(scope="module")
async def roles(postgres_server):
    roles = await create_roles(postgres_server, {who: f"{who}-pg-{uuid.uuid4().hex[:8]}"
                                                 for who in ("owner", *SERVICES)})
    yield roles
    await drop_roles(roles)


@pytest.fixture(scope="module")
def set_up(secured_nats, roles, data_dir):
    """`sotay migrate` as compose's migrate container runs it: the owner role, the NATS admin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
    env.update(SOTAY_DATABASE_URL=roles.url("owner"), SOTAY_NATS_URL=secured_nats, SOTAY_NATS_USER="admin",
               SOTAY_NATS_PASSWORD=PASSWORDS["admin"], SOTAY_DATA_DIR=str(data_dir),
               SOTAY_DISTRICT_CONSUMERS=DISTRICT)
    done = sotay("migrate", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def consumers(data_dir) -> dict[str, list[tuple[str, str]]]:
    """Each service's durable consumers (stream, name), as its code builds them."""
    found = {}
    for name in SERVICES:
        runtime = ServiceRuntime(load(name), Settings(data_dir=data_dir), "nats://unused",
                                 "postgresql://unused@127.0.0.1:1/unused")
        found[name] = [(c.stream, c.name) for c in runtime.consumers]
    return found


class Connection:
    """A NATS connection as one user, with the violations the server reported to it."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: nats.NATS | None = None

    async def open(self, url: str, user: str) -> Connection:
        async def on_error(exc):
            self.errors.append(str(exc).lower())
        inbox = "_INBOX" if user == "admin" else inbox_prefix(user)
        self.nc = await nats.connect(url, user=user, password=PASSWORDS[user], inbox_prefix=inbox,
                                     error_cb=on_error, allow_reconnect=False)
        self.js = self.nc.jetstream(timeout=1.0)
        return self

    def violated(self, kind: str, subject: str) -> bool:
        return any(f'permissions violation for {kind} to "{subject.lower()}"' in e for e in self.errors)

    async def close(self) -> None:
        await self.nc.close()


@pytest.fixture
async def connect(secured_nats):
    opened: list[Connection] = []

    async def open_as(user: str) -> Connection:
        opened.append(await Connection().open(secured_nats, user))
        return opened[-1]
    yield open_as
    for conn in opened:
        await conn.close()


async def refused(*calls) -> list[BaseException | object]:
    """Run the calls together; each must end without an answer (the server drops what the user may not send)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        assert isinstance(result, TimeoutError), f"allowed, or failed otherwise: {result!r}"
    return results


def envelope(service: str, type_name: str = "LeastPrivilegeProbe") -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"sotay/{service}",
                         "type": f"sotay.{service}.{type_name}.v1", "subject": "probe",
                         "time": "2023-02-01T00:00:00Z", "data": {}})


# --- before the set-up ------------------------------------------------------------------


async def test_a_service_that_does_not_set_up_refuses_to_start_before_migrate(roles, secured_nats, data_dir):
    settings = Settings(data_dir=data_dir, setup_on_start=False, nats_user="members",
                        nats_password=PASSWORDS["members"])
    runtime = ServiceRuntime(load("members"), settings, secured_nats, roles.url("members"))
    with pytest.raises(NotSetUp, match="sotay migrate"):
        await runtime.start()


async def test_roles_sql_refuses_to_run_without_every_password(roles):
    done = apply_roles_sql(roles.database_url(), {"PG_OWNER_PASSWORD": "x", "PG_MEMBERS_PASSWORD": "y"},
                           f"role_prefix={roles.prefix}")
    assert done.returncode != 0
    assert "no password for identity, content, metrics, webhooks" in done.stderr


async def test_roles_sql_takes_over_a_database_migrated_before_the_roles(postgres_server):
    """A database whose schemas a superuser migrated (compose before the roles): roles.sql hands
    them to the owner role and grants them to the services."""
    database = f"sotay_lp_old_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    roles = Roles(postgres_server, database, f"lpold{uuid.uuid4().hex[:6]}",
                  {who: f"{who}-old" for who in ("owner", *SERVICES)})
    try:
        engine = create_engine(roles.database_url(), schema="members")
        await migrate(engine, "members", load("members").migrations)
        await engine.dispose()
        passwords = {f"PG_{who.upper()}_PASSWORD": password for who, password in roles.passwords.items()}
        done = apply_roles_sql(roles.database_url(), passwords, f"role_prefix={roles.prefix}")
        assert done.returncode == 0, done.stdout + done.stderr
        superuser = await asyncpg.connect(roles.database_url())
        owners = await superuser.fetch("SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c "
                                       "JOIN pg_namespace n ON n.oid = relnamespace WHERE nspname = 'members'")
        await superuser.close()
        assert [r["owner"] for r in owners] == [f"{roles.prefix}_owner"]
        members = await asyncpg.connect(roles.url("members"))
        assert await members.fetchval("SELECT count(*) FROM members.outbox") == 0
        assert await members.fetchval("SELECT count(*) FROM members.schema_migrations") > 0
        await members.close()
    finally:
        await drop_roles(roles)


# --- the set-up -------------------------------------------------------------------------


async def test_migrate_sets_up_streams_buckets_and_every_consumer(set_up, connect, consumers):
    assert f"district consumers of {DISTRICT}" in set_up
    admin = await connect("admin")
    for stream in STREAMS:
        await admin.js.stream_info(stream)
    for bucket in (JWKS_BUCKET, REVOKED_BUCKET, ROLLOUT_BUCKET, MEMBER_KEYS_BUCKET):
        await admin.js.key_value(bucket)
    for service, owned in consumers.items():
        for stream, name in owned:
            assert (await admin.js.consumer_info(stream, name)).config.durable_name == name, service
    for stream, subjects in STREAMS.items():
        if stream == DLQ_STREAM:
            continue
        info = await admin.js.consumer_info(stream, f"district-{DISTRICT}")
        assert info.config.filter_subject == subjects.replace(">", f"*.{DISTRICT}")
    # The services create their buckets with these same settings when they set up themselves:
    # the set-up's must not differ, or such a service would fail to start on the same server.
    await admin.js.create_key_value(KeyValueConfig(bucket=JWKS_BUCKET, history=5, replicas=1))
    from services.identity.adapters.keys import revocations
    await revocations(admin.js, ttl_s=Settings().access_token_ttl_s + 60, replicas=1)
    await ensure_bucket(admin.js, KeyValueConfig(bucket=ROLLOUT_BUCKET, history=1, replicas=1), atomic=True)


async def test_migrate_can_run_again(set_up, secured_nats, roles, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
    env.update(SOTAY_DATABASE_URL=roles.url("owner"), SOTAY_NATS_URL=secured_nats, SOTAY_NATS_USER="admin",
               SOTAY_NATS_PASSWORD=PASSWORDS["admin"], SOTAY_DATA_DIR=str(data_dir))
    again = sotay("migrate", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "district consumers" not in again.stdout


# --- each service's user ----------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_publishes_its_own_subjects_and_dead_letters_only(set_up, connect, consumers, service):
    me, admin = await connect(service), await connect("admin")
    if service in PUBLISHERS:
        ack = await me.js.publish(f"sotay.{service}.probe_happened.{DISTRICT}", envelope(service))
        assert ack.stream == stream_for_service(service)
    else:  # no events of its own: not even a subject under its name
        await refused(me.js.publish(f"sotay.{service}.probe_happened.{DISTRICT}", envelope(service), timeout=0.5))
        assert me.violated("publish", f"sotay.{service}.probe_happened.{DISTRICT}"), me.errors
    for _, name in consumers[service]:
        assert (await me.js.publish(f"sotay.dlq.{name}", b"{}")).stream == DLQ_STREAM
    others = [s for s in PUBLISHERS if s != service]
    foreign_dlq = [name for other in others for _, name in consumers[other]]
    before = {s: (await admin.js.stream_info(stream_for_service(s))).state.messages for s in others}
    dlq_before = (await admin.js.stream_info(DLQ_STREAM)).state.messages
    await refused(*(me.js.publish(f"sotay.{other}.probe_happened.{DISTRICT}", envelope(other), timeout=0.5)
                    for other in others),
                  *(me.js.publish(f"sotay.dlq.{name}", b"{}", timeout=0.5) for name in foreign_dlq))
    for other in others:
        assert me.violated("publish", f"sotay.{other}.probe_happened.{DISTRICT}"), me.errors
        assert (await admin.js.stream_info(stream_for_service(other))).state.messages == before[other]
    assert (await admin.js.stream_info(DLQ_STREAM)).state.messages == dlq_before


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_can_neither_manage_streams_nor_use_other_consumers(set_up, connect, consumers, service):
    me, admin = await connect(service), await connect("admin")
    stream, mine = consumers[service][0] if consumers[service] else ("SOTAY_MEMBERS", None)
    own = stream_for_service(service) if service in PUBLISHERS else "SOTAY_MEMBERS"  # one it reads, if none of its own
    foreign = next((s, n) for other in SERVICES if other != service for s, n in consumers[other])
    calls = [
        me.js.add_stream(name="SOTAY_STOLEN", subjects=["stolen.>"]),
        me.js.delete_stream(own),
        me.js.update_stream(config=(await admin.js.stream_info(own)).config),
        me.js.purge_stream(own),
        me.js.add_consumer(stream, ConsumerConfig(durable_name=f"{service}-extra", filter_subject=STREAMS[stream])),
        me.js.add_consumer(stream, ConsumerConfig(name=f"{service}-extra", filter_subject=STREAMS[stream])),
        me.js.consumer_info(*foreign),
    ]
    if mine:
        calls.append(me.js.delete_consumer(stream, mine))
    await refused(*calls)
    assert me.violated("publish", "$JS.API.STREAM.CREATE.SOTAY_STOLEN")
    assert me.violated("publish", f"$JS.API.STREAM.DELETE.{own}")
    # A fetch from another service's consumer goes unanswered: the server drops the request.
    other_consumer = await me.js.pull_subscribe_bind(foreign[1], foreign[0])
    with pytest.raises(TimeoutError):
        await other_consumer.fetch(1, timeout=0.5)
    assert me.violated("publish", f"$JS.API.CONSUMER.MSG.NEXT.{foreign[0]}.{foreign[1]}")
    # Core subscriptions: only its inbox (and, for metrics, its own snapshots).
    for subject in ("sotay.>", "_INBOX.>", f"sotay.*.*.{DISTRICT}"):
        await me.nc.subscribe(subject)
    await me.nc.flush()
    await asyncio.sleep(0.1)
    for subject in ("sotay.>", "_INBOX.>", f"sotay.*.*.{DISTRICT}"):
        assert me.violated("subscription", subject), subject
    await me.nc.subscribe(f"{inbox_prefix(service)}.anything")
    await me.nc.flush()
    assert not me.violated("subscription", f"{inbox_prefix(service)}.anything")
    # Nothing of that happened.
    await admin.js.stream_info(own)
    with pytest.raises(nats.js.errors.NotFoundError):
        await admin.js.stream_info("SOTAY_STOLEN")
    with pytest.raises(nats.js.errors.NotFoundError):
        await admin.js.consumer_info(stream, f"{service}-extra")
    if mine:
        await admin.js.consumer_info(stream, mine)


async def test_only_identity_and_metrics_put_into_their_buckets(set_up, connect):
    identity, metrics, members = await connect("identity"), await connect("metrics"), await connect("members")
    await (await identity.js.key_value(REVOKED_BUCKET)).put("probe-account", b"1")
    await (await metrics.js.key_value(ROLLOUT_BUCKET)).put("probe-unit", b"{}")
    await refused(members.js.publish(f"$KV.{REVOKED_BUCKET}.probe-account", b"2", timeout=0.5),
                  members.js.publish(f"$KV.{JWKS_BUCKET}.{JWKS_KEY}", b"{}", timeout=0.5),
                  identity.js.publish(f"$KV.{ROLLOUT_BUCKET}.probe-unit", b"x", timeout=0.5),
                  metrics.js.publish(f"$KV.{REVOKED_BUCKET}.probe-account", b"3", timeout=0.5))
    admin = await connect("admin")
    assert (await (await admin.js.key_value(REVOKED_BUCKET)).get("probe-account")).value == b"1"
    # Only metrics follows its snapshots live (the dashboard's /rollout/stream).
    await metrics.nc.subscribe("sotay.metrics.rollout.*")
    await members.nc.subscribe("sotay.metrics.rollout.*")
    await metrics.nc.flush()
    await members.nc.flush()
    await asyncio.sleep(0.1)
    assert not metrics.violated("subscription", "sotay.metrics.rollout.*")
    assert members.violated("subscription", "sotay.metrics.rollout.*")


async def test_member_keys_are_made_by_members_read_by_identity_and_content_only(set_up, connect):
    """The keys that open what member events say of a person (sotay/kit/member_keys.py): members
    writes them; identity and content read one by direct get; metrics and a district system, which
    receive the sealed parts, can neither read nor write a key."""
    members, identity, content = await connect("members"), await connect("identity"), await connect("content")
    metrics, district = await connect("metrics"), await connect(f"district-{DISTRICT}")
    made = await (await members.js.key_value(MEMBER_KEYS_BUCKET)).put("probe-member", b"{}")
    for reader in (identity, content):
        assert (await (await reader.js.key_value(MEMBER_KEYS_BUCKET)).get("probe-member")).revision == made
    direct = f"$JS.API.DIRECT.GET.KV_{MEMBER_KEYS_BUCKET}.$KV.{MEMBER_KEYS_BUCKET}.probe-member"
    await refused(identity.js.publish(f"$KV.{MEMBER_KEYS_BUCKET}.probe-member", b"x", timeout=0.5),
                  content.js.publish(f"$KV.{MEMBER_KEYS_BUCKET}.probe-member", b"x", timeout=0.5),
                  metrics.nc.request(direct, b"", timeout=0.5),
                  metrics.js.stream_info(f"KV_{MEMBER_KEYS_BUCKET}"),
                  district.nc.request(direct, b"", timeout=0.5),
                  district.js.stream_info(f"KV_{MEMBER_KEYS_BUCKET}"))
    assert metrics.violated("publish", direct) and district.violated("publish", direct)
    admin = await connect("admin")
    assert (await (await admin.js.key_value(MEMBER_KEYS_BUCKET)).get("probe-member")).revision == made


# --- a district system --------------------------------------------------------------------


def seen_by_both(server: SecuredNats, conn: Connection) -> str:
    """What the server (its /connz) and the client saw of a connection: for a failure's message."""
    user = conn.nc.options["user"]
    connz = httpx.get(f"http://127.0.0.1:{server.monitor_port}/connz", params={"subs": "detail", "auth": "1"},
                      timeout=5).json()
    mine = [{k: c.get(k) for k in ("cid", "in_msgs", "out_msgs", "pending_bytes", "subscriptions_list_detail")}
            for c in connz.get("connections", []) if c.get("authorized_user") == user]
    return f"server: {mine}; client: {dict(conn.nc.stats)}, errors {conn.errors}"


async def test_a_district_system_reads_its_committees_events_only(set_up, connect, secured_nats_server):
    district, admin = await connect(f"district-{DISTRICT}"), await connect("admin")
    durable = f"district-{DISTRICT}"
    live_subjects: list[str] = []

    async def on_live(msg) -> None:
        live_subjects.append(msg.subject)
    # A callback rather than next_msg: nothing is taken off the queue by a read that times out.
    await district.nc.subscribe(f"sotay.*.*.{DISTRICT}", cb=on_live)
    await district.nc.flush()
    published: dict[str, list[str]] = {}
    for stream, subjects in STREAMS.items():
        if stream == DLQ_STREAM:
            continue
        service = subjects.split(".")[1]
        for committee in (DISTRICT, OTHER_COMMITTEE, "city"):
            subject = f"sotay.{service}.district_probe.{committee}"
            await admin.js.publish(subject, envelope(service))
            published.setdefault(stream, []).append(subject)
    received: dict[str, list[str]] = {}
    for stream in published:
        subscription = await district.js.pull_subscribe_bind(durable, stream)
        messages = []
        while True:
            try:
                batch = await subscription.fetch(100, timeout=0.5)
            except TimeoutError:
                break
            messages += batch
        for message in messages:
            await message.ack()
        received[stream] = [m.subject for m in messages]
        info = await district.js.consumer_info(stream, durable)
        assert info.num_pending == 0
    for stream, subjects in published.items():
        assert received[stream], stream
        assert all(s.endswith(f".{DISTRICT}") for s in received[stream]), received[stream]
        assert [s for s in subjects if s.endswith(f".{DISTRICT}")][0] in received[stream]
    await district.nc.flush()
    await asyncio.sleep(0.2)
    for stream in published:
        info = await admin.js.consumer_info(stream, durable)
        assert info.num_ack_pending == 0 and info.num_pending == 0, (stream, info)
    # The live subscription got its committee's events, as they were published.
    async def all_live() -> bool:
        return len(live_subjects) >= len(published)
    try:
        await eventually(all_live, timeout=5)
    except AssertionError as failure:  # once in CI, not reproduced since: say what each side saw
        raise AssertionError(f"{failure}: live {live_subjects}; {seen_by_both(secured_nats_server, district)}") \
            from None
    # One more of its committee's, published last: once it is here, nothing published before it is still coming.
    barrier = f"sotay.members.district_barrier.{DISTRICT}"
    await admin.js.publish(barrier, envelope("members"))
    await eventually(lambda: barrier in live_subjects, timeout=5)
    live_subjects.remove(barrier)
    assert live_subjects and all(s.endswith(f".{DISTRICT}") for s in live_subjects)
    assert len(live_subjects) == len(published)


async def test_a_district_system_can_do_nothing_else(set_up, connect, consumers):
    district = await connect(f"district-{DISTRICT}")
    stream, name = consumers["identity"][0]
    await refused(district.js.publish(f"sotay.members.district_probe.{DISTRICT}", b"{}", timeout=0.5),
                  district.js.add_consumer("SOTAY_MEMBERS", ConsumerConfig(
                      durable_name=f"district-{OTHER_COMMITTEE}", filter_subject="sotay.members.>")),
                  district.js.stream_info("SOTAY_MEMBERS"),
                  district.js.consumer_info(stream, name))
    another = await district.js.pull_subscribe_bind(name, stream)
    with pytest.raises(TimeoutError):
        await another.fetch(1, timeout=0.5)
    assert district.violated("publish", f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}")
    for subject in (f"sotay.*.*.{OTHER_COMMITTEE}", "sotay.members.>", "sotay.dlq.>", "$KV.>"):
        await district.nc.subscribe(subject)
    await district.nc.flush()
    await asyncio.sleep(0.1)
    for subject in (f"sotay.*.*.{OTHER_COMMITTEE}", "sotay.members.>", "sotay.dlq.>", "$KV.>"):
        assert district.violated("subscription", subject), subject


# --- each service's role ------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_keeps_to_its_own_schema(set_up, roles, service):
    conn = await asyncpg.connect(roles.url(service))
    try:
        await conn.execute(f'INSERT INTO "{service}".inbox (consumer, event_id) VALUES ($1, $2)', "probe",
                           uuid.uuid4())
        assert await conn.fetchval(f'SELECT count(*) FROM "{service}".inbox WHERE consumer = $1', "probe") == 1
        await conn.execute(f'DELETE FROM "{service}".inbox WHERE consumer = $1', "probe")
        for other in SERVICES:
            if other != service:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetchval(f'SELECT count(*) FROM "{other}".schema_migrations')
        for statement in (f'CREATE TABLE "{service}".stolen (i int)', "CREATE SCHEMA stolen",
                          "CREATE TABLE public.stolen (i int)", f'TRUNCATE "{service}".inbox',
                          f'DROP TABLE "{service}".inbox', f'ALTER TABLE "{service}".inbox ADD COLUMN x int',
                          f"CREATE ROLE stolen_{service}"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


# The audit trails a service writes and may not change (deploy/postgres/roles.sql, members' 002_audit.sql).
AUDIT_TABLES = {"members": ("member_history", "record_reads"), "identity": ("audit_log", "consents")}


async def add_audit_row(conn: asyncpg.Connection, table: str) -> None:
    """A row of a members audit table as the members service writes it (a member, a line of their history,
    a read of their record)."""
    member_id = uuid.uuid4()
    unit_id = await conn.fetchval("INSERT INTO members.org_units (id, code, name, kind, committee, path) "
                                  "VALUES ($1, $2, 'Chi bộ thử', 'cell', 'city', $3) RETURNING id", uuid.uuid4(),
                                  f"lp-{member_id.hex[:8]}", f"/lp-{member_id.hex[:8]}/")
    await conn.execute("INSERT INTO members.members (id, party_card_no, full_name, name_folded, date_of_birth, "
                       "unit_id, unit_path, status, eligible) VALUES ($1, $2, 'Thử', 'thu', '1970-01-01', $3, "
                       "'/lp/', 'active', true)", member_id, str(member_id.int)[:10], unit_id)
    if table == "member_history":
        await conn.execute("INSERT INTO members.member_history (member_id, actor, action) "
                           "VALUES ($1, 'probe', 'created')", member_id)
    else:
        await conn.execute("INSERT INTO members.record_reads (actor, what, member_ids, masked) "
                           "VALUES ('probe', 'record', ARRAY[$1::uuid], false)", member_id)


CHANGES = ("UPDATE members.{table} SET actor = 'someone else'", "DELETE FROM members.{table}",
           "TRUNCATE members.{table}")


async def test_the_members_role_adds_audit_rows_but_cannot_change_or_delete_them(set_up, roles):
    """The tables were created after roles.sql ran (compose's order), with the default privileges:
    the migration that created them took UPDATE and DELETE back."""
    conn = await asyncpg.connect(roles.url("members"))
    try:
        for table in AUDIT_TABLES["members"]:
            await add_audit_row(conn, table)
            for statement in CHANGES:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.execute(statement.format(table=table))
            assert await conn.fetchval(f"SELECT count(*) FROM members.{table} WHERE actor = 'probe'") >= 1
    finally:
        await conn.close()


async def test_roles_sql_run_again_keeps_every_audit_table_append_only(set_up, roles):
    """roles.sql grants every table again when it runs again (after a migration): never the audit tables'
    UPDATE and DELETE, identity's included."""
    passwords = {f"PG_{who.upper()}_PASSWORD": password for who, password in roles.passwords.items()}
    done = apply_roles_sql(roles.database_url(), passwords, f"role_prefix={roles.prefix}")
    assert done.returncode == 0, done.stdout + done.stderr
    superuser = await asyncpg.connect(roles.database_url())
    try:
        for service, tables in AUDIT_TABLES.items():
            role = f"{roles.prefix}_{service}"
            for table in tables:
                for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                    assert not await superuser.fetchval("SELECT has_table_privilege($1, $2, $3)", role,
                                                        f"{service}.{table}", privilege), (role, table, privilege)
                for privilege in ("SELECT", "INSERT"):
                    assert await superuser.fetchval("SELECT has_table_privilege($1, $2, $3)", role,
                                                    f"{service}.{table}", privilege), (role, table, privilege)
    finally:
        await superuser.close()
    identity = await asyncpg.connect(roles.url("identity"))
    try:
        await identity.execute("INSERT INTO identity.audit_log (actor, action, target) VALUES ('probe', 'probe', 'x')")
        for statement in ("UPDATE identity.audit_log SET actor = 'someone else'", "DELETE FROM identity.audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await identity.execute(statement)
    finally:
        await identity.close()


async def test_not_even_the_owner_changes_members_audit_rows(set_up, roles):
    """The all-in-one mode runs the service as the owner of its tables: a trigger refuses it too."""
    owner = await asyncpg.connect(roles.url("owner"))
    try:
        for table in AUDIT_TABLES["members"]:
            await add_audit_row(owner, table)
            for statement in CHANGES:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="audit trail"):
                    await owner.execute(statement.format(table=table))
            assert await owner.fetchval(f"SELECT count(*) FROM members.{table} WHERE actor = 'probe'") >= 1
    finally:
        await owner.close()


async def test_tables_a_later_migration_creates_are_the_services(set_up, roles):
    owner = await asyncpg.connect(roles.url("owner"))
    try:
        await owner.execute("CREATE TABLE members.later_table (id bigserial PRIMARY KEY, v text)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await owner.execute(f"CREATE ROLE stolen_{roles.prefix}")
    finally:
        await owner.close()
    members, identity = await asyncpg.connect(roles.url("members")), await asyncpg.connect(roles.url("identity"))
    try:
        assert await members.fetchval("INSERT INTO members.later_table (v) VALUES ('x') RETURNING id") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await identity.fetchval("SELECT count(*) FROM members.later_table")
    finally:
        await members.close()
        await identity.close()
        owner = await asyncpg.connect(roles.url("owner"))
        await owner.execute("DROP TABLE members.later_table")
        await owner.close()


# --- the services, with their users and roles ---------------------------------------------


async def test_the_services_run_with_their_users_and_roles(set_up, roles, secured_nats, data_dir, connect, consumers):
    runtimes = {}
    for service in SERVICES:
        settings = Settings(data_dir=data_dir, setup_on_start=False, nats_user=service,
                            nats_password=PASSWORDS[service], consumer_fetch_timeout_s=0.5)
        runtimes[service] = ServiceRuntime(load(service), settings, secured_nats, roles.url(service))
    admin = await connect("admin")
    try:
        for runtime in runtimes.values():
            await runtime.start()
        for service, runtime in runtimes.items():
            assert all((await runtime.readiness()).values()), service

        # Identity put its keys into sotay_jwks on start, signed by its root key.
        signed = (await (await admin.js.key_value(JWKS_BUCKET)).get(JWKS_KEY)).value
        assert open_signed_jwks(signed, jwks_root_public_key(settings))["keys"]

        # Each relay publishes its service's outbox (the role may write and read it) …
        last = {}
        for service in PUBLISHERS:
            conn = await asyncpg.connect(roles.url(service))
            event_id = uuid.uuid4()
            await conn.execute(f'INSERT INTO "{service}".outbox (event_id, subject, body) VALUES ($1, $2, $3)',
                               event_id, f"sotay.{service}.probe_happened.{DISTRICT}", envelope(service))
            await conn.execute(f"SELECT pg_notify('sotay_outbox_{service}', '')")

            async def published(conn=conn, event_id=event_id, service=service):
                return await conn.fetchval(f'SELECT published_at IS NOT NULL FROM "{service}".outbox '
                                           "WHERE event_id = $1", event_id)
            await eventually(published, timeout=10)
            await conn.close()
            last[stream_for_service(service)] = (await admin.js.stream_info(stream_for_service(service))).state.last_seq
        # … and a message none can read is dead-lettered by each consumer of its stream.
        dlq_before = (await admin.js.stream_info(DLQ_STREAM)).state.messages
        await (await connect("members")).js.publish(f"sotay.members.broken.{DISTRICT}", b"not json")
        last["SOTAY_MEMBERS"] += 1
        readers = [name for owned in consumers.values() for stream, name in owned if stream == "SOTAY_MEMBERS"]

        # Every consumer of every service fetched and acknowledged all it was given.
        async def all_consumed():
            for owned in consumers.values():
                for stream, name in owned:
                    info = await admin.js.consumer_info(stream, name)
                    if info.delivered.stream_seq < last[stream] or info.num_ack_pending or info.num_pending:
                        return False
            return True
        await eventually(all_consumed, timeout=15, interval=0.2)

        async def dead_lettered():
            return (await admin.js.stream_info(DLQ_STREAM)).state.messages - dlq_before >= len(readers)
        await eventually(dead_lettered, timeout=10, interval=0.2)
        for name in readers:
            dead = await admin.js.get_last_msg(DLQ_STREAM, f"sotay.dlq.{name}")
            assert dead.headers["Sotay-Dlq-Consumer"] == name and dead.data == b"not json"

        # Identity ends a session: it puts into sotay_revoked, which every service follows.
        identity_app = runtimes["identity"].definition.on_start.__self__
        await identity_app.end_sessions("probe-revoked-account")

        async def everyone_revoked():
            return all(r.context.verifier.has_ended("probe-revoked-account") for r in runtimes.values())
        await eventually(everyone_revoked, timeout=10)
    finally:
        for runtime in runtimes.values():
            await runtime.stop()


async def test_a_service_refuses_to_start_without_its_consumer(set_up, roles, secured_nats, data_dir, connect,
                                                                consumers):
    admin = await connect("admin")
    stream, name = consumers["members"][0]
    await admin.js.delete_consumer(stream, name)
    settings = Settings(data_dir=data_dir, setup_on_start=False, nats_user="members",
                        nats_password=PASSWORDS["members"])
    try:
        runtime = ServiceRuntime(load("members"), settings, secured_nats, roles.url("members"))
        with pytest.raises(NotSetUp, match=f"consumer {name} on stream {stream} does not exist.*sotay migrate"):
            await runtime.start()
    finally:
        runtimes = [ServiceRuntime(load(s), Settings(data_dir=data_dir), "nats://unused", roles.url("owner"))
                    for s in SERVICES]
        await set_up_nats(admin.nc, Settings(data_dir=data_dir), runtimes)
        for runtime in runtimes:
            await runtime.context.engine.dispose()
    await admin.js.consumer_info(stream, name)
