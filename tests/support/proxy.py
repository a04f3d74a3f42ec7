"""A TCP proxy between a service and a server (PostgreSQL, nats-server), to make the network
between them bad on purpose: latency added to every byte (`delay`), or a partition (`partition`:
nothing gets through in either direction, and a new connection gets no answer) healed later
(`heal`), with the connections kept (a short partition TCP rides out: what was sent arrives
late) or cut (one that outlived them).

It runs its own event loop in a thread, so a test blocking its own loop (waiting on a process)
does not stall the traffic, and a fault in the test's loop cannot hide a fault of the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

from sotay.kit.embedded import free_port


class Proxy:
    def __init__(self, upstream_port: Callable[[], int] | int, name: str = "proxy") -> None:
        self._upstream = upstream_port if callable(upstream_port) else (lambda: upstream_port)
        self.name = name
        self.port = free_port()
        self.delay_s = 0.0  # added to each direction: a round trip takes twice this longer
        self.connections = 0  # accepted in all
        self._open: set[asyncio.StreamWriter] = set()
        self._passing: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{name}", daemon=True)

    # --- control (from any thread) ---
    def start(self) -> Proxy:
        self._thread.start()
        assert self._ready.wait(10), f"{self.name} did not start"
        return self

    def delay(self, seconds: float) -> None:
        """Latency from now on: each chunk leaves `seconds` after it arrived, in order."""
        self.delay_s = seconds

    def partition(self) -> None:
        self._call(self._passing.clear)

    def heal(self, *, cut: bool = False) -> None:
        """Traffic flows again: what waited goes through; with `cut`, every connection that lived
        through the partition is closed instead (the client must connect again)."""
        def heal() -> None:
            if cut:
                for writer in list(self._open):
                    writer.transport.abort()
            self._passing.set()
        self._call(heal)

    @property
    def partitioned(self) -> bool:
        return self._passing is not None and not self._passing.is_set()

    def close(self) -> None:
        if self._loop is None:
            return
        self.heal(cut=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _call(self, fn: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()
        self._loop.call_soon_threadsafe(run)
        assert done.wait(10), f"{self.name} does not answer"

    # --- the proxy (its own thread) ---
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._passing = asyncio.Event()
        self._passing.set()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._open.add(client_writer)
        upstream_writer = None
        try:
            await self._passing.wait()  # a connection made across a partition hangs, as a SYN would
            try:
                upstream_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self._upstream()), 5)
            except (OSError, asyncio.TimeoutError):
                return  # the server is down: so is the connection
            self._open.add(upstream_writer)
            ends = (client_writer, upstream_writer)
            await asyncio.gather(self._pump(client_reader, upstream_writer, ends),
                                 self._pump(upstream_reader, client_writer, ends))
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    self._open.discard(writer)
                    writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    ends: tuple[asyncio.StreamWriter, ...]) -> None:
        """Bytes from reader to writer, each chunk `delay_s` after it arrived, held while partitioned."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                arrived, chunk = await queue.get()
                if not chunk:
                    break
                if self.delay_s:
                    wait = arrived + self.delay_s - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                await self._passing.wait()
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        async def receive() -> None:
            while True:
                chunk = await reader.read(65536)
                await queue.put((time.monotonic(), chunk))
                if not chunk:
                    return

        tasks = [asyncio.create_task(receive()), asyncio.create_task(send())]
        try:
            await asyncio.gather(*tasks)
        except (OSError, asyncio.IncompleteReadError, RuntimeError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            # Either side gone: the connection goes (a half-open one helps nobody here).
            for end in ends:
                end.transport.abort()
