"""Content on real NATS and PostgreSQL: the editorial workflow (self-approval
refused, local editors kept inside their subtree), targeting by org subtree
and its following a transfer, reads once a day, scheduled publishing and
expiry, sanitising, feedback and moderation, the documents library, cell
meetings, and feed import deduplicating a re-polled feed served locally."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import orjson
import pytest
from sqlalchemy import text

import services.content
import services.members
from services.members.adapters.import_files import write_csv
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

FEEDS = Path(__file__).parents[1] / "unit" / "content" / "feeds"
CELLS = {"ba-dinh": ["ba-dinh-g1-c1", "ba-dinh-g1-c2"], "tay-ho": ["tay-ho-g1-c1"]}
MEMBERS = [  # card, name, cell
    ("010000001", "Nguyễn Văn An", "ba-dinh-g1-c1"),
    ("010000002", "Trần Thị Bình", "ba-dinh-g1-c1"),
    ("010000003", "Lê Văn Cường", "ba-dinh-g1-c1"),
    ("010000004", "Phạm Thị Dung", "ba-dinh-g1-c2"),
    ("020000001", "Hoàng Văn Em", "tay-ho-g1-c1"),
    ("020000002", "Đỗ Thị Giang", "tay-ho-g1-c1"),
]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    # The feeds of these tests are served on loopback, which feed import refuses unless trusted.
    settings = make_settings(data_dir, feed_allow_networks="127.0.0.1/32")
    definitions = [services.members.definition(), services.content.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
        for committee, cells in CELLS.items():
            tree += [{"code": committee, "name": f"Đảng bộ {committee}", "kind": "committee", "parent": "city",
                      "wave": 1},
                     {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots",
                      "parent": committee}]
            tree += [{"code": c, "name": f"Chi bộ {c}", "kind": "cell", "parent": f"{committee}-g1"} for c in cells]
        for unit in tree:
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        rows = [{"party_card_no": card, "full_name": name, "date_of_birth": "1975-03-02", "gender": "",
                 "citizen_id": "", "phone": "", "unit": cell, "status": "active", "eligible": "true",
                 "ineligible_reason": "", "admitted_on": "", "official_on": ""} for card, name, cell in MEMBERS]
        imported = await system.client.post("/api/members/v1/imports", params={"wait": "true"},
                                            files={"file": ("m.csv", write_csv(rows), "text/csv")}, headers=admin)
        assert imported.json()["imported"] == len(MEMBERS), imported.text
        await eventually(lambda: count(system, "readers", len(MEMBERS)), timeout=30)
        yield system


async def count(system, table: str, expected: int) -> bool:
    async with system.runtimes["content"].context.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == expected


def member(system, card: str) -> dict[str, str]:
    cell = next(c for k, _, c in MEMBERS if k == card)
    return system.auth("member", cell, card=card, subject=f"account-{card}")


API = "/api/content/v1"


async def published(system, *, title: str, audience: list[str], unit: str = "city", body: str = "Nội dung bài.",
                    category: str = "news", fmt: str = "markdown") -> dict:
    """An article taken through the whole workflow by an editor and a chief editor of `unit`."""
    c = system.client
    editor = system.auth("editor", unit, subject=f"editor-{unit}")
    chief = system.auth("chief_editor", unit, subject=f"chief-{unit}")
    created = await c.post(f"{API}/articles", json={"title": title, "body": body, "body_format": fmt,
                                                     "category": category, "audience": audience}, headers=editor)
    assert created.status_code == 201, created.text
    article_id = created.json()["id"]
    assert (await c.post(f"{API}/articles/{article_id}/submit", headers=editor)).status_code == 200
    assert (await c.post(f"{API}/articles/{article_id}/approve", headers=chief)).status_code == 200
    done = await c.post(f"{API}/articles/{article_id}/publish", headers=chief)
    assert done.status_code == 200, done.text
    return done.json()


async def stream_subjects(nats_url: str) -> dict[str, int]:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info("SOTAY_CONTENT", subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


async def test_workflow_with_refused_self_approval_return_and_retraction(system, nats_url):
    c = system.client
    author = system.auth("chief_editor", "city", subject="chief-author")
    other_chief = system.auth("chief_editor", "city", subject="chief-other")
    created = await c.post(f"{API}/articles", headers=author, json={
        "title": "Hướng dẫn cài đặt Sổ tay đảng viên", "body": "# Bước 1\n\nTải ứng dụng.", "category": "guidance",
        "audience": ["city"], "tags": ["hướng dẫn", "cài đặt"]})
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["status"] == "draft" and "<h1>Bước 1</h1>" in article["body_html"]
    aid = article["id"]

    # Publishing or approving a draft is out of order.
    assert (await c.post(f"{API}/articles/{aid}/approve", headers=other_chief)).status_code == 409
    assert (await c.post(f"{API}/articles/{aid}/submit", headers=author)).json()["status"] == "submitted"

    # The author cannot approve their own article, even as a chief editor.
    refused = await c.post(f"{API}/articles/{aid}/approve", headers=author)
    assert refused.status_code == 403 and "author" in refused.json()["detail"]

    # Sent back with a comment (the comment is required), edited, submitted again.
    assert (await c.post(f"{API}/articles/{aid}/return", json={}, headers=other_chief)).status_code == 422
    back = await c.post(f"{API}/articles/{aid}/return", json={"comment": "Thêm ảnh minh họa"}, headers=other_chief)
    assert back.json()["status"] == "draft"
    edited = await c.put(f"{API}/articles/{aid}", headers=author, json={
        "title": "Hướng dẫn cài đặt Sổ tay đảng viên", "body": "# Bước 1\n\nTải ứng dụng.\n\n![ảnh](/assets/a.png)",
        "category": "guidance", "audience": ["city"]})
    assert edited.status_code == 200 and '<img src="/assets/a.png"' in edited.json()["body_html"]
    await c.post(f"{API}/articles/{aid}/submit", headers=author)
    assert (await c.post(f"{API}/articles/{aid}/approve", headers=other_chief)).json()["status"] == "approved"
    live = await c.post(f"{API}/articles/{aid}/publish", headers=other_chief)
    assert live.json()["status"] == "published" and live.json()["published_at"]

    reader = member(system, "010000001")
    assert aid in [a["id"] for a in (await c.get(f"{API}/feed", headers=reader)).json()["items"]]
    history = (await c.get(f"{API}/articles/{aid}/history", headers=author)).json()["items"]
    assert [h["action"] for h in history] == ["create", "submit", "return", "edit", "submit", "approve", "publish"]
    assert history[2]["comment"] == "Thêm ảnh minh họa" and history[5]["actor"] == "chief-other"

    # Retraction (with a reason) takes it out of every feed.
    assert (await c.post(f"{API}/articles/{aid}/retract", json={}, headers=other_chief)).status_code == 422
    gone = await c.post(f"{API}/articles/{aid}/retract", json={"reason": "Sai số liệu"}, headers=other_chief)
    assert gone.json()["status"] == "retracted"
    assert aid not in [a["id"] for a in (await c.get(f"{API}/feed", headers=reader)).json()["items"]]
    assert (await c.get(f"{API}/articles/{aid}", headers=reader)).status_code == 404

    subjects = await eventually(lambda: _has(nats_url, "sotay.content.article_retracted.city"))
    for name in ("article_submitted", "article_returned", "article_approved", "article_published"):
        assert subjects.get(f"sotay.content.{name}.city", 0) >= 1, subjects


async def _has(nats_url: str, subject: str) -> dict[str, int] | None:
    subjects = await stream_subjects(nats_url)
    return subjects if subjects.get(subject) else None


async def test_local_editor_is_refused_outside_their_subtree(system):
    c = system.client
    local = system.auth("editor", "ba-dinh", subject="editor-ba-dinh")
    body = {"title": "Tin phường", "body": "Nội dung", "category": "local_news"}
    # A local unit publishes only within its own subtree: not to the city, not to another committee.
    for audience in (["city"], ["tay-ho"], ["ba-dinh", "tay-ho-g1-c1"]):
        refused = await c.post(f"{API}/articles", json={**body, "audience": audience}, headers=local)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "audience"
    # Nor write as another committee's unit.
    assert (await c.post(f"{API}/articles", json={**body, "audience": ["tay-ho"], "unit": "tay-ho"},
                         headers=local)).status_code == 403
    # Inside its subtree it may.
    ok = await c.post(f"{API}/articles", json={**body, "audience": ["ba-dinh-g1"]}, headers=local)
    assert ok.status_code == 201
    aid = ok.json()["id"]
    await c.post(f"{API}/articles/{aid}/submit", headers=local)
    # Another committee's chief editor cannot see, let alone approve, it; the city's can.
    assert (await c.post(f"{API}/articles/{aid}/approve",
                         headers=system.auth("chief_editor", "tay-ho"))).status_code == 404
    assert (await c.post(f"{API}/articles/{aid}/approve",
                         headers=system.auth("chief_editor", "city"))).status_code == 200
    # A member has no desk.
    assert (await c.get(f"{API}/articles", headers=member(system, "010000001"))).status_code == 403


async def test_feed_targets_subtrees_and_follows_a_transfer(system):
    c = system.client
    city = await published(system, title="Thông báo toàn thành phố", audience=["city"])
    ba_dinh = await published(system, title="Tin Ba Đình", audience=["ba-dinh"], unit="ba-dinh",
                              category="local_news")
    tay_ho = await published(system, title="Tin Tây Hồ", audience=["tay-ho"], unit="tay-ho", category="local_news")

    async def feed_ids(card: str) -> list[str]:
        return [a["id"] for a in (await c.get(f"{API}/feed", headers=member(system, card))).json()["items"]]

    in_ba_dinh, in_tay_ho = await feed_ids("010000002"), await feed_ids("020000001")
    assert city["id"] in in_ba_dinh and ba_dinh["id"] in in_ba_dinh and tay_ho["id"] not in in_ba_dinh
    assert city["id"] in in_tay_ho and tay_ho["id"] in in_tay_ho and ba_dinh["id"] not in in_tay_ho
    assert in_ba_dinh.index(ba_dinh["id"]) < in_ba_dinh.index(city["id"])  # newest first
    # Not in your audience: as if it did not exist.
    assert (await c.get(f"{API}/articles/{tay_ho['id']}", headers=member(system, "010000002"))).status_code == 404

    # The member from Tây Hồ is transferred to Ba Đình: the feed follows.
    admin = system.auth("city_admin")
    found = (await c.get("/api/members/v1/members", params={"q": "020000002"}, headers=admin)).json()["items"]
    moved = await c.post(f"/api/members/v1/members/{found[0]['id']}/transfers",
                         json={"to_unit": "ba-dinh-g1-c2", "kind": "official"}, headers=admin)
    assert moved.status_code in (200, 201), moved.text

    async def sees_ba_dinh():
        ids = await feed_ids("020000002")  # the old token: its unit claim is stale, the replica is not
        return ba_dinh["id"] in ids and tay_ho["id"] not in ids
    await eventually(sees_ba_dinh, timeout=15)

    # Cursor pagination walks the whole feed once, newest first.
    headers = member(system, "010000003")
    everything = (await c.get(f"{API}/feed", params={"limit": 100}, headers=headers)).json()["items"]
    pages, cursor = [], None
    while True:
        page = (await c.get(f"{API}/feed", params={"limit": 1} | ({"cursor": cursor} if cursor else {}),
                            headers=headers)).json()
        pages += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [a["id"] for a in pages] == [a["id"] for a in everything] and len(everything) >= 2
    bad = await c.get(f"{API}/feed", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_reads_count_once_per_member_article_and_day(system, nats_url):
    c = system.client
    article = await published(system, title="Đọc mỗi ngày", audience=["ba-dinh"], unit="ba-dinh")
    aid, reader = article["id"], member(system, "010000003")
    before = (await stream_subjects(nats_url)).get("sotay.content.article_read.ba-dinh", 0)

    def unread(items):
        return next(a["unread"] for a in items if a["id"] == aid)
    assert unread((await c.get(f"{API}/feed", headers=reader)).json()["items"]) is True
    first = (await c.post(f"{API}/articles/{aid}/read", headers=reader)).json()
    second = (await c.post(f"{API}/articles/{aid}/read", headers=reader)).json()
    assert first["counted"] is True and second["counted"] is False
    assert unread((await c.get(f"{API}/feed", headers=reader)).json()["items"]) is False
    unread_only = (await c.get(f"{API}/feed", params={"unread": "true"}, headers=reader)).json()["items"]
    assert aid not in [a["id"] for a in unread_only]

    # Yesterday's read was another day's: today's still counted once.
    async with system.runtimes["content"].context.engine.begin() as db:
        await db.execute(text("INSERT INTO reads (account_id, article_id, day) VALUES (:a, :id, :d)"),
                         {"a": "account-010000004", "id": aid, "d": datetime.now(UTC).date() - timedelta(days=1)})
    assert (await c.post(f"{API}/articles/{aid}/read", headers=member(system, "010000004"))).json()["counted"]

    stats = (await c.get(f"{API}/articles/{aid}/reads", headers=system.auth("editor", "ba-dinh"))).json()
    assert stats == {"article_id": aid, "reads": 3, "readers": 2, "reads_today": 2}
    await eventually(lambda: _count_is(nats_url, "sotay.content.article_read.ba-dinh", before + 2))
    # Reading an article outside your audience is refused and counts nothing.
    assert (await c.post(f"{API}/articles/{aid}/read", headers=member(system, "020000001"))).status_code == 404


async def test_a_read_made_offline_counts_for_the_day_it_was_made_once(system, nats_url):
    """The installed handbook sends a read made without a connection when the connection
    returns, with the day it was made: it counts for that day, once, however often it is sent;
    a day in the future or past the kept week is refused and counts nothing."""
    c = system.client
    article = await published(system, title="Đọc khi không có mạng", audience=["ba-dinh"], unit="ba-dinh")
    aid, reader = article["id"], member(system, "010000002")
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    before = (await stream_subjects(nats_url)).get("sotay.content.article_read.ba-dinh", 0)
    sent = [await c.post(f"{API}/articles/{aid}/read", json={"read_on": yesterday.isoformat()}, headers=reader)
            for _ in range(2)]
    assert [r.json()["counted"] for r in sent] == [True, False] and sent[0].json()["day"] == yesterday.isoformat()
    for day, reason in ((today + timedelta(days=2), "is in the future"),
                        (today - timedelta(days=7), "must be within the last 7 days")):
        refused = await c.post(f"{API}/articles/{aid}/read", json={"read_on": day.isoformat()}, headers=reader)
        assert refused.status_code == 422 and refused.json()["errors"] == [{"field": "read_on", "reason": reason}]
    async with system.runtimes["content"].context.engine.connect() as db:
        days = (await db.execute(text("SELECT day FROM reads WHERE article_id = :id"), {"id": aid})).scalars().all()
    assert days == [yesterday]
    # Today's read is another day's: it counts too.
    assert (await c.post(f"{API}/articles/{aid}/read", headers=reader)).json()["counted"] is True
    await eventually(lambda: _count_is(nats_url, "sotay.content.article_read.ba-dinh", before + 2))


async def test_a_read_writes_its_row_and_event_once_and_only_where_the_reader_may_read(system):
    """The read on asyncpg's own connection (handlers/articles.record_read): one read row and one
    ArticleRead in the outbox, in the reader's committee; nothing more for the same day again,
    nothing for a reader outside the audience."""
    c = system.client
    aid = (await published(system, title="Đọc một lần", audience=["ba-dinh"], unit="ba-dinh"))["id"]

    async def written() -> tuple[list, list]:
        async with system.runtimes["content"].context.engine.connect() as db:
            reads = (await db.execute(text("SELECT account_id, member_id IS NOT NULL AS member, unit FROM reads "
                                           "WHERE article_id = :a ORDER BY account_id"), {"a": aid})).all()
            events = (await db.execute(text(
                "SELECT subject, body FROM outbox WHERE subject LIKE 'sotay.content.article_read.%' "
                "AND convert_from(body, 'UTF8') LIKE :a ORDER BY position"), {"a": f"%{aid}%"})).all()
        return [tuple(r) for r in reads], [(r.subject, orjson.loads(bytes(r.body))["data"]) for r in events]

    reader = member(system, "010000001")
    assert (await c.post(f"{API}/articles/{aid}/read", headers=reader)).json()["counted"] is True
    assert (await c.post(f"{API}/articles/{aid}/read", headers=reader)).json()["counted"] is False
    outside = await c.post(f"{API}/articles/{aid}/read", headers=member(system, "020000001"))
    assert outside.status_code == 404 and outside.headers["content-type"] == "application/problem+json"
    # A token without a card reads as the unit it names; staff, whose token names none, as the city.
    no_card = system.auth("member", "ba-dinh-g1-c2", subject="account-no-card")
    staff = system.auth("unit_admin", "ba-dinh-g1", subject="staff-ba-dinh")
    for headers in (no_card, staff):
        assert (await c.post(f"{API}/articles/{aid}/read", headers=headers)).json()["counted"] is True
    reads, events = await written()
    assert reads == [("account-010000001", True, "ba-dinh-g1-c1"), ("account-no-card", False, "ba-dinh-g1-c2"),
                     ("staff-ba-dinh", False, None)]
    assert [(subject, d["account_id"], d["unit"], d["member_id"] is None) for subject, d in events] == [
        ("sotay.content.article_read.ba-dinh", "account-010000001", "ba-dinh-g1-c1", False),
        ("sotay.content.article_read.ba-dinh", "account-no-card", "ba-dinh-g1-c2", True),
        ("sotay.content.article_read.city", "staff-ba-dinh", None, True)]


async def _count_is(nats_url: str, subject: str, expected: int) -> bool:
    return (await stream_subjects(nats_url)).get(subject, 0) == expected


async def test_sanitising_strips_script_and_handlers(system):
    c = system.client
    editor = system.auth("editor", "city")
    body = ('<p onclick="steal()">Xin chào <a href="javascript:alert(1)">bấm</a></p><script>alert("x")</script>'
            '<img src="/assets/a.png" onerror="steal()"><img src="https://x.vn/a.png"><iframe src="https://evil"></iframe>')
    created = await c.post(f"{API}/articles", headers=editor, json={
        "title": "Kiểm tra an toàn", "body": body, "body_format": "html", "category": "news", "audience": ["city"]})
    html = created.json()["body_html"]
    for bad in ("<script", "alert", "onclick", "onerror", "javascript:", "<iframe"):
        assert bad not in html, html
    # The site's own image stays; one from another origin is not fetched by readers (its src goes).
    assert "Xin chào" in html and '<img src="/assets/a.png"><img>' in html
    # A body that is nothing but script is empty once sanitised: refused, nothing stored.
    refused = await c.post(f"{API}/articles", headers=editor, json={
        "title": "Chỉ có script", "body": "<script>alert(1)</script>", "body_format": "html", "category": "news",
        "audience": ["city"]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body"
    missing = await c.post(f"{API}/articles", headers=editor, json={"body": "x", "category": "news",
                                                                    "audience": ["city"]})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "title"


async def test_scheduled_publishing_and_expiry(system):
    c = system.client
    editor, chief = system.auth("editor", "city", subject="ed-s"), system.auth("chief_editor", "city")
    aid = (await c.post(f"{API}/articles", headers=editor, json={
        "title": "Lịch sinh hoạt chi bộ tháng 12", "body": "Nội dung", "category": "news",
        "audience": ["city"]})).json()["id"]
    await c.post(f"{API}/articles/{aid}/submit", headers=editor)
    await c.post(f"{API}/articles/{aid}/approve", headers=chief)
    now = datetime.now(UTC)
    bad = await c.post(f"{API}/articles/{aid}/publish", headers=chief,
                       json={"publish_at": (now + timedelta(seconds=2)).isoformat(),
                             "expires_at": (now + timedelta(seconds=1)).isoformat()})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "expires_at"
    scheduled = await c.post(f"{API}/articles/{aid}/publish", headers=chief,
                             json={"publish_at": (now + timedelta(seconds=2)).isoformat(),
                                   "expires_at": (now + timedelta(seconds=6)).isoformat()})
    assert scheduled.json()["status"] == "scheduled"
    reader = member(system, "010000001")

    async def in_feed():
        return aid in [a["id"] for a in (await c.get(f"{API}/feed", headers=reader)).json()["items"]]
    assert not await in_feed()
    await eventually(in_feed, timeout=10)
    assert (await c.get(f"{API}/articles/{aid}", headers=reader)).json()["status"] == "published"

    async def expired():
        return not await in_feed()
    await eventually(expired, timeout=10)


async def test_feedback_is_moderated_per_unit_and_answered(system, nats_url):
    c = system.client
    article = await published(system, title="Lấy ý kiến về dự thảo", audience=["ba-dinh"], unit="ba-dinh")
    aid = article["id"]
    writer, neighbour = member(system, "010000001"), member(system, "010000002")
    staff = system.auth("chief_editor", "ba-dinh", subject="chief-bd")

    posted = await c.post(f"{API}/articles/{aid}/feedback", json={"body": "Đề nghị bổ sung mục 3."}, headers=writer)
    assert posted.status_code == 201 and posted.json()["status"] == "pending"
    fid = posted.json()["id"]
    # Pending: its author sees it, other members do not.
    assert [f["id"] for f in (await c.get(f"{API}/articles/{aid}/feedback", headers=writer)).json()["items"]] == [fid]
    assert (await c.get(f"{API}/articles/{aid}/feedback", headers=neighbour)).json()["items"] == []
    inbox = (await c.get(f"{API}/feedback", params={"status": "pending"}, headers=staff)).json()["items"]
    assert fid in [f["id"] for f in inbox]
    # Another committee's staff neither see nor moderate it.
    other = system.auth("unit_admin", "tay-ho")
    assert fid not in [f["id"] for f in (await c.get(f"{API}/feedback", headers=other)).json()["items"]]
    assert (await c.post(f"{API}/feedback/{fid}/moderate", json={"visible": True}, headers=other)).status_code == 404

    assert (await c.post(f"{API}/feedback/{fid}/moderate", json={"visible": True},
                         headers=staff)).json()["status"] == "visible"
    answered = await c.post(f"{API}/feedback/{fid}/answer", json={"body": "Đã tiếp thu."}, headers=staff)
    assert answered.json()["answer"] == "Đã tiếp thu."
    seen = (await c.get(f"{API}/articles/{aid}/feedback", headers=neighbour)).json()["items"]
    assert seen[0]["answer"] == "Đã tiếp thu."

    # The unit turns moderation off: feedback shows at once. Writing to a unit not above you is refused.
    assert (await c.put(f"{API}/units/ba-dinh/settings", json={"moderate_feedback": False},
                        headers=system.auth("unit_admin", "ba-dinh"))).status_code == 200
    direct = await c.post(f"{API}/feedback", json={"to_unit": "ba-dinh", "body": "Góp ý về sinh hoạt chi bộ"},
                          headers=neighbour)
    assert direct.json()["status"] == "visible"
    wrong = await c.post(f"{API}/feedback", json={"to_unit": "tay-ho", "body": "x"}, headers=neighbour)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "to_unit"
    assert len((await c.get(f"{API}/feedback/mine", headers=neighbour)).json()["items"]) == 1
    await eventually(lambda: _count_is(nats_url, "sotay.content.feedback_posted.ba-dinh", 2))


async def test_documents_library_search_and_bookmarks(system):
    c = system.client
    editor = system.auth("editor", "city")
    pdf = b"%PDF-1.4\n% Nghi quyet\n"
    added = await c.post(f"{API}/documents", headers=editor, files={"file": ("nq-15.pdf", pdf, "application/pdf")},
                         data={"title": "Nghị quyết về phát triển Thủ đô", "kind": "resolution",
                               "number": "15-NQ/TU", "issued_on": "2024-09-04", "issuing_body": "Thành ủy Hà Nội"})
    assert added.status_code == 201, added.text
    doc = added.json()
    assert doc["size_bytes"] == len(pdf) and doc["bookmarked"] is False
    refused = await c.post(f"{API}/documents", headers=editor, files={"file": ("x.exe", b"MZ", "application/x")},
                           data={"title": "Chương trình"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file"
    assert (await c.post(f"{API}/documents", headers=member(system, "010000001"),
                         files={"file": ("a.pdf", pdf, "application/pdf")}, data={"title": "x"})).status_code == 403

    reader = member(system, "020000001")
    for q in ("nghi quyet thu do", "NGHỊ QUYẾT", "15-nq"):
        found = (await c.get(f"{API}/documents", params={"q": q}, headers=reader)).json()["items"]
        assert [d["id"] for d in found] == [doc["id"]], q
    assert (await c.get(f"{API}/documents", params={"q": "chi thi"}, headers=reader)).json()["items"] == []
    assert (await c.put(f"{API}/documents/{doc['id']}/bookmark", headers=reader)).json()["bookmarked"] is True
    marked = (await c.get(f"{API}/documents", params={"bookmarked": "true"}, headers=reader)).json()["items"]
    assert [d["id"] for d in marked] == [doc["id"]] and marked[0]["bookmarked"] is True
    assert (await c.get(f"{API}/documents", params={"bookmarked": "true"},
                        headers=member(system, "010000001"))).json()["items"] == []
    download = await c.get(f"{API}/documents/{doc['id']}/file", headers=reader)
    assert download.content == pdf and download.headers["content-type"] == "application/pdf"
    await c.delete(f"{API}/documents/{doc['id']}/bookmark", headers=reader)
    assert (await c.get(f"{API}/documents", params={"bookmarked": "true"}, headers=reader)).json()["items"] == []

    # Search covers articles too, accents optional, only those the caller may read.
    await published(system, title="Quán triệt Nghị quyết Trung ương", audience=["tay-ho"], unit="tay-ho")
    results = (await c.get(f"{API}/search", params={"q": "quan triet nghi quyet"}, headers=reader)).json()
    assert [a["title"] for a in results["articles"]] == ["Quán triệt Nghị quyết Trung ương"]
    elsewhere = (await c.get(f"{API}/search", params={"q": "quan triet"}, headers=member(system, "010000001"))).json()
    assert elsewhere["articles"] == []


async def test_cell_meeting_called_confirmed_and_rolled(system, nats_url):
    c = system.client
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c1", subject="secretary-c1")
    starts = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    meeting = {"cell": "ba-dinh-g1-c1", "starts_at": starts, "place": "Hội trường tổ dân phố 5",
               "agenda": "1. Sinh hoạt chuyên đề\n2. Kết nạp đảng viên"}
    assert (await c.post(f"{API}/meetings", json={**meeting, "cell": "ba-dinh-g1-c2"},
                         headers=secretary)).status_code == 403
    assert (await c.post(f"{API}/meetings", json={**meeting, "cell": "ba-dinh"},
                         headers=secretary)).status_code == 422
    called = await c.post(f"{API}/meetings", json=meeting, headers=secretary)
    assert called.status_code == 201, called.text
    mid = called.json()["id"]

    an, binh = member(system, "010000001"), member(system, "010000002")
    assert [m["id"] for m in (await c.get(f"{API}/meetings", headers=an)).json()["items"]] == [mid]
    assert (await c.post(f"{API}/meetings/{mid}/attendance", json={"attending": True}, headers=an)).json()[
        "my_answer"] is True
    await c.post(f"{API}/meetings/{mid}/attendance", json={"attending": False, "note": "Đi công tác"}, headers=binh)
    # Another cell's member neither sees it nor answers it.
    outsider = member(system, "010000004")
    assert (await c.get(f"{API}/meetings", headers=outsider)).json()["items"] == []
    assert (await c.post(f"{API}/meetings/{mid}/attendance", json={"attending": True},
                         headers=outsider)).status_code == 404

    roll = (await c.get(f"{API}/meetings/{mid}/attendance", headers=secretary)).json()
    assert (roll["attending"], roll["not_attending"], roll["no_answer"]) == (1, 1, 1)
    assert {m["full_name"]: m["attending"] for m in roll["members"]} == {
        "Nguyễn Văn An": True, "Trần Thị Bình": False, "Lê Văn Cường": None}
    assert (await c.get(f"{API}/meetings/{mid}/attendance", headers=an)).status_code == 404
    await eventually(lambda: _count_is(nats_url, "sotay.content.attendance_confirmed.ba-dinh", 2))


@pytest.fixture(scope="module")
def feed_server(tmp_path_factory):
    """A local web server for feed files; tests rewrite the files between polls."""
    root = tmp_path_factory.mktemp("feeds")
    shutil.copy(FEEDS / "rss2.xml", root / "news.xml")
    shutil.copy(FEEDS / "broken.html", root / "broken.xml")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


async def test_feed_import_deduplicates_and_survives_broken_feeds(system, feed_server):
    root, base = feed_server
    c = system.client
    chief = system.auth("chief_editor", "city", subject="chief-feeds")
    assert (await c.post(f"{API}/feeds", json={"url": "ftp://x"}, headers=chief)).status_code == 422
    assert (await c.post(f"{API}/feeds", json={"url": f"{base}/news.xml"},
                         headers=system.auth("editor", "city"))).status_code == 403
    news = (await c.post(f"{API}/feeds", json={"url": f"{base}/news.xml", "publish": True, "interval_s": 3600},
                         headers=chief)).json()
    # Publishing at once takes a second chief editor's approval.
    approved = await c.post(f"{API}/feeds/{news['id']}/approve", headers=system.auth("chief_editor", "city",
                                                                                      subject="chief-second"))
    assert approved.status_code == 200 and approved.json()["publish_approved_by"] == "chief-second", approved.text
    broken = (await c.post(f"{API}/feeds", json={"url": f"{base}/broken.xml"}, headers=chief)).json()
    gone = (await c.post(f"{API}/feeds", json={"url": f"{base}/missing.xml", "publish": True},
                         headers=chief)).json()

    async def feed_state(feed_id):
        items = (await c.get(f"{API}/feeds", headers=chief)).json()["items"]
        return next(f for f in items if f["id"] == feed_id)

    async def polled(feed_id, field):
        state = await feed_state(feed_id)
        return state if state[field] else None
    first = await eventually(lambda: polled(news["id"], "last_ok_at"), timeout=15)
    imported = first["imported"]
    assert imported >= 2
    assert "HTTP 404" in (await eventually(lambda: polled(gone["id"], "last_error"), timeout=15))["last_error"]
    broken_state = await eventually(lambda: polled(broken["id"], "last_error"), timeout=15)
    assert broken_state["failures"] == 1 and "not an RSS or Atom feed" in broken_state["last_error"]

    reader = member(system, "020000001")
    feed = (await c.get(f"{API}/feed", params={"limit": 100}, headers=reader)).json()["items"]
    from_feed = [a for a in feed if a["source_url"] and a["source_url"].startswith("https://tin.example.vn")]
    assert len(from_feed) == imported
    one = (await c.get(f"{API}/articles/{from_feed[0]['id']}", headers=reader)).json()
    assert one["fetched_at"] and "<script" not in one["body_html"]

    # Polled again: nothing new. Then one entry more: exactly one more article.
    await c.post(f"{API}/feeds/{news['id']}/poll", headers=chief)
    again = await eventually(lambda: _polled_after(c, chief, news["id"], first["last_ok_at"]), timeout=15)
    assert again["imported"] == imported
    extra = ("<item><title>Tin mới: tổng kết 6 tháng</title><link>https://tin.example.vn/bai/moi</link>"
             "<guid>tin-2024-999</guid><description>Tổng kết.</description></item>")
    (root / "news.xml").write_text((FEEDS / "rss2.xml").read_text().replace("</channel>", extra + "</channel>"))
    await c.post(f"{API}/feeds/{news['id']}/poll", headers=chief)
    third = await eventually(lambda: _polled_after(c, chief, news["id"], again["last_ok_at"]), timeout=15)
    assert third["imported"] == imported + 1
    titles = [a["title"] for a in (await c.get(f"{API}/feed", headers=reader)).json()["items"]]
    assert titles.count("Tin mới: tổng kết 6 tháng") == 1

    # The broken feed is fixed: its entries arrive as drafts for review (its setting), not in feeds.
    shutil.copy(FEEDS / "atom.xml", root / "broken.xml")
    await c.post(f"{API}/feeds/{broken['id']}/poll", headers=chief)
    fixed = await eventually(lambda: polled(broken["id"], "last_ok_at"), timeout=15)
    assert fixed["failures"] == 0 and fixed["last_error"] is None and fixed["imported"] >= 1
    drafts = (await c.get(f"{API}/articles", params={"status": "draft"}, headers=chief)).json()["items"]
    assert any(d["source_url"] == "https://thanhuy.example.vn/nq-15" for d in drafts)
    assert any(d["title"] == "Ghi chú: A < B" for d in drafts)
    assert "Ghi chú: A < B" not in [
        a["title"] for a in (await c.get(f"{API}/feed", params={"limit": 100}, headers=reader)).json()["items"]]


async def _polled_after(c, headers, feed_id, after: str):
    items = (await c.get(f"{API}/feeds", headers=headers)).json()["items"]
    state = next(f for f in items if f["id"] == feed_id)
    return state if state["last_ok_at"] and state["last_ok_at"] > after else None


async def test_events_validate_against_served_schemas(system, nats_url):
    import jsonschema
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe("sotay.content.>", durable=None, stream="SOTAY_CONTENT")
        messages = await sub.fetch(200, timeout=5)
    finally:
        await nc.close()
    seen = set()
    for msg in messages:
        envelope = orjson.loads(msg.data)
        assert msg.headers["Nats-Msg-Id"] == envelope["id"]
        if envelope["type"] not in seen:
            seen.add(envelope["type"])
            schema = (await system.client.get(f"{API}/events/{envelope['type']}.schema.json")).json()
            jsonschema.validate(envelope, schema)
    assert {"sotay.content.ArticlePublished.v1", "sotay.content.ArticleRead.v1", "sotay.content.FeedbackPosted.v1",
            "sotay.content.DocumentAdded.v1", "sotay.content.MeetingScheduled.v1"} <= seen
