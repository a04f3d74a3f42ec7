"""Hostile input on the JSON endpoints: deeply nested JSON, wrong content
types, oversized bodies, Vietnamese names written with combining marks (NFD) or precomposed
(NFC), invisible characters, SQL and HTML injection in every free-text field,
LIKE wildcards in searches. Each is refused as a 4xx problem (naming the
field where there is one) or stored as the text it is; never a 500, never
executed, and a refusal writes nothing."""

from __future__ import annotations

import unicodedata

import httpx
import pytest

from tests.attacks.problems import assert_problem
from tests.attacks.tally import count
from tests.attacks.world import MEMBERS, PASSWORD
from tests.support.system import CONSENT

pytestmark = pytest.mark.integration

SQL = ["'; DROP TABLE members; --", "\" OR 1=1 --", "%", "_", "\\", "%_%", "Nguy%n"]
HTML = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<a href=\"javascript:alert(1)\">x</a>"]
ODD = ["\u200bNguyễn\u200b", "\u202eNguyễn", "Nguyễn 🇻🇳", "x" * 100_000, "\u0000"]


def post(world, path: str, headers: dict, **kw) -> httpx.Response:
    count("hostile HTTP requests tried")
    return httpx.post(world.base_url + path, headers=headers, timeout=30, **kw)


def get(world, path: str, headers: dict, **kw) -> httpx.Response:
    count("hostile HTTP requests tried")
    return httpx.get(world.base_url + path, headers=headers, timeout=30, **kw)


def test_deep_nesting_and_wrong_content_types_are_refused_and_write_nothing(world):
    admin = world.auth("city_admin")
    before = world.quiet_digests()
    deep = b'{"name":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    for path in ("/api/members/v1/members", "/api/content/v1/articles", "/api/identity/v1/registrations",
                 "/api/metrics/v1/training", "/api/members/v1/org-units"):
        editor = world.auth("editor", "ba-dinh") if "content" in path else admin
        for content, content_type in ((deep, "application/json"), (b'{"full_name": "An"}', "text/plain"),
                                      (b"full_name=An&unit=bd-g1-c1", "application/x-www-form-urlencoded"),
                                      (b'{"full_name": "An"}', None), (b"\xff\xfe{", "application/json"),
                                      (b"", "application/json"), (b"[1, 2]", "application/json")):
            headers = {**editor, **({"Content-Type": content_type} if content_type else {})}
            response = post(world, path, headers, content=content)
            assert 400 <= response.status_code < 500, (path, content_type, response.status_code, response.text[:200])
            assert_problem(response.status_code, response.headers, response.content, where=path)
    assert world.changed_since(before) == []


def test_oversized_bodies_are_refused_with_413_and_write_nothing(world):
    admin = world.auth("city_admin")
    before = world.quiet_digests()
    huge = b'{"full_name": "' + b"a" * (3 * 2**20) + b'"}'

    def streamed():  # no Content-Length: refused once the bytes received pass the limit
        yield huge[: 2**20]
        yield huge[2**20:]
    for path in ("/api/members/v1/members", "/api/identity/v1/registrations", "/api/content/v1/articles"):
        for content in (huge, streamed()):
            response = post(world, path, {**admin, "Content-Type": "application/json"}, content=content)
            assert response.status_code == 413, (path, response.status_code, response.text[:200])
            assert_problem(response.status_code, response.headers, response.content, where=path)
    assert world.changed_since(before) == []


def test_nfd_and_nfc_names_find_and_match_the_same_member(world):
    admin = world.auth("city_admin")
    name = MEMBERS["an"][0]
    for written in (unicodedata.normalize("NFC", name), unicodedata.normalize("NFD", name), "nguyen van an",
                    unicodedata.normalize("NFD", name).upper()):
        found = get(world, "/api/members/v1/members", admin, params={"q": written}).json()["items"]
        assert [m["full_name"] for m in found] == [name], written
    # Bình registers with her name decomposed (as some phone keyboards write it): the registry check matches.
    full_name, card, _, dob, phone = MEMBERS["binh"]
    response = post(world, "/api/identity/v1/registrations", {}, json={
        "party_card_no": card, "full_name": unicodedata.normalize("NFD", full_name), "date_of_birth": dob,
        "phone": phone, "password": PASSWORD, "platform": "web", "consent": CONSENT})
    assert response.status_code == 202, response.text
    queue = get(world, "/api/identity/v1/registrations", world.auth("unit_admin", "ba-dinh")).json()["items"]
    mine = [r for r in queue if r["id"] == response.json()["id"]]
    assert mine and mine[0]["match_result"] == "matched", mine
    assert mine[0]["full_name"] == unicodedata.normalize("NFC", full_name)  # stored composed


def test_invisible_and_control_characters_in_names_are_refused_with_the_field(world):
    admin = world.auth("city_admin")
    before = world.digest("members")
    for name in ("Nguyễn\u200bAn", "\u202eNguyễn An", "Nguyễn\u0000An", "x" * 5000, "🇻🇳🇻🇳"):
        response = post(world, "/api/members/v1/members", admin, json={
            "party_card_no": "0100000077", "full_name": name, "date_of_birth": "1980-01-01", "unit": "bd-g1-c1"})
        assert response.status_code == 422, (name[:20], response.text)
        assert_problem(422, response.headers, response.content, field="full_name")
    assert world.digest("members") == before


def test_injection_in_searches_is_text(world):
    admin, member = world.auth("city_admin"), world.member_auth("an")
    everyone = len(get(world, "/api/members/v1/members", admin).json()["items"])
    for q in SQL + HTML + ODD[:3]:
        members = get(world, "/api/members/v1/members", admin, params={"q": q})
        assert members.status_code in (200, 422), (q, members.text)
        if members.status_code == 200:
            assert len(members.json()["items"]) < everyone, f"{q!r} matched every member"
        for path in ("/api/content/v1/search", "/api/content/v1/documents"):
            response = get(world, path, member, params={"q": q})
            assert response.status_code in (200, 422), (path, q, response.text)
            if response.status_code == 422:
                assert_problem(422, response.headers, response.content, field="q")
            else:
                body = response.json()
                found = body["articles"] + body["documents"] if "articles" in body else body["items"]
                assert not found, f"{path}: {q!r} is a wildcard: it found {[f.get('title') for f in found]}"
    assert world.scalar("members", "SELECT count(*) FROM members") >= len(MEMBERS)  # the tables are there


def test_injection_in_free_text_is_stored_as_text_and_html_is_sanitised(world):
    editor, member = world.auth("editor", "ba-dinh"), world.member_auth("an")
    for attack in SQL + HTML:
        article = post(world, "/api/content/v1/articles", editor, json={
            "title": f"Tin {attack}", "summary": attack, "body": f"Nội dung {attack}", "category": "news",
            "audience": ["ba-dinh"], "tags": [attack[:50]]})
        assert article.status_code == 201, article.text
        body = article.json()
        assert body["title"] == f"Tin {attack}".strip()  # plain text fields keep what was written
        html = body["body_html"].lower()
        assert "<script" not in html and "onerror" not in html and "javascript:" not in html, html
        feedback = post(world, f"/api/content/v1/articles/{world.ids['article_ba-dinh']}/feedback", member,
                        json={"body": attack})
        assert feedback.status_code == 201 and feedback.json()["body"] == attack.strip(), feedback.text
        rejection = post(world, f"/api/members/v1/corrections/{world.ids['correction_an']}/reject",
                         world.auth("city_admin"), json={"reason": attack})
        assert rejection.status_code in (200, 409), rejection.text
    assert world.scalar("members", "SELECT count(*) FROM members") >= len(MEMBERS)
    assert world.scalar("content", "SELECT count(*) FROM articles") > 3
