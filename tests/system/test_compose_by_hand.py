"""docker-compose.yml's containers, started by hand: there is no Docker
engine here, so this runs the same commands with the same environment (the
defaults of its `${VAR:-default}`s) against real servers, only with the
container host names pointed at them: NATS with the configuration and the
users the `nats` container mounts, PostgreSQL with the roles the `postgres`
container creates from deploy/postgres/roles.sql. So `migrate` sets up as the
owner role and the NATS admin, and `members` runs as its own role and user,
which may create nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from sotay.embedded import free_port
from tests.system.test_least_privilege import create_roles, drop_roles, start_secured_nats
from tests.system.test_sotay_up import stop, wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def interpolated(value: str) -> str:
    """What Compose makes of `${VAR:-default}` with VAR unset: what a user gets."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def host_args(command: list[str], volumes: list[str], data: Path) -> list[str]:
    """A container's command with the paths it mounts replaced by their sources here,
    and the data volume by a directory of the test."""
    sources = {}
    for volume in volumes:
        source, target, *_ = volume.split(":")
        sources[target] = str(ROOT / source) if source.startswith(".") else str(data)
    return [sources.get(arg, arg) for arg in command]


def container_env(service: dict, nats_url: str, roles, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
    env.update({name: interpolated(value) for name, value in service["environment"].items()})
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
    return [sys.executable, "-m", "sotay.cli", *argv[1:]]


async def test_migrate_then_serve_members_as_compose_runs_them(tmp_path, postgres_server):
    compose = yaml.safe_load(COMPOSE.read_text())
    containers = compose["services"]

    nats = containers["nats"]
    args = host_args(nats["command"], nats["volumes"], tmp_path / "nats-data")
    assert args[0] == "nats-server"
    sd = args.index("-sd")
    server = start_secured_nats(tmp_path / "nats", {k: interpolated(v) for k, v in nats["environment"].items()},
                                args[1:sd] + args[sd + 2:])
    postgres = containers["postgres"]["environment"]
    roles = await create_roles(postgres_server, {who: interpolated(postgres[f"PG_{who.upper()}_PASSWORD"])
                                                 for who in ("owner", "members", "identity", "content", "metrics")})
    try:
        port = free_port()
        migrate = containers["migrate"]
        env = container_env(migrate, server.url, roles, tmp_path, port)
        assert urlsplit(env["SOTAY_DATABASE_URL"]).username == f"{roles.prefix}_owner"
        done = subprocess.run(command(migrate), env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (tmp_path / "keys" / "signing-ed25519.pem").exists()  # made once, shared by the replicas

        members = containers["members"]
        env = container_env(members, server.url, roles, tmp_path, port)
        assert env["SOTAY_SETUP_ON_START"] == "false" and env["SOTAY_NATS_USER"] == "members"
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
