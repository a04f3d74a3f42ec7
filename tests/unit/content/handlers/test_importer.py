"""Feed import's polling, without a database: a downloaded feed is parsed in a thread, off the
event loop (feedparser on a large or hostile feed takes a while; the service keeps answering)."""

from __future__ import annotations

import contextlib
import threading

from services.content.adapters.egress import EgressPolicy
from services.content.adapters.feeds import FetchResult
from services.content.handlers import importer


class NoDatabase:
    """An engine whose transactions take any statement and do nothing."""

    @contextlib.asynccontextmanager
    async def begin(self):
        class Connection:
            async def execute(self, *args, **kwargs):
                return None
        yield Connection()


async def test_a_feed_is_parsed_in_a_thread_off_the_event_loop(monkeypatch):
    parsed_in: list[threading.Thread] = []

    async def download(url, **kwargs):
        return FetchResult(status=200, data=b"<rss version='2.0'><channel/></rss>", etag=None, modified=None)

    def parse(data, *, url=""):
        parsed_in.append(threading.current_thread())
        return "", []
    monkeypatch.setattr(importer, "fetch_feed", download)
    monkeypatch.setattr(importer, "parse_feed", parse)
    feed = {"id": "f", "url": "https://tin.example.vn/rss", "etag": None, "modified": None, "failures": 0,
            "interval_s": 900}
    assert await importer.poll_one(NoDatabase(), feed, EgressPolicy()) == 0
    assert parsed_in and parsed_in[0] is not threading.current_thread()
