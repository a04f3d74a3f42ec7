"""docker-compose.yml's sotay containers, started by hand: there is no
Docker engine here, so this runs the same commands with the same
environment against this suite's real NATS and PostgreSQL, only with the
container host names pointed at them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sotay.embedded import free_port
from tests.system.test_sotay_up import stop, wait_ready

pytestmark = pytest.mark.integration
COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def container_env(service: dict, nats_url: str, database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOTAY_", "OTEL_"))}
    for name, value in service["environment"].items():
        env[name] = str(value)
    # ${VAR:-default} is Compose's interpolation; the defaults are what a user gets.
    for name, value in env.items():
        if value.startswith("${") and ":-" in value:
            env[name] = value[value.index(":-") + 2:-1]
    env.update(SOTAY_NATS_URL=env["SOTAY_NATS_URL"].replace("nats://nats:4222", nats_url),
               SOTAY_DATABASE_URL=database_url, SOTAY_DATA_DIR=str(data_dir), SOTAY_HTTP_HOST="127.0.0.1",
               SOTAY_HTTP_PORT=str(port))
    return env


def command(service: dict) -> list[str]:
    argv = list(service["command"])
    assert argv[0] == "sotay"
    return [sys.executable, "-m", "sotay.cli", *argv[1:]]


async def test_migrate_then_serve_members_as_compose_runs_them(tmp_path, nats_url, database_url):
    compose = yaml.safe_load(COMPOSE.read_text())
    port = free_port()
    migrate = compose["services"]["migrate"]
    env = container_env(migrate, nats_url, database_url, tmp_path, port)
    assert env["SOTAY_DATABASE_URL"] == database_url
    subprocess.run(command(migrate), env=env, check=True, timeout=120)
    assert (tmp_path / "keys" / "signing-ed25519.pem").exists()  # made once, shared by the replicas

    members = compose["services"]["members"]
    proc = subprocess.Popen(command(members), env=container_env(members, nats_url, database_url, tmp_path, port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
