"""Parsing RSS/Atom fixtures (downloading them: tests/unit/content/adapters/test_feeds.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.content.domain.feeds import FeedEntry, FeedError, parse_feed

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
