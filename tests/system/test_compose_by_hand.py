"""docker-compose.yml's containers, started by hand: there is no Docker
engine here, so this runs the same commands with the same environment (its
variables filled in from the `.env` deploy/make-env writes, as an operator
starts it: production, random secrets) against real servers, only with the
container host names pointed at them: NATS with the configuration and the
users the `nats` container mounts, PostgreSQL with the roles the `postgres`
container creates from deploy/postgres/roles.sql. So `migrate` sets up as the
owner role and the NATS admin, and `members` runs as its own role and user,
which may create nothing. The `cluster` profile's three nodes run with the
certificates of deploy/make-nats-tls: `migrate` sets up R3 streams on them
over TLS, as deploy/README.md tells."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import nats.errors
import pytest
import yaml

from sotay.kit.embedded import free_port
from sotay.kit.service import connect_nats
from sotay.kit.settings import Settings
from sotay.system.registry import SERVICES
from tests.support.compose import MAKE_ENV, interpolate, read_env_file
from tests.system.test_least_privilege import (
    create_roles,
    drop_roles,
    start_secured_nats,
)
from tests.system.test_sotay_up import stop, wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
MAKE_NATS_TLS = ROOT / "deploy" / "make-nats-tls"
CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")


@pytest.fixture
def dot_env(tmp_path) -> dict[str, str]:
    """The `.env` an operator makes with deploy/make-env, as Compose reads it."""
    path = tmp_path / ".env"
    done = subprocess.run([sys.executable, str(MAKE_ENV), "--output", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return read_env_file(path)


def host_args(command: list[str], volumes: list[str], data: Path) -> list[str]:
    """A container's command with the paths it mounts replaced by their sources here,
    and the data volume by a directory of the test."""
    sources = {}
    for volume in volumes:
        source, target, *_ = volume.split(":")
        sources[target] = str(ROOT / source) if source.startswith(".") else str(data)
    return [sources.get(arg, arg) for arg in command]


def container_env(service: dict, dot_env: dict[str, str], nats_url: str, roles, data_dir: Path,
                  port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
    env.update({name: interpolate(str(value), dot_env) for name, value in service["environment"].items()})
    # The role of the URL, as roles.sql named it here (a prefix of the test's own, roles being
    # the server's, not the database's), on the test's server and database.
    url = urlsplit(env["SOTAY_DATABASE_URL"])
    user = url.username.replace("sotay_", f"{roles.prefix}_", 1)
    server = urlsplit(roles.database_url())
    host = server.netloc.rpartition("@")[2]
    env["SOTAY_DATABASE_URL"] = urlunsplit(url._replace(netloc=f"{user}:{url.password}@{host}", path=server.path))
    env.update(SOTAY_NATS_URL=env["SOTAY_NATS_URL"].replace("nats://nats:4222", nats_url),
               SOTAY_DATA_DIR=str(data_dir), SOTAY_HTTP_HOST="127.0.0.1", SOTAY_HTTP_PORT=str(port))
    return env


def command(service: dict) -> list[str]:
    argv = list(service["command"])
    assert argv[0] == "sotay"
    return [sys.executable, "-m", "sotay", *argv[1:]]


async def test_migrate_then_serve_members_as_compose_runs_them(tmp_path, postgres_server, dot_env):
    compose = yaml.safe_load(COMPOSE.read_text())
    containers = compose["services"]

    nats = containers["nats"]
    args = host_args(nats["command"], nats["volumes"], tmp_path / "nats-data")
    assert args[0] == "nats-server"
    sd = args.index("-sd")
    server = start_secured_nats(tmp_path / "nats", {k: interpolate(v, dot_env) for k, v in nats["environment"].items()},
                                args[1:sd] + args[sd + 2:])
    postgres = containers["postgres"]["environment"]
    roles = await create_roles(postgres_server, {who: interpolate(postgres[f"PG_{who.upper()}_PASSWORD"], dot_env)
                                                 for who in ("owner", *SERVICES)})
    try:
        port = free_port()
        migrate = containers["migrate"]
        env = container_env(migrate, dot_env, server.url, roles, tmp_path, port)
        assert urlsplit(env["SOTAY_DATABASE_URL"]).username == f"{roles.prefix}_owner"
        assert env["SOTAY_ENV"] == "production"
        done = subprocess.run(command(migrate), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

        members = containers["members"]
        env = container_env(members, dot_env, server.url, roles, tmp_path, port)
        assert env["SOTAY_SETUP_ON_START"] == "false" and env["SOTAY_NATS_USER"] == "members"
        assert env["SOTAY_PII_HMAC_KEY"] == dot_env["SOTAY_PII_HMAC_KEY"]
        proc = subprocess.Popen(command(members), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_ready(f"http://127.0.0.1:{port}", proc, 30)
            healthcheck = members["healthcheck"]["test"]
            assert healthcheck[:2] == ["CMD", "python"]
            probe = [sys.executable, *healthcheck[2:]]
            probe[-1] = probe[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            assert subprocess.run(probe, timeout=10).returncode == 0
        finally:
            out = stop(proc)
        assert proc.returncode == 0, out
    finally:
        server.stop()
        await drop_roles(roles)


def container_files(service: dict, root: Path, tls: Path) -> None:
    """The files a container mounts, copied under `root` at their mount points (the NATS
    certificates from `tls`, where deploy/make-nats-tls wrote them), and the container paths
    inside its configuration files pointed at the copies."""
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if not source.startswith("."):
            continue  # a named volume: the node's store, given with -sd
        origin = tls / source.removeprefix("./deploy/nats/tls/") if "/tls/" in source else ROOT / source
        destination = root / target.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination)
        else:
            shutil.copy(origin, destination)
    for conf in (root / "etc" / "nats").glob("*.conf"):
        conf.write_text(conf.read_text().replace('"/etc/nats/', f'"{root}/etc/nats/'))


def wait_healthy(monitor_port: int, timeout: float = 60) -> None:
    """The cluster node's own healthcheck (docker-compose.yml): /healthz once it has a JetStream leader."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def test_the_cluster_profile_speaks_tls_and_migrate_makes_r3_streams_over_it(tmp_path, postgres_server,
                                                                                   dot_env):
    containers = yaml.safe_load(COMPOSE.read_text())["services"]
    tls = tmp_path / "tls"
    made = subprocess.run([str(MAKE_NATS_TLS), "--dir", str(tls)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    client_ports = {node: free_port() for node in CLUSTER_NODES}
    route_ports = {node: free_port() for node in CLUSTER_NODES}
    monitors, servers = {}, []
    try:
        for node in CLUSTER_NODES:
            spec = containers[node]
            root = tmp_path / node
            container_files(spec, root, tls)
            args = list(spec["command"])
            assert args[0] == "nats-server"
            args[args.index("--config") + 1] = str(root / args[args.index("--config") + 1].lstrip("/"))
            args[args.index("--cluster") + 1] = f"nats://127.0.0.1:{route_ports[node]}"
            # The other nodes' names are not known here: their routes go to their loopback ports.
            args[args.index("--routes") + 1] = ",".join(f"nats://127.0.0.1:{route_ports[n]}" for n in CLUSTER_NODES)
            sd = args.index("-sd")
            server = start_secured_nats(root / "data", {k: interpolate(v, dot_env)
                                                        for k, v in spec["environment"].items()},
                                        args[1:sd] + args[sd + 2:], port=client_ports[node])
            servers.append(server)
            monitors[node] = server.monitor_port
        for node in CLUSTER_NODES:
            wait_healthy(monitors[node])

        # migrate as deploy/README.md runs it for the cluster profile: tls:// URLs, the CA, three replicas.
        roles = await create_roles(postgres_server, {
            who: interpolate(containers["postgres"]["environment"][f"PG_{who.upper()}_PASSWORD"], dot_env)
            for who in ("owner", *SERVICES)})
        try:
            cluster = {**dot_env, "SOTAY_NATS_URL": ",".join(f"tls://localhost:{client_ports[n]}" for n in CLUSTER_NODES),
                       "SOTAY_NATS_TLS_CA": str(tls / "ca" / "ca.pem"), "SOTAY_STREAM_REPLICAS": "3"}
            migrate = containers["migrate"]
            env = container_env(migrate, cluster, "unused", roles, tmp_path, free_port())
            assert env["SOTAY_NATS_URL"].startswith("tls://") and env["SOTAY_NATS_TLS_CA"].endswith("ca.pem")
            done = subprocess.run(command(migrate), env=env, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr
        finally:
            await drop_roles(roles)

        admin = Settings(data_dir=tmp_path, nats_user="admin", nats_password=dot_env["NATS_ADMIN_PASSWORD"],
                         nats_tls_ca=str(tls / "ca" / "ca.pem"))
        nc = await connect_nats(admin, f"tls://localhost:{client_ports['nats-2']}")
        try:
            info = await nc.jetstream().stream_info("SOTAY_MEMBERS")
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2
        finally:
            await nc.close()
        # Without the CA, whatever the URL: the server is not trusted, and no password is sent.
        without_ca = admin.model_copy(update={"nats_tls_ca": None})
        for scheme in ("tls", "nats"):
            with pytest.raises((ssl.SSLError, OSError, nats.errors.Error)):
                nc = await connect_nats(without_ca, f"{scheme}://localhost:{client_ports['nats-1']}",
                                        allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)
                await nc.close()
    finally:
        for server in servers:
            server.stop()
