"""Metrics on real NATS and PostgreSQL, fed by the other services' real
events for a small known population: members (with eligibility), web and
mobile registrations, approvals, a rejection, a sign-in, a transfer that
moves an account, a death that disables one, training and a read. Every
figure is asserted at cell, committee and city level; then the same after
every event is delivered a second time, and after a replay."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import time

import httpx
import nats
import orjson
import pytest
from sqlalchemy import text

import services.content
import services.identity
import services.members
import services.metrics
from sotay.kit.auth import Grant, mint_token
from sotay.kit.clock import hanoi_day
from sotay.kit.keys import metrics_token
from sotay.kit.publishing import without_batch_headers
from tests.support.system import (
    CONSENT,
    eventually,
    identity_holds_registry,
    import_registry,
    make_settings,
    real_server,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

PASSWORD = "Chi bo so 1 vung manh"
TREE = {"ba-dinh": ["ba-dinh-g1-c1", "ba-dinh-g1-c2"], "tay-ho": ["tay-ho-g1-c1"]}
# card, name, cell, status, eligible, reason
MEMBERS = [
    ("010000001", "Nguyễn Văn An", "ba-dinh-g1-c1", "active", True, ""),
    ("010000002", "Trần Thị Bình", "ba-dinh-g1-c1", "active", True, ""),
    ("010000003", "Lê Văn Cường", "ba-dinh-g1-c1", "probationary", True, ""),
    ("010000004", "Phạm Thị Dung", "ba-dinh-g1-c1", "exempt", False, "miễn sinh hoạt đảng"),
    ("010000005", "Hoàng Văn Em", "ba-dinh-g1-c1", "active", False, "không có điện thoại thông minh"),
    ("010000006", "Đỗ Thị Giang", "ba-dinh-g1-c2", "active", True, ""),
    ("010000007", "Vũ Văn Hải", "ba-dinh-g1-c2", "active", True, ""),
    ("010000008", "Bùi Thị Lan", "ba-dinh-g1-c2", "transferred_out", False, "chuyển sinh hoạt ra ngoài"),
    ("020000009", "Ngô Văn Minh", "tay-ho-g1-c1", "active", True, ""),
    ("020000010", "Dương Thị Nga", "tay-ho-g1-c1", "active", True, ""),
    ("020000011", "Lý Văn Phúc", "tay-ho-g1-c1", "active", True, ""),
    ("020000012", "Đinh Thị Quế", "tay-ho-g1-c1", "active", True, ""),
]
# card → (platform, what happens to the registration)
REGISTRATIONS = {"010000001": ("web", "approve"), "010000002": ("mobile", "approve"),
                 "010000003": ("mobile", "pending"), "010000006": ("mobile", "reject"),
                 "010000007": ("web", "pending"), "020000009": ("mobile", "approve"),
                 "020000010": ("mobile", "pending"), "020000012": ("web", "approve"),
                 "099999999": ("mobile", "pending")}  # matches nobody: counted at the city

EXPECTED = {
    # members_total, eligible, installed, web, mobile, pending, approved, rejected, pct_total, pct_eligible
    "ba-dinh-g1-c1": (5, 3, 3, 1, 2, 1, 2, 0, 60.0, 100.0),
    "ba-dinh-g1-c2": (3, 3, 2, 1, 1, 1, 1, 1, 66.67, 66.67),
    "tay-ho-g1-c1": (2, 2, 1, 0, 1, 1, 0, 0, 50.0, 50.0),
    "ba-dinh": (8, 6, 5, 2, 3, 2, 3, 1, 62.5, 83.33),
    "city": (10, 8, 7, 2, 5, 4, 3, 1, 70.0, 87.5),
}
NAMES = ("members_total", "members_eligible", "accounts_installed", "accounts_web", "accounts_mobile",
         "accounts_pending", "accounts_approved", "accounts_rejected", "installed_pct_total", "installed_pct_eligible")


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        await populate(system)
        yield system


async def populate(system) -> None:
    c, admin = system.client, system.auth("city_admin")
    tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"}]
    for committee, cells in TREE.items():
        tree += [{"code": committee, "name": committee, "kind": "committee", "parent": "city", "wave": 1},
                 {"code": f"{committee}-g1", "name": "Đảng bộ phường", "kind": "grassroots", "parent": committee}]
        tree += [{"code": cell, "name": cell, "kind": "cell", "parent": f"{committee}-g1"} for cell in cells]
    for unit in tree:
        assert (await c.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
    await import_registry(c, [registry_row(card, name, cell, status=status, eligible=eligible, reason=reason)
                              for card, name, cell, status, eligible, reason in MEMBERS], admin)
    await identity_holds_registry(system, len(MEMBERS))

    names = {card: name for card, name, *_ in MEMBERS}
    for card, (platform, _) in REGISTRATIONS.items():
        body = {"party_card_no": card, "full_name": names.get(card, "Người Lạ"), "date_of_birth": "1970-01-01",
                "phone": f"09{card[-8:]}", "password": PASSWORD, "platform": platform, "consent": CONSENT}
        assert (await c.post("/api/identity/v1/registrations", json=body)).status_code == 202
    queue = (await c.get("/api/identity/v1/registrations", params={"status": "pending", "limit": 100},
                         headers=admin)).json()["items"]
    by_card = {r["party_card_no"]: r["id"] for r in queue}
    for card, (_, fate) in REGISTRATIONS.items():
        if fate == "approve":
            assert (await c.post(f"/api/identity/v1/registrations/{by_card[card]}/approve",
                                 headers=admin)).status_code == 200
        elif fate == "reject":
            assert (await c.post(f"/api/identity/v1/registrations/{by_card[card]}/reject",
                                 json={"reason": "Sai ngày sinh"}, headers=admin)).status_code == 200
    signed_in = await c.post("/api/identity/v1/token", data={"grant_type": "password", "username": "010000001",
                                                             "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text

    ids = {m["party_card_no"]: m["id"] for m in (await c.get("/api/members/v1/members", params={"limit": 100},
                                                            headers=admin)).json()["items"]}
    # The approved member of Tây Hồ moves to Ba Đình (the account follows); another dies (it is disabled).
    assert (await c.post(f"/api/members/v1/members/{ids['020000009']}/transfers",
                         json={"to_unit": "ba-dinh-g1-c2", "kind": "official"}, headers=admin)).status_code == 200
    assert (await c.post(f"/api/members/v1/members/{ids['020000012']}/status",
                         json={"status": "deceased", "reason": "từ trần"}, headers=admin)).status_code == 200

    for unit, people in (("ba-dinh-g1-c1", 30), ("ba-dinh", 12)):
        assert (await c.post("/api/metrics/v1/training", headers=system.auth("unit_admin", "ba-dinh"), json={
            "unit": unit, "held_on": "2023-01-10", "topic": "Cài đặt Sổ tay đảng viên", "people": people,
        })).status_code == 201

    # A member reads an article.
    editor, chief = system.auth("editor", "city", subject="ed"), system.auth("chief_editor", "city", subject="ch")
    aid = (await c.post("/api/content/v1/articles", json={"title": "Tin mới", "body": "Nội dung",
                                                          "category": "news", "audience": ["city"]},
                        headers=editor)).json()["id"]
    for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
        assert (await c.post(f"/api/content/v1/articles/{aid}/{step}", headers=who)).status_code == 200

    async def content_knows_member():
        async with system.runtimes["content"].context.engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM readers"))).scalar_one() == len(MEMBERS)
    await eventually(content_knows_member, timeout=30)
    reader = system.auth("member", "ba-dinh-g1-c1", card="010000001", subject="account-an")
    assert (await c.post(f"/api/content/v1/articles/{aid}/read", headers=reader)).json()["counted"]


async def rollout(system, unit: str) -> dict:
    answer = await system.client.get("/api/metrics/v1/rollout", params={"unit": unit},
                                     headers=system.auth("city_admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def figures_settled(system) -> dict[str, dict]:
    async def settled():
        got = {unit: await rollout(system, unit) for unit in EXPECTED}
        ok = all(tuple(got[u][n] for n in NAMES) == want for u, want in EXPECTED.items())
        ok = ok and got["ba-dinh-g1-c1"]["readers_today"] == 1 and got["city"]["readers_today"] == 1
        ok = ok and got["ba-dinh"]["trained_people"] == 42
        return got if ok else None
    try:
        return await eventually(settled, timeout=30, interval=0.3)
    except AssertionError:
        got = {unit: tuple((await rollout(system, unit))[n] for n in NAMES) for unit in EXPECTED}
        raise AssertionError(f"figures: {got}\nexpected: {EXPECTED}") from None


async def test_every_figure_at_cell_committee_and_city_level(system):
    got = await figures_settled(system)
    city, c1 = got["city"], got["ba-dinh-g1-c1"]
    assert city["funnel"] == {"registered": 9, "pending": 4, "approved": 3, "activated": 1}
    assert city["without_account"] == {
        "not_eligible": {"không có điện thoại thông minh": 1, "miễn sinh hoạt đảng": 1},
        "eligible_not_registered": 2, "rejected": 1, "disabled": 1}
    assert c1["readers_today"] == 1 and c1["readers_7d"] == 1 and got["tay-ho-g1-c1"]["readers_today"] == 0
    assert (c1["trained_people"], c1["training_sessions"]) == (30, 1)
    assert (city["trained_people"], city["training_sessions"]) == (42, 2)
    assert city["articles_published"] == 1 and city["as_of"] and city["unit_code"] == "city"
    children = (await system.client.get("/api/metrics/v1/rollout/children", params={"unit": "city"},
                                         headers=system.auth("city_admin"))).json()["items"]
    assert [(u["unit_code"], u["members_total"]) for u in children] == [("ba-dinh", 8), ("tay-ho", 2)]


async def test_scopes_and_bad_input(system):
    c = system.client
    assert (await c.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh"},
                        headers=system.auth("unit_admin", "tay-ho"))).status_code == 403
    assert (await c.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh-g1-c1"},
                        headers=system.auth("unit_admin", "ba-dinh"))).status_code == 200
    assert (await c.get("/api/metrics/v1/rollout", params={"unit": "nowhere"},
                        headers=system.auth("city_admin"))).status_code == 404
    bad = await c.post("/api/metrics/v1/training", json={"unit": "ba-dinh", "held_on": "2023-01-10", "topic": "x",
                                                         "people": 0}, headers=system.auth("unit_admin", "ba-dinh"))
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"topic", "people"}
    outside = await c.post("/api/metrics/v1/training", json={"unit": "tay-ho", "held_on": "2023-01-10",
                                                             "topic": "Tập huấn", "people": 5},
                           headers=system.auth("unit_admin", "ba-dinh"))
    assert outside.status_code == 403


async def test_snapshots_on_the_stream_and_in_the_bucket(system, nats_url):
    settled = (await figures_settled(system))["city"]
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def latest_city():
            # The bucket follows the folds (a round behind the reads at most): wait for all of the
            # settled figures, not for two of them (one snapshot had those and not yet the rest).
            entry = await (await js.key_value("sotay_rollout")).get("city")
            value = orjson.loads(entry.value)
            return value if all(value[n] == settled[n] for n in NAMES) and value["readers_today"] == 1 else None
        city = await eventually(latest_city, timeout=10)
        assert city["installed_pct_eligible"] == 87.5
        info = await js.stream_info("SOTAY_METRICS", subjects_filter=">")
        subjects = info.state.subjects or {}
        assert subjects.get("sotay.metrics.rollout.city", 0) >= 1 and subjects.get("sotay.metrics.rollout.ba-dinh")
        # Coalesced: far fewer city snapshots than events that moved the city's figures.
        assert subjects["sotay.metrics.rollout.city"] < 40, subjects
    finally:
        await nc.close()


async def test_plan_reports_summary_prometheus_and_stream(system):
    await figures_settled(system)
    c, admin = system.client, system.auth("city_admin")
    plan = (await c.get("/api/metrics/v1/plan", headers=admin)).json()
    pilot = plan["waves"][0]
    assert (pilot["number"], pilot["target_pct"], pilot["deadline"]) == (1, 100.0, "2023-06-30")
    assert pilot["expected_pct_today"] == 100.0  # past its deadline
    assert {u["unit_code"]: u["installed_pct_eligible"] for u in pilot["units"]} == {"ba-dinh": 83.33, "tay-ho": 50.0}
    assert pilot["behind"] == ["ba-dinh", "tay-ho"]
    assert (await c.put("/api/metrics/v1/plan/waves/1", headers=system.auth("unit_admin", "ba-dinh"), json={
        "name": "Làm điểm", "starts_on": "2022-12-22", "target_pct": 50, "deadline": "2023-06-30"})).status_code == 403
    assert (await c.put("/api/metrics/v1/plan/waves/1", headers=admin, json={
        "name": "Làm điểm", "starts_on": "2022-12-22", "target_pct": 60, "deadline": "2023-06-30"})).status_code == 200
    assert (await c.get("/api/metrics/v1/plan", headers=admin)).json()["waves"][0]["behind"] == ["tay-ho"]

    # The exports a leader hands out: a title row (the unit, the day), Vietnamese headings (English with
    # lang=en), the units below then the unit's total, percentages as percentages, the day in the file name.
    today = hanoi_day()
    csv_report = await c.get("/api/metrics/v1/reports/rollout.csv", params={"unit": "ba-dinh"}, headers=admin)
    assert csv_report.headers["content-disposition"] == \
        f'attachment; filename="trien-khai-ba-dinh-{today:%d-%m-%Y}.csv"'
    assert csv_report.content.startswith(codecs.BOM_UTF8) and b"sep=" not in csv_report.content
    table = list(csv.reader(io.StringIO(csv_report.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == [f"Tình hình triển khai Sổ tay đảng viên điện tử — ba-dinh — số liệu ngày {today:%d/%m/%Y}"]
    assert table[1][:4] == ["Đơn vị", "Tổng số đảng viên", "Đủ điều kiện cài đặt", "Đã cài đặt (gồm cả chờ phê duyệt)"]
    assert [row[-1] for row in table[2:]] == ["ba-dinh-g1", "ba-dinh"]
    assert table[-1][:4] == ["Tổng cộng: ba-dinh", "8", "6", "5"] and table[-1][9:11] == ["62,50%", "83,33%"]
    english = await c.get("/api/metrics/v1/reports/rollout.csv", params={"unit": "ba-dinh", "lang": "en"},
                          headers=admin)
    table = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert table[1][:2] == ["Unit", "Party members"] and table[-1][0] == "Total: ba-dinh"
    assert table[-1][9:11] == ["62.50%", "83.33%"]

    xlsx = await c.get("/api/metrics/v1/reports/rollout.xlsx", params={"unit": "city"}, headers=admin)
    assert xlsx.headers["content-disposition"] == f'attachment; filename="trien-khai-city-{today:%d-%m-%Y}.xlsx"'
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet["A1"].value == f"Tình hình triển khai Sổ tay đảng viên điện tử — Thành phố Hà Nội — số liệu ngày " \
                                f"{today:%d/%m/%Y}"
    assert [cell.value for cell in sheet[2]][:2] == ["Đơn vị", "Tổng số đảng viên"]
    assert [row[-1] for row in sheet.iter_rows(min_row=3, values_only=True)] == ["ba-dinh", "tay-ho", "city"]
    total = sheet[5]
    assert total[0].value == "Tổng cộng: Thành phố Hà Nội" and total[1].value == 10
    assert [(cell.value, cell.number_format) for cell in total[9:11]] == [(0.7, "0.00%"), (0.875, "0.00%")]
    assert sheet.column_dimensions["A"].width >= 20 and sheet.column_dimensions["D"].width >= 12

    vi = (await c.get("/api/metrics/v1/reports/summary", params={"unit": "city"}, headers=admin)).json()["text"]
    assert "2 đơn vị trực thuộc Thành phố Hà Nội đã cài đặt thành công cho 7 đảng viên (đạt 70,00% tổng số" in vi
    assert "87,50% trên tổng số đảng viên có đủ điều kiện), trong đó 2 đảng viên cài đặt trên máy tính, 5 " in vi
    assert vi.endswith("4 đảng viên đã đăng ký, đang chờ phê duyệt.")
    en = (await c.get("/api/metrics/v1/reports/summary", params={"unit": "city", "lang": "en"},
                      headers=admin)).json()["text"]
    assert "installed the handbook for 7 members (70.00% of all members, about 87.50% of eligible ones)" in en

    scraper = {"Authorization": f"Bearer {metrics_token(system.settings)}"}  # the gauges are the scraper's
    gauges = (await c.get("/api/metrics/v1/prometheus", headers=scraper)).text
    assert 'sotay_rollout_installed_pct_eligible{unit="city"} 87.5' in gauges
    assert 'sotay_rollout_accounts_installed{unit="ba-dinh"} 5.0' in gauges and "ba-dinh-g1-c1" not in gauges

    # The stream: the figures now, then a change (a training session) as it is published. Over a real
    # server: the in-process test transport hands a response over only once it has ended.
    async with real_server(system) as base, httpx.AsyncClient(base_url=base, timeout=10) as client, \
            client.stream("GET", "/api/metrics/v1/rollout/stream", params={"unit": "tay-ho"}, headers=admin) as sse:
        assert sse.headers["content-type"].startswith("text/event-stream")
        lines = sse.aiter_lines()

        async def next_event() -> dict:
            async for line in lines:
                if line.startswith("data: "):
                    return orjson.loads(line[6:])
        first = await asyncio.wait_for(next_event(), 10)
        assert first["unit_code"] == "tay-ho" and first["trained_people"] == 0
        assert (await c.post("/api/metrics/v1/training", headers=admin, json={
            "unit": "tay-ho-g1-c1", "held_on": "2023-01-12", "topic": "Hướng dẫn đăng ký", "people": 7,
        })).status_code == 201
        changed = await asyncio.wait_for(next_event(), 10)
        assert changed["trained_people"] == 7


async def test_the_dashboard_opens_where_the_person_stands(system):
    """/rollout/place: the unit asked for when the caller's roles cover it, else their own (the
    highest they are granted on), saying why; the units above by name; the plan's figure for today."""
    c = system.client

    async def place(headers, **params) -> dict:
        answer = await c.get("/api/metrics/v1/rollout/place", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()
    city = await place(system.auth("city_admin"))
    assert (city["home"]["code"], city["unit"]["code"], city["refused"]) == ("city", "city", None)
    assert [u["name"] for u in city["trail"]] == ["Thành phố Hà Nội"]
    assert [w["number"] for w in city["plan"]["waves"]] == [1, 2]
    assert set(city["plan"]["below"]) == {"ba-dinh", "tay-ho"}

    admin = system.auth("unit_admin", "ba-dinh")
    mine = await place(admin)
    assert (mine["unit"]["code"], mine["refused"], [u["code"] for u in mine["trail"]]) == ("ba-dinh", None, ["ba-dinh"])
    expected = mine["plan"]["expected_pct_today"]
    assert expected == mine["plan"]["waves"][0]["expected_pct_today"] == mine["plan"]["below"]["ba-dinh-g1"]
    # Another committee's unit, the city, a unit that does not exist: their own unit, and why; nothing of the other.
    for asked, why in (("tay-ho", "outside"), ("city", "outside"), ("tay-ho-g1-c1", "outside"), ("nowhere", "unknown")):
        answer = await place(admin, unit=asked)
        assert (answer["unit"]["code"], answer["refused"]) == ("ba-dinh", why), asked
        assert "tay-ho" not in orjson.dumps(answer).decode() and "Thành phố" not in orjson.dumps(answer).decode()
    deeper = await place(admin, unit="ba-dinh-g1-c1")
    assert [u["name"] for u in deeper["trail"]] == ["ba-dinh", "Đảng bộ phường", "ba-dinh-g1-c1"]
    assert (deeper["plan"]["expected_pct_today"], deeper["plan"]["below"]) == (expected, {})

    # A member and a cell secretary: their cell, whose figures they may read (and nothing above it).
    member = system.auth("member", "ba-dinh-g1-c1", card="010000001", subject="account-an")
    assert (await place(member))["unit"]["code"] == "ba-dinh-g1-c1"
    assert (await place(member, unit="ba-dinh"))["refused"] == "outside"
    assert (await c.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh-g1-c1"}, headers=member)).json()[
        "members_total"] == 5
    assert (await c.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh"}, headers=member)).status_code == 403
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c2")
    assert (await place(secretary))["trail"] == [{"code": "ba-dinh-g1-c2", "name": "ba-dinh-g1-c2", "kind": "cell"}]

    # No token, a token without any role: refused.
    assert (await c.get("/api/metrics/v1/rollout/place")).status_code == 401
    nobody = mint_token(system.settings.signing_key(), "nobody", [], ttl_s=600)
    answer = await c.get("/api/metrics/v1/rollout/place", headers={"Authorization": f"Bearer {nobody}"})
    assert answer.status_code == 403 and answer.headers["content-type"].startswith("application/problem+json")
    too_long = await c.get("/api/metrics/v1/rollout/place", params={"unit": "x" * 41}, headers=admin)
    assert too_long.status_code == 422


async def test_a_live_stream_ends_with_its_session_and_its_token(system):
    """A stream says `event: ended` and closes when its account's sessions are ended, and when the
    token it was opened with expires (the page then reconnects with its renewed token)."""
    key = system.settings.signing_key()

    async def ended(token_for, lapse) -> dict:
        # The token is made once the server is up: starting it on a busy machine took longer than a short
        # token lives (a 401 instead of a stream, in a run on three workers).
        async with real_server(system) as base, httpx.AsyncClient(base_url=base, timeout=20) as client, \
                client.stream("GET", "/api/metrics/v1/rollout/stream", params={"unit": "ba-dinh"},
                              headers={"Authorization": f"Bearer {token_for()}"}) as sse:
            assert sse.status_code == 200
            lines = sse.aiter_lines()
            async for line in lines:
                if line.startswith("data: "):
                    break
            lapse()
            event = None
            async for line in lines:
                if line.startswith("event: "):
                    event = line[7:]
                if line.startswith("data: ") and event == "ended":
                    return orjson.loads(line[6:])
            raise AssertionError("the stream closed without saying why")

    verifier = system.runtimes["metrics"].context.verifier
    token = lambda: mint_token(key, "leader-ended", [Grant("unit_admin", "ba-dinh")], ttl_s=600)  # noqa: E731
    assert await asyncio.wait_for(ended(token, lambda: verifier.revoke("leader-ended", time.time())), 30) == \
        {"reason": "ended"}
    short = lambda: mint_token(key, "leader-short", [Grant("unit_admin", "ba-dinh")], ttl_s=3)  # noqa: E731
    skew, verifier.clock_skew_s = verifier.clock_skew_s, 0  # no grace after the expiry, for the test's sake
    try:
        assert await asyncio.wait_for(ended(short, lambda: None), 30) == {"reason": "expired"}
    finally:
        verifier.clock_skew_s = skew


async def test_every_event_delivered_twice_changes_nothing(system, nats_url):
    before = await figures_settled(system)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        count = 0
        for stream in ("SOTAY_MEMBERS", "SOTAY_IDENTITY", "SOTAY_CONTENT"):
            sub = await js.pull_subscribe(">", durable=None, stream=stream)
            while True:
                try:
                    messages = await sub.fetch(500, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for msg in messages:
                    # A new Nats-Msg-Id gets past the stream's dedupe: only our inbox stands in the way.
                    headers = without_batch_headers(msg.headers)
                    headers["Nats-Msg-Id"] = f"again-{msg.headers['Nats-Msg-Id']}"
                    await js.publish(msg.subject, msg.data, headers=headers)
                    count += 1
        assert count > 30
    finally:
        await nc.close()

    async def drained():
        runtime = system.runtimes["metrics"]
        return all(r.totals.duplicates >= 1 for r in runtime.runners)
    await eventually(drained, timeout=30)
    await asyncio.sleep(1.0)
    after = await figures_settled(system)
    assert {u: {n: after[u][n] for n in NAMES} for u in EXPECTED} == \
        {u: {n: before[u][n] for n in NAMES} for u in EXPECTED}



async def test_verify_then_replay_end_with_the_same_figures(system, nats_url, database_url):
    from services.metrics.handlers import rebuild
    from sotay.kit.service import ServiceRuntime

    before = await figures_settled(system)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stats, differences = await rebuild.verify(database_url, js)
        assert differences == [] and stats.events > 30

        # A live figure gone wrong is caught.
        async with system.runtimes["metrics"].context.engine.begin() as db:
            await db.execute(text("INSERT INTO counter_deltas (unit, metric, n) VALUES ('tay-ho-g1-c1', 'accounts_web', 1)"))
        _, differences = await rebuild.verify(database_url, js)
        assert "tay-ho-g1-c1.accounts_web: live 1, from the streams 0" in differences
        assert "city.accounts_installed: live 8, from the streams 7" in differences

        # Replay refuses while the service runs, then rebuilds it all once it is stopped.
        with pytest.raises(RuntimeError, match="running"):
            await rebuild.replay(database_url, js, ack_wait=5, max_ack_pending=100)
        old = system.runtimes["metrics"]
        await old.stop()
        stats = await rebuild.replay(database_url, js, ack_wait=5, max_ack_pending=100)
        assert stats.applied > 30
        fresh = ServiceRuntime(services.metrics.definition(), old.settings, nats_url, database_url)
        await fresh.start()
        try:
            after = await figures_settled(system)  # the API reads what the replay wrote
            assert {u: {n: after[u][n] for n in NAMES} for u in EXPECTED} == \
                {u: {n: before[u][n] for n in NAMES} for u in EXPECTED}
            assert after["city"]["trained_people"] == before["city"]["trained_people"] \
                and after["city"]["funnel"] == before["city"]["funnel"]
            _, differences = await rebuild.verify(database_url, js)
            assert differences == []
        finally:
            await fresh.stop()
    finally:
        await nc.close()
