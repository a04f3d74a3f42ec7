"""Parsing RSS/Atom fixtures and downloading feeds from a local HTTP server."""

from __future__ import annotations

import functools
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.content.adapters.egress import EgressPolicy, parse_networks
from services.content.domain.feeds import FeedEntry, FeedError, fetch_feed, parse_feed

FEEDS = Path(__file__).parents[1] / "feeds"


def parse_fixture(name: str, url: str = "") -> tuple[str, list[FeedEntry]]:
    return parse_feed((FEEDS / name).read_bytes(), url=url)


def by_key(entries: list[FeedEntry]) -> dict[str, FeedEntry]:
    return {entry.key: entry for entry in entries}


# --- RSS 2.0 -------------------------------------------------------------------


def test_rss2_feed_title_is_whitespace_collapsed():
    title, _ = parse_fixture("rss2.xml")
    assert title == "Tin tức Đảng bộ Hà Nội"


def test_rss2_entries_in_document_order_without_skipped_and_duplicates():
    _, entries = parse_fixture("rss2.xml")
    assert [e.key for e in entries] == [
        "tin-2024-001",
        "tin-2024-002",
        "https://tin.example.vn/bai/hoi-nghi-chuyen-de",
        "https://tin.example.vn/bai/khong-tieu-de",
    ]
    # The entry with neither guid nor link is skipped.
    assert all(e.title != "Bài không có guid và đường dẫn" for e in entries)


def test_rss2_duplicate_guid_keeps_the_first_entry():
    entry = by_key(parse_fixture("rss2.xml")[1])["tin-2024-001"]
    assert entry.title == "Hà Nội triển khai Sổ tay đảng viên điện tử"
    assert entry.link == "https://tin.example.vn/bai/so-tay-dang-vien"


def test_rss2_entry_fields():
    entry = by_key(parse_fixture("rss2.xml")[1])["tin-2024-001"]
    assert entry.summary == "Thành ủy Hà Nội chính thức đưa ứng dụng vào sử dụng. Xem chi tiết."
    assert entry.body_html == (
        "<p>Thành ủy Hà Nội <strong>chính thức</strong> đưa ứng dụng vào sử dụng. Xem "
        '<a href="https://tin.example.vn/chi-tiet" rel="noopener noreferrer nofollow">chi tiết</a>.</p>'
    )
    # pubDate "Mon, 02 Sep 2024 08:30:00 +0700" in UTC.
    assert entry.published_at == datetime(2024, 9, 2, 1, 30, tzinfo=UTC)
    assert entry.published_at.utcoffset().total_seconds() == 0
    assert entry.tags == ["Chuyển đổi số", "Hà Nội"]


def test_rss2_dangerous_description_is_sanitised():
    entry = by_key(parse_fixture("rss2.xml")[1])["tin-2024-002"]
    assert entry.title == "Nghị quyết số 15-NQ/TU"
    for bad in ("script", "alert", "onerror", "javascript"):
        assert bad not in entry.body_html
    # The feed site's image is another origin's: it is not fetched by readers' browsers.
    assert '<img alt="Ảnh">' in entry.body_html and "tin.example.vn/anh.jpg" not in entry.body_html
    assert "<p>Về phát triển Thủ đô.</p>" in entry.body_html
    assert "alert" not in entry.summary
    assert entry.tags == []


def test_rss2_entry_without_guid_uses_link_and_content_encoded():
    entry = by_key(parse_fixture("rss2.xml")[1])["https://tin.example.vn/bai/hoi-nghi-chuyen-de"]
    assert entry.link == entry.key
    assert entry.title == "Hội nghị học tập chuyên đề năm 2024"
    # Summary from the description, body from content:encoded.
    assert entry.summary == "Bài chỉ có đường dẫn, không có guid."
    assert entry.body_html.startswith("<h2>Nội dung</h2><p>Toàn văn bài viết.")
    # Our sanitiser ran: feedparser keeps (filtered) style attributes and adds no rel.
    assert "style" not in entry.body_html
    assert "onclick" not in entry.body_html
    assert 'rel="noopener noreferrer nofollow"' in entry.body_html
    assert entry.published_at is None


def test_relative_links_are_resolved_against_the_feed_url():
    _, entries = parse_fixture("rss2.xml", url="https://tin.example.vn/rss")
    entry = by_key(entries)["https://tin.example.vn/bai/hoi-nghi-chuyen-de"]
    assert 'href="https://tin.example.vn/bai/khac"' in entry.body_html


def test_relative_links_stay_relative_without_a_feed_url():
    entry = by_key(parse_fixture("rss2.xml")[1])["https://tin.example.vn/bai/hoi-nghi-chuyen-de"]
    assert 'href="/bai/khac"' in entry.body_html


def test_missing_title_comes_from_the_summary():
    entry = by_key(parse_fixture("rss2.xml")[1])["https://tin.example.vn/bai/khong-tieu-de"]
    assert entry.title == "Bài viết không có tiêu đề nhưng có phần mô tả khá dài để thử việc lấy tiêu đề…"
    assert len(entry.title) <= 80


def test_missing_title_and_summary_becomes_no_title():
    data = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>K</title>
      <item><guid>x-1</guid></item></channel></rss>"""
    _, entries = parse_feed(data)
    assert [(e.key, e.title, e.summary, e.body_html) for e in entries] == [("x-1", "(no title)", "", "")]


def test_tags_are_stripped_deduplicated_and_limited_to_ten():
    categories = "".join(f"<category> chủ đề {i % 12} </category>" for i in range(30))
    data = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>K</title>
      <item><guid>t</guid><title>T</title>{categories}</item></channel></rss>""".encode()
    (entry,) = parse_feed(data)[1]
    assert entry.tags == [f"chủ đề {i}" for i in range(10)]


def test_entries_are_frozen():
    entry = parse_fixture("rss2.xml")[1][0]
    with pytest.raises(AttributeError):
        entry.title = "khác"  # type: ignore[misc]


# --- Atom and RSS 1.0 ---------------------------------------------------------------


def test_atom_feed():
    title, entries = parse_fixture("atom.xml")
    assert title == "Thông báo của Thành ủy"
    assert [e.title for e in entries] == [
        "Nghị quyết số 15-NQ/TU <bản tóm tắt>",  # type="html" title, decoded to plain text
        "Hà Nội triển khai Sổ tay đảng viên điện tử",
        "Ghi chú: A < B",
    ]


def test_atom_entry_with_summary_and_html_content():
    entry = parse_fixture("atom.xml")[1][0]
    assert entry.key == "urn:uuid:7d5a1c7e-0d55-4c1e-9b1e-2f5a3c9e0101"
    assert entry.link == "https://thanhuy.example.vn/nq-15"
    assert entry.summary == "Tóm tắt nghị quyết về phát triển Thủ đô."
    assert entry.body_html == "<p>Toàn văn <em>Nghị quyết</em>.</p>"
    # published wins over updated.
    assert entry.published_at == datetime(2024, 9, 4, 7, 0, tzinfo=UTC)
    assert entry.tags == ["Nghị quyết", "Thủ đô"]


def test_atom_entry_without_link_has_no_link_not_its_urn_id():
    entry = parse_fixture("atom.xml")[1][1]
    assert entry.link is None
    assert entry.key == "urn:uuid:7d5a1c7e-0d55-4c1e-9b1e-2f5a3c9e0102"
    assert entry.summary == "Ứng dụng Sổ tay đã sẵn sàng."
    assert 'href="https://sotay.example.vn/"' in entry.body_html
    # Only updated is given.
    assert entry.published_at == datetime(2024, 9, 5, 9, 0, tzinfo=UTC)


def test_atom_plain_text_content_is_escaped_not_parsed_as_html():
    entry = parse_fixture("atom.xml")[1][2]
    assert entry.body_html == "Nội dung thuần văn bản: 1 &lt; 2 &amp; &lt;b&gt;không phải thẻ&lt;/b&gt;"
    assert entry.summary == "Nội dung thuần văn bản: 1 < 2 & <b>không phải thẻ</b>"


def test_rss1_feed():
    title, entries = parse_fixture("rss1.rdf")
    assert title == "Tin quận Hoàn Kiếm"
    assert entries == [
        FeedEntry(
            key="https://quan.example.vn/tin/1",
            title="Sinh hoạt chi bộ tháng 9",
            link="https://quan.example.vn/tin/1",
            summary="Chi bộ khu phố tổ chức sinh hoạt định kỳ.",
            body_html="Chi bộ khu phố tổ chức sinh hoạt định kỳ.",
            published_at=datetime(2024, 9, 6, 0, 0, tzinfo=UTC),
            tags=["Chi bộ"],
        )
    ]


# --- not feeds --------------------------------------------------------------------------


def test_well_formed_feed_without_entries_is_fine():
    assert parse_fixture("empty.xml") == ("Kênh chưa có bài", [])


def test_broken_document_is_rejected():
    with pytest.raises(FeedError, match=r"^not an RSS or Atom feed: https://x\.example/feed"):
        parse_fixture("broken.html", url="https://x.example/feed")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'<?xml version="1.0"?><catalog><book>Not a feed</book></catalog>',
        b"just some text",
    ],
)
def test_other_documents_are_rejected(data):
    with pytest.raises(FeedError, match="^not an RSS or Atom feed"):
        parse_feed(data)


def test_bytes_are_never_opened_as_a_file_name(tmp_path):
    # feedparser.parse(b"/some/path") would read that file; parse_feed must treat it as the document.
    secret = tmp_path / "feed.xml"
    secret.write_bytes((FEEDS / "rss2.xml").read_bytes())
    with pytest.raises(FeedError):
        parse_feed(str(secret).encode())


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
