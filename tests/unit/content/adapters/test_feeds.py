"""Downloading feeds from a local HTTP server (parsing them: tests/unit/content/domain/test_feeds.py)."""

from __future__ import annotations

import functools
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.content.adapters.egress import EgressPolicy, parse_networks
from services.content.adapters.feeds import fetch_feed
from services.content.domain.feeds import FeedError, parse_feed

FEEDS = Path(__file__).parents[1] / "feeds"


# --- fetch_feed against a local server ----------------------------------------------


# The test server listens on loopback, which feed import refuses unless an operator trusts it.
LOOPBACK_TRUSTED = EgressPolicy(trusted=parse_networks("127.0.0.0/8"))


async def fetch(url: str, **kw):
    return await fetch_feed(url, policy=LOOPBACK_TRUSTED, **kw)


class FeedHandler(SimpleHTTPRequestHandler):
    """Serves the fixture directory plus a few special paths."""

    ETAG = '"v1"'
    seen_headers: list[dict[str, str]] = []

    def do_GET(self):
        FeedHandler.seen_headers.append(dict(self.headers))
        if self.path == "/missing":
            self.send_error(404)
        elif self.path == "/etag":
            if self.headers.get("If-None-Match") == self.ETAG:
                self.send_response(304)
                self.send_header("ETag", self.ETAG)
                self.end_headers()
            else:
                self._send(200, (FEEDS / "atom.xml").read_bytes(), {"ETag": self.ETAG})
        elif self.path == "/big":
            self._send(200, b"x" * 10_000)
        elif self.path == "/big-no-length":
            # No Content-Length: the client must count what arrives and stop.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x" * 1000)
        elif self.path == "/slow":
            # Each piece arrives well within a per-read timeout, but the whole body takes seconds.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(20):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the client gave up
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/rss2.xml")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            super().do_GET()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server_url():
    handler = functools.partial(FeedHandler, directory=str(FEEDS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


async def test_fetch_returns_the_bytes_and_validators(server_url):
    result = await fetch(f"{server_url}/rss2.xml", etag=None, modified=None)
    assert result.status == 200
    assert result.data == (FEEDS / "rss2.xml").read_bytes()
    assert result.modified  # SimpleHTTPRequestHandler sends Last-Modified
    assert parse_feed(result.data)[0] == "Tin tức Đảng bộ Hà Nội"


async def test_fetch_sends_user_agent_and_no_validators_by_default(server_url):
    FeedHandler.seen_headers.clear()
    await fetch(f"{server_url}/rss2.xml", etag=None, modified=None)
    (headers,) = FeedHandler.seen_headers
    assert headers["User-Agent"] == "sotay-feed-import/1.0"
    assert "If-None-Match" not in headers
    assert "If-Modified-Since" not in headers


async def test_fetch_with_matching_etag_gets_304(server_url):
    first = await fetch(f"{server_url}/etag", etag=None, modified=None)
    assert (first.status, first.etag) == (200, '"v1"')
    assert first.data == (FEEDS / "atom.xml").read_bytes()

    again = await fetch(f"{server_url}/etag", etag=first.etag, modified=None)
    assert again.status == 304
    assert again.data is None
    assert again.etag == '"v1"'


async def test_fetch_with_stale_etag_gets_the_body(server_url):
    result = await fetch(f"{server_url}/etag", etag='"v0"', modified=None)
    assert result.status == 200
    assert result.data


async def test_fetch_with_last_modified_gets_304(server_url):
    first = await fetch(f"{server_url}/rss2.xml", etag=None, modified=None)
    FeedHandler.seen_headers.clear()
    again = await fetch(f"{server_url}/rss2.xml", etag=None, modified=first.modified)
    assert FeedHandler.seen_headers[0]["If-Modified-Since"] == first.modified
    assert (again.status, again.data, again.modified) == (304, None, first.modified)


async def test_fetch_follows_redirects(server_url):
    result = await fetch(f"{server_url}/redirect", etag=None, modified=None)
    assert result.status == 200
    assert result.data == (FEEDS / "rss2.xml").read_bytes()


async def test_fetch_gives_up_on_redirect_loops(server_url):
    with pytest.raises(FeedError, match="^too many redirects"):
        await fetch(f"{server_url}/loop", etag=None, modified=None)


async def test_fetch_does_not_follow_redirects_to_file_urls(server_url):
    with pytest.raises(FeedError, match="^only http and https feeds$"):
        await fetch(f"{server_url}/to-file", etag=None, modified=None)


async def test_fetch_http_error_status(server_url):
    with pytest.raises(FeedError, match="^HTTP 404$"):
        await fetch(f"{server_url}/missing", etag=None, modified=None)


async def test_fetch_missing_file_is_404_too(server_url):
    with pytest.raises(FeedError, match="^HTTP 404$"):
        await fetch(f"{server_url}/no-such-feed.xml", etag=None, modified=None)


@pytest.mark.parametrize("path", ["/big", "/big-no-length"])
async def test_fetch_rejects_bodies_larger_than_max_bytes(server_url, path):
    with pytest.raises(FeedError, match="^larger than 1000 bytes$"):
        await fetch(f"{server_url}{path}", etag=None, modified=None, max_bytes=1000)


async def test_fetch_accepts_body_of_exactly_max_bytes(server_url):
    result = await fetch(f"{server_url}/big", etag=None, modified=None, max_bytes=10_000)
    assert result.data == b"x" * 10_000


async def test_fetch_unreachable_server(closed_port_url):
    with pytest.raises(FeedError, match="^unreachable: ConnectError: "):
        await fetch(closed_port_url, etag=None, modified=None, timeout=5)


async def test_fetch_timeout_bounds_the_whole_download(server_url):
    started = time.monotonic()
    with pytest.raises(FeedError, match="^unreachable: TimeoutError: "):
        await fetch(f"{server_url}/slow", etag=None, modified=None, timeout=0.6)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.vn/feed.xml", "feed.xml", "/etc/passwd"])
async def test_fetch_only_http_and_https(url):
    with pytest.raises(FeedError, match="^only http and https feeds$"):
        await fetch(url, etag=None, modified=None)
