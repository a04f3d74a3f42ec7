"""A local webhook receiver standing in for an outside system: it keeps every request it gets
and answers each path with the statuses it is given, in turn (the last one from then on)."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalReceiver:
    host: str = "127.0.0.2"  # SOTAY_WEBHOOK_ALLOW_NETWORKS trusts this one address only in the tests
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)  # path: statuses in turn (default 200)
    delays: dict[str, float] = field(default_factory=dict)  # path: seconds before answering

    def __enter__(self) -> LocalReceiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delays.get(self.path, 0))
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                statuses = receiver.script.get(self.path, [200])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((self.host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]
