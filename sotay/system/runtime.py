"""Running the system: the servers it needs and the services on one HTTP port.

`Infrastructure` gives NATS and PostgreSQL URLs: the configured ones
(SOTAY_NATS_URL, SOTAY_DATABASE_URL), those of a `sotay up` already running
on the same data dir, or embedded servers it starts itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from sotay.system.registry import load
from sotay.kit.embedded import EmbeddedNats, EmbeddedPostgres
from sotay.kit.keys import MissingKey
from sotay.kit.service import NotSetUp, ServiceRuntime, service_app
from sotay.kit.settings import Settings
from sotay.kit.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger("sotay")


@dataclass
class Infrastructure:
    settings: Settings
    nats_url: str | None = None
    database_url: str | None = None
    _embedded: list = field(default_factory=list)

    @property
    def runtime_file(self) -> Path:
        return self.settings.data_dir / "runtime.json"

    def start(self, services: list[str], *, nats: bool = True) -> Infrastructure:
        """Start what the given services need and nobody provides."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        running = self._running_system()
        self.nats_url = self.settings.nats_url or running.get("nats_url")
        self.database_url = self.settings.database_url or running.get("database_url")
        try:
            if nats and not self.nats_url:
                server = EmbeddedNats(self.settings.data_dir / "nats")
                self._embedded.append(server)
                self.nats_url = server.start()
            if not self.database_url and not all(self.settings.database_url_for(s) for s in services):
                server = EmbeddedPostgres(self.settings.data_dir / "postgres")
                self._embedded.append(server)
                self.database_url = server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def database_url_for(self, service: str) -> str:
        url = self.settings.database_url_for(service) or self.database_url
        if not url:
            raise RuntimeError(f"no database for {service}: set SOTAY_DATABASE_URL")
        return url

    @property
    def started_servers(self) -> bool:
        return bool(self._embedded)

    def server_pids(self) -> dict[str, int]:
        """The pids of the servers started here, by name ("nats-server", "PostgreSQL")."""
        return {server.name: server.process.pid for server in self._embedded if server.process is not None}

    def publish_runtime(self, http_url: str) -> None:
        self.runtime_file.write_text(json.dumps({
            "pid": os.getpid(), "nats_url": self.nats_url, "database_url": self.database_url,
            "http_url": http_url}))

    def stop(self) -> None:
        if self.started_servers:
            self.runtime_file.unlink(missing_ok=True)
        for server in reversed(self._embedded):
            server.stop()
        self._embedded.clear()

    def _running_system(self) -> dict:
        """The servers of a `sotay up` already running on this data dir, if any."""
        try:
            info = json.loads(self.runtime_file.read_text())
            os.kill(info["pid"], 0)
        except (OSError, ValueError, KeyError):
            return {}
        return info


Startup = Callable[[list[ServiceRuntime]], Awaitable[None]]


def http_server_config(app, settings: Settings, *, host: str, port: int, **options) -> uvicorn.Config:
    """Uvicorn as every process of the system runs it. The client's address (throttles,
    audit) comes from X-Forwarded-For only when the peer is one of SOTAY_TRUSTED_PROXIES;
    with none configured, the peer is the client and a forwarded header is ignored."""
    # No logging configuration of uvicorn's own: its loggers go to the root's handler, so their lines
    # are JSON or text like every other (sotay/kit/logs.py).
    options.setdefault("log_config", None)
    return uvicorn.Config(app, host=host, port=port, proxy_headers=True,
                          forwarded_allow_ips=settings.trusted_proxy_list(), **options)


def run_services(names: list[str], settings: Settings, *, on_started: Startup | None = None) -> None:
    """Run the named services in this process until Ctrl-C, then stop them
    and any embedded servers cleanly. Should they fail to start, uvicorn
    exits with status 3."""
    setup_tracing("sotay" if len(names) > 1 else f"sotay-{names[0]}")
    infra = Infrastructure(settings).start(names)
    try:
        runtimes = [ServiceRuntime(load(n), settings, infra.nats_url, infra.database_url_for(n)) for n in names]
        try:
            for runtime in runtimes:
                runtime.load_keys()
        except MissingKey as exc:  # what to set, in one line, before any traceback
            log.error("%s", exc)
            raise SystemExit(3) from None
        http_url = f"http://{settings.http_host}:{settings.http_port}"
        background: set[asyncio.Task] = set()

        @asynccontextmanager
        async def lifespan(app):
            started: list[ServiceRuntime] = []
            # `kill -USR1 <pid>` prints every task's stack: what a stuck process is waiting for.
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_tasks)
            try:
                for runtime in runtimes:
                    try:
                        await runtime.start()
                    except NotSetUp as exc:  # what to do about it, before uvicorn's traceback
                        log.error("%s", exc)
                        raise
                    started.append(runtime)
                if infra.started_servers:
                    infra.publish_runtime(http_url)
                _print_banner(http_url, infra, runtimes)
                if on_started:
                    task = asyncio.create_task(on_started(runtimes))
                    background.add(task)
                    task.add_done_callback(_report_failure)
                yield
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                # The consumers apply and ack what they hold, the relays finish their round (all services
                # at once), then everything stops (docs/upgrades.md).
                await asyncio.gather(*(r.drain(settings.shutdown_timeout_s) for r in started))
                for runtime in reversed(started):
                    await runtime.stop()

        app = service_app(runtimes, title="sotay", lifespan=lifespan)
        server = DrainingServer(http_server_config(app, settings, host=settings.http_host, port=settings.http_port,
                                                   log_level="warning", lifespan="on",
                                                   timeout_graceful_shutdown=settings.shutdown_timeout_s),
                                runtimes, drain_s=settings.shutdown_drain_s)
        # Uvicorn shuts the app down on SIGINT/SIGTERM, then re-raises the signal
        # to the previous handler; both must end here so the finally stops the servers.
        signal.signal(signal.SIGTERM, _exit_quietly)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
    finally:
        # A second Ctrl-C must not cut the servers' shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        shutdown_tracing()
        infra.stop()
        print("sotay stopped.", flush=True)


class DrainingServer(uvicorn.Server):
    """Uvicorn, stopping as a replica behind a proxy should (docs/upgrades.md). On SIGTERM every
    service's /readyz answers 503 at once while requests are still served for `drain_s`, long
    enough for a proxy or Kubernetes to stop sending; only then does uvicorn close the listener and
    wait for the requests in flight (at most its timeout_graceful_shutdown), and the lifespan drains
    the consumers and relays. SIGINT (Ctrl-C at a terminal) stops at once, as before; a second
    signal during the drain too."""

    def __init__(self, config: uvicorn.Config, runtimes: list[ServiceRuntime], *, drain_s: float) -> None:
        super().__init__(config)
        self.runtimes = runtimes
        self.drain_s = drain_s
        self.drain_until: float | None = None

    def handle_exit(self, sig, frame) -> None:
        if sig == signal.SIGTERM and self.drain_until is None and not self.should_exit and self.drain_s > 0:
            self._captured_signals.append(sig)
            self.drain_until = time.monotonic() + self.drain_s
            for runtime in self.runtimes:
                runtime.draining = True
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.should_exit = True
        return await super().on_tick(counter)


def _dump_tasks() -> None:
    """`kill -USR1`: every task's stack, down the chain of what each awaits (Task.print_stack
    alone shows a task's outermost frame, not the call it waits in)."""
    import sys
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr, flush=True)
        task.print_stack(file=sys.stderr)
        awaited = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                print(f"  awaits in {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}",
                      file=sys.stderr)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        sys.stderr.flush()


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


def _report_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception():
        log.error("start-up task failed", exc_info=task.exception())


def _print_banner(http_url: str, infra: Infrastructure, runtimes: list[ServiceRuntime]) -> None:
    lines = [
        "",
        f"sotay is up: {http_url}",
        f"  readiness      {http_url}/readyz",
        f"  handbook       {http_url}/   dashboard {http_url}/dashboard   approvals {http_url}/console/approvals",
    ]
    for runtime in runtimes:
        prefix = f"{http_url}/api/{runtime.name}/v1"
        lines.append(f"  {runtime.name:<14} {prefix}/  (openapi.json, asyncapi, events)")
    lines += [
        f"  NATS           {','.join(_redact(u) for u in (infra.nats_url or '').split(','))}"
        + ("  (embedded)" if infra.started_servers else ""),
        f"  PostgreSQL     {_redact(infra.database_url)}",
        "  a token:       sotay token --role city_admin --unit city",
        "  a staff login: sotay admin create-user --card NO --phone P --role city_admin --unit city",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _redact(url: str | None) -> str:
    if not url or "@" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
