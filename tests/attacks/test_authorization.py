"""No one gets outside their unit. Every operation of every service is taken
from its OpenAPI document (so a new endpoint is covered the day it is added)
and called:

- without a token: 401 problem+json, unless the operation is one of the few
  public ones listed here;
- with the most a tay-ho insider can hold (member of a tay-ho cell, cell
  secretary there, unit admin, editor and chief editor of tay-ho) against
  ba-dinh's units, members, registrations, articles, feedback, meetings, study
  topics and correction requests: an operation that takes a unit or a member is refused
  (403, or 404 where the service hides what exists; 422 only where the unit
  is a field the caller may not name), every answer leaks nothing of
  ba-dinh, and nothing changes in any service's tables;
- as a member: one's own record, never another member's.
"""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from sotay.kit.auth import Grant, mint_token
from tests.attacks.problems import assert_problem
from tests.attacks.tally import count, cover
from tests.attacks.world import MEMBERS, REVIEW_WORDS, STUDY_QUESTIONS, changed_between
from tests.support.push import a_device
from tests.support.system import CONSENT

pytestmark = pytest.mark.integration

SERVICES = ("members", "identity", "content", "metrics", "webhooks")
# Open to anyone: the org tree, registering (and the privacy notice it agrees to), a registrant's own status,
# signing in, the public keys. (The rollout gauges are the scraper's: tests/integration/test_observability.py.)
PUBLIC = {
    "GET /api/members/v1/org-units", "GET /api/members/v1/org-units/{code}",
    "POST /api/identity/v1/registrations", "POST /api/identity/v1/registrations/status",
    "POST /api/identity/v1/password-resets",  # a member's reset: the one-time code is the credential
    "POST /api/identity/v1/token", "POST /api/identity/v1/token/revoke",  # the refresh token is the credential
    "GET /api/identity/v1/.well-known/jwks.json",
    "GET /api/identity/v1/.well-known/oauth-authorization-server",  # RFC 8414 metadata
    "GET /api/identity/v1/privacy-notice",  # read before registering
    "GET /api/content/v1/push/key",  # the public half of the push key
    # A registrant's device, before any account: the registration's id, given to the registrant alone, is the credential.
    "POST /api/content/v1/registrations/{registration_id}/push-subscriptions",
}
# Names of parameters and body fields that point at a unit or a member.
UNITISH = {"unit", "cell", "to_unit", "parent", "audience", "code", "ids", "member_id", "member_ids",
           "party_card_nos"}


def ba_dinh_bodies(world) -> dict[str, object]:
    """A body for each operation that takes one, valid in every way but its unit: ba-dinh's."""
    an = MEMBERS["an"]
    return {
        "POST /api/members/v1/org-units": {"code": "bd-g9", "name": "Đảng bộ lạ", "kind": "grassroots",
                                           "parent": "ba-dinh"},
        "PATCH /api/members/v1/org-units/{code}": {"name": "Chi bộ bị đổi tên"},
        "POST /api/members/v1/members": {"party_card_no": "0100000099", "full_name": "Người Lạ", "unit": "bd-g1-c1",
                                         "date_of_birth": "1980-01-01"},
        "POST /api/members/v1/members/search": {"q": MEMBERS["an"][4], "unit": "bd-g1-c1"},
        "PATCH /api/members/v1/members/{member_id}": {"phone": "0912000777"},
        "POST /api/members/v1/members/{member_id}/transfers": {"to_unit": "th-g1-c1"},
        "POST /api/members/v1/members/{member_id}/status": {"status": "deceased", "eligible": False,
                                                             "ineligible_reason": "từ trần"},
        "PUT /api/members/v1/members/{member_id}/restriction": {"restricted": True, "reason": "theo yêu cầu"},
        "POST /api/members/v1/members/{member_id}/return": {"reason": "về sớm"},
        "POST /api/members/v1/members/{member_id}/corrections": {"changes": {"phone": "0912000888"}},
        "POST /api/members/v1/corrections/{request_id}/accept": {},
        "POST /api/members/v1/corrections/{request_id}/reject": {"reason": "không đúng"},
        "POST /api/members/v1/me/requests": {"kind": "erasure", "asked": "xoá hộ"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/extend": {"days": 15, "reason": "gia hạn hộ"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/complete": {"outcome": "đã xong"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/refuse": {"reason": "từ chối hộ"},
        "POST /api/members/v1/review-cycles": {"year": 2099, "self_assessment_due": "2099-12-01",
                                               "decision_due": "2099-12-20"},
        "PATCH /api/members/v1/review-cycles/{year}": {"excellent_cap_pct": 90},
        "POST /api/members/v1/review-cycles/{year}/reviews/{member_id}/proposal": {"level": "not_done",
                                                                                   "comment": "đề xuất hộ"},
        "POST /api/members/v1/review-cycles/{year}/reviews/{member_id}/decision": {"level": "not_done"},
        # Their own self-assessment: Cường's review is decided already (world.py), so it changes nothing.
        "POST /api/members/v1/me/reviews": {"year": int(world.ids["review_year"]), "self_assessment": "viết hộ",
                                            "proposed_level": "excellent"},
        "POST /api/members/v1/access-history": {"party_card_nos": [an[1]], "reason": "dò xem"},
        "POST /api/members/v1/access-history/export.{fmt}": {"member_ids": [world.ids["member_an"]]},
        "POST /api/members/v1/alerts/{alert_id}/close": {"note": "đóng hộ"},
        "POST /api/members/v1/imports": ("file", "party_card_no,full_name,date_of_birth,unit\n"
                                         "0100000098,Người Lạ,1980-01-01,bd-g1-c1\n"),
        "POST /api/members/v1/reconciliations": ("file", "party_card_no,full_name,date_of_birth,unit\n"
                                                 f"{an[1]},Người Lạ,1980-01-01,bd-g1-c1\n"),
        "POST /api/identity/v1/registrations/{reg_id}/reject": {"reason": "không đúng"},
        "POST /api/identity/v1/registrations/approve": {"ids": [world.ids["registration_an"]]},
        "POST /api/identity/v1/accounts/{account_id}/grants": {"role": "unit_admin", "unit": "ba-dinh"},
        "POST /api/identity/v1/accounts/{account_id}/grants/revoke": {"role": "cell_secretary", "unit": "bd-g1-c1"},
        "POST /api/identity/v1/accounts/{account_id}/disable": {"reason": "nghỉ công tác"},
        "POST /api/identity/v1/token/revoke": ("form", {"token": "not-a-refresh-token"}),
        "POST /api/identity/v1/registrations": {"party_card_no": an[1], "full_name": an[0], "date_of_birth": an[3],
                                                "phone": an[4], "password": "x", "platform": "web", "consent": CONSENT},
        "POST /api/identity/v1/registrations/status": {"party_card_no": an[1], "password": "wrong password"},
        "POST /api/identity/v1/password-resets/lookup": {"party_card_no": an[1]},
        "POST /api/identity/v1/me/consents": {"notice_version": 1, "purposes": ["push"], "platform": "web"},
        "POST /api/identity/v1/me/consents/withdraw": {"purposes": ["push"], "platform": "web"},
        "POST /api/identity/v1/password-resets": {"username": an[1], "code": "1234 5678",
                                                  "new_password": "Mot mat khau dai du"},
        "POST /api/identity/v1/token": ("form", {"grant_type": "password", "username": an[1], "password": "x"}),
        "POST /api/content/v1/articles": {"title": "Tin lạ", "body": "x", "category": "news",
                                          "audience": ["ba-dinh"], "unit": "ba-dinh"},
        "PUT /api/content/v1/articles/{article_id}": {"title": "Tin lạ", "body": "x", "category": "news",
                                                      "audience": ["ba-dinh"]},
        "POST /api/content/v1/articles/{article_id}/return": {"comment": "sửa lại"},
        "POST /api/content/v1/articles/{article_id}/retract": {"reason": "rút"},
        "POST /api/content/v1/articles/{article_id}/feedback": {"body": "Tôi không đồng ý."},
        "POST /api/content/v1/feedback": {"body": "Thư lạ", "to_unit": "ba-dinh"},
        "POST /api/content/v1/feedback/{feedback_id}/moderate": {"visible": False},
        "POST /api/content/v1/feedback/{feedback_id}/answer": {"body": "Trả lời lạ"},
        "PUT /api/content/v1/units/{code}/settings": {"moderate_feedback": False},
        "POST /api/content/v1/documents": ("multipart", {"title": "Tài liệu lạ", "unit": "ba-dinh"}),
        "POST /api/content/v1/meetings": {"cell": "bd-g1-c1", "starts_at": "2030-02-01T19:00:00+07:00",
                                          "place": "x", "agenda": "x"},
        "POST /api/content/v1/meetings/{meeting_id}/attendance": {"attending": False},
        "POST /api/content/v1/meetings/{meeting_id}/record": {"present": []},
        "POST /api/content/v1/study/topics": {"title": "Học tập lạ", "description": "x", "audience": ["ba-dinh"],
                                              "unit": "ba-dinh", "questions": STUDY_QUESTIONS},
        "PUT /api/content/v1/study/topics/{topic_id}": {"title": "Học tập lạ", "description": "x",
                                                         "audience": ["ba-dinh"], "questions": STUDY_QUESTIONS},
        "POST /api/content/v1/study/topics/{topic_id}/answers": {"answers": [0, 0]},
        "POST /api/content/v1/notices/seen": {"through": 1},
        "PUT /api/content/v1/notices/choices": {"articles": True, "meetings": True, "account": True},
        "POST /api/content/v1/push-subscriptions": a_device(),
        "POST /api/content/v1/registrations/{registration_id}/push-subscriptions": a_device(),
        "POST /api/content/v1/feeds": {"url": "https://example.org/rss", "unit": "ba-dinh",
                                       "audience": ["ba-dinh"]},
        "PUT /api/metrics/v1/plan/waves/{number}": {"name": "Đợt lạ", "starts_on": "2023-01-01", "target_pct": 50,
                                                     "deadline": "2023-06-30"},
        "POST /api/webhooks/v1/endpoints": {"committee": "ba-dinh", "url": "https://hooks.example.invalid/ba-dinh",
                                            "mode": "structured", "description": "Hệ thống văn bản"},
        "PUT /api/webhooks/v1/endpoints/{endpoint_id}/enabled": {"enabled": False},
        "POST /api/webhooks/v1/deliveries/retry": {},
        "POST /api/metrics/v1/training": {"unit": "ba-dinh", "held_on": "2023-01-10", "topic": "Tập huấn",
                                          "people": 5},
    }


def ba_dinh_path_values(world) -> dict[str, str]:
    ids = world.ids
    return {"code": "bd-g1-c1", "cell": "bd-g1-c1", "member_id": ids["member_an"], "reg_id": ids["registration_an"],
            "article_id": ids["article_ba-dinh"], "feedback_id": ids["feedback_ba-dinh"],
            "meeting_id": ids["meeting_bd-g1-c1"], "request_id": ids["correction_an"],
            "subject_request_id": ids["subject_request_an"],
            "account_id": ids["account_giang"], "document_id": ids["document_ba-dinh"],
            "import_id": str(uuid.uuid4()), "feed_id": str(uuid.uuid4()), "number": "1", "fmt": "csv",
            "registration_id": ids["registration_an"], "subscription_id": ids["push_ba-dinh"],
            "alert_id": str(uuid.uuid4()), "topic_id": ids["study_ba-dinh"], "year": ids["review_year"],
            "endpoint_id": str(uuid.uuid4()), "delivery_id": "1",
            "reconciliation_id": ids["reconciliation_ba-dinh"]}


BA_DINH_QUERY = {"unit": "ba-dinh", "cell": "bd-g1-c1", "parent": "bd-g1"}


def markers(world) -> list[str]:
    """Text that only ba-dinh's data holds: none of it may reach a tay-ho caller."""
    out = []
    for who in ("an", "binh"):
        name, card, _, _, phone = MEMBERS[who]
        out += [name, card, "+84" + phone[1:], world.ids[f"member_{who}"]]
    out += [world.ids[k] for k in ("registration_an", "article_ba-dinh", "draft_ba-dinh", "feedback_ba-dinh",
                                   "meeting_bd-g1-c1", "correction_an", "study_ba-dinh", "review_an")]
    return out + ["Tôi đồng ý", "Nghị quyết của ba-dinh", world.ids["document_ba-dinh"], "Chỉ thị 05", REVIEW_WORDS]


def operations(world):
    """Every documented operation: (label, method, path template, its operation object)."""
    for service in SERVICES:
        document = httpx.get(f"{world.base_url}/api/{service}/v1/openapi.json").json()
        for path, methods in document["paths"].items():
            for method, op in methods.items():
                yield f"{method.upper()} {path}", method.upper(), path, op, document


def takes_unit_or_member(op: dict, document: dict) -> bool:
    names = {p["name"] for p in op.get("parameters", [])}
    for content in op.get("requestBody", {}).get("content", {}).values():
        schema = content.get("schema", {})
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        names |= set(schema.get("properties", {}))
    return bool(names & UNITISH) or any(p.get("in") == "path" for p in op.get("parameters", []))


def request(world, method: str, path: str, op: dict, headers: dict[str, str]) -> httpx.Response:
    values = ba_dinh_path_values(world)
    url = world.base_url + path.format(**{p["name"]: values[p["name"]] for p in op.get("parameters", [])
                                          if p["in"] == "path"})
    query = {p["name"]: BA_DINH_QUERY[p["name"]] for p in op.get("parameters", [])
             if p["in"] == "query" and p["name"] in BA_DINH_QUERY}
    label = f"{method} {path}"
    kwargs: dict = {"params": query, "headers": headers, "timeout": 30}
    if op.get("requestBody", {}).get("required"):
        bodies = ba_dinh_bodies(world)
        assert label in bodies, f"{label} takes a body: add one aimed at ba-dinh to ba_dinh_bodies"
        body = bodies[label]
        if isinstance(body, tuple) and body[0] == "file":
            kwargs["files"] = {"file": ("members.csv", body[1].encode(), "text/csv")}
            kwargs["params"] = {**query, "wait": "true"}
        elif isinstance(body, tuple) and body[0] == "multipart":
            kwargs["data"] = body[1]
            kwargs["files"] = {"file": ("lạ.txt", b"noi dung", "text/plain")}
        elif isinstance(body, tuple) and body[0] == "form":
            kwargs["data"] = body[1]
        else:
            kwargs["json"] = body
    if label == "GET /api/metrics/v1/rollout/stream":  # an endless stream: its head tells
        with httpx.stream(method, url, **kwargs) as response:
            response.read() if response.status_code >= 400 else None
            return response
    count("authorization requests tried")
    return httpx.request(method, url, **kwargs)


def outsider(world) -> dict[str, str]:
    """Everything a tay-ho insider can hold, and the card of a tay-ho member."""
    grants = [Grant("member", "th-g1-c1"), Grant("cell_secretary", "th-g1-c1")] + [
        Grant(role, "tay-ho") for role in ("unit_admin", "editor", "chief_editor")]
    token = mint_token(world.system.settings.signing_key(), "account-cuong", grants,
                       member_card_no=MEMBERS["cuong"][1], unit="th-g1-c1")
    return {"Authorization": f"Bearer {token}"}


def test_every_operation_but_the_public_ones_needs_a_token(world):
    before = world.quiet_digests()
    seen = set()
    for label, method, path, op, _ in operations(world):
        seen.add(label)
        if label in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}):
            response = request(world, method, path, op, headers)
            assert response.status_code == 401, f"{label} without a usable token: {response.status_code}"
            assert_problem(401, response.headers, response.content, where=label)
        cover("endpoints refusing a call without a token (401)", label)
    assert PUBLIC <= seen, f"public operations no longer documented: {PUBLIC - seen}"
    assert world.changed_since(before) == []


def test_an_insider_of_another_committee_is_refused_and_changes_nothing(world):
    before = world.quiet_digests()
    last_read = world.scalar("members", "SELECT coalesce(max(id), 0) FROM record_reads")
    secrets = markers(world)
    refused, answered = [], []
    for label, method, path, op, document in operations(world):
        response = request(world, method, path, op, outsider(world))
        shown = response.text
        # What the caller sent may come back (a problem's instance, a bulk answer's ids): nothing else may.
        sent = str(response.request.url) + response.request.read().decode(errors="replace")
        leaked = [m for m in secrets if m in shown and m not in sent]
        assert not leaked, f"{label} showed a tay-ho insider ba-dinh's {leaked}: {response.text[:300]}"
        cover("endpoints checked for leaks to another committee", label)
        if label in PUBLIC or not takes_unit_or_member(op, document):
            answered.append(label)
            continue
        if response.status_code == 200 and method == "GET" and not any(
                p["in"] == "path" for p in op.get("parameters", [])):
            answered.append(label)  # a filter of the caller's own units: it found nothing of ba-dinh
            continue
        if label == "POST /api/members/v1/members/search":  # a search of the caller's own units (in a body)
            assert response.status_code == 200 and response.json()["items"] == [], response.text
        elif label == "POST /api/members/v1/imports":  # rows outside the caller's units are refused one by one
            assert response.status_code == 200 and response.json()["imported"] == 0, response.text
        elif label == "POST /api/members/v1/reconciliations":  # ba-dinh's rows are outside the caller's units
            got = response.json()
            assert response.status_code == 201 and got["rows_outside"] == 1, response.text
            assert (got["totals"]["new"], got["totals"]["changed"]) == (0, 0), response.text
        elif label == "POST /api/identity/v1/registrations/approve":  # bulk: each refused on its own
            assert response.status_code == 200 and response.json()["approved"] == 0, response.text
        elif label == "POST /api/content/v1/feedback":  # a member writes to their own unit or above only
            assert response.status_code == 422, response.text
            assert_problem(422, response.headers, response.content, where=label, field="to_unit")
        else:
            assert response.status_code in (403, 404), f"{label} let a tay-ho insider in: {response.status_code} " \
                                                       f"{response.text[:300]}"
            assert_problem(response.status_code, response.headers, response.content, where=label)
        refused.append(label)
        cover("endpoints taking a unit or a member refusing another committee", label)
    assert len(refused) >= 40, refused
    after = world.quiet_digests()
    changed = changed_between(before, after)
    # What a refusal is meant to leave: a failed sign-in counts (it slows guessing), so does a registration
    # (its address's budget), an import keeps its report; and the insider's read of their own record
    # (GET /members/me) is audited; the insider's own notification choices and devices are theirs to set,
    # and so is a data-subject request of their own (POST /me/requests: the card in their token names them).
    # A reconciliation of a file of ba-dinh's rows compares the insider's own units only (kept, like an import).
    assert changed <= {"identity.throttle_windows", "members.imports", "members.record_reads",
                       "members.reconciliations", "members.reconciliation_items",
                       "content.notice_settings", "content.push_subscriptions", "members.subject_requests"}, \
        f"a refused request changed {sorted(changed)}"
    reads = world.scalar("members", "SELECT array_agg(DISTINCT actor || ' ' || what) FROM record_reads WHERE id > :id",
                         id=last_read)
    # The insider's own reads only: their own record, and the data-subject requests of their own units
    # (the one they sent themselves, listed back to them as tay-ho's unit admin).
    assert set(reads or []) <= {"account-cuong self", "account-cuong requests"}, reads


def test_a_member_reads_their_own_record_and_no_one_elses(world):
    cuong = world.member_auth("cuong")
    own = httpx.get(f"{world.base_url}/api/members/v1/members/me", headers=cuong)
    assert own.status_code == 200 and own.json()["party_card_no"] == MEMBERS["cuong"][1]
    for who in ("an", "dung"):  # in another committee, and in the same cell
        member_id = world.ids[f"member_{who}"]
        for method, path, body in (("GET", "", None), ("GET", "/history", None),
                                   ("POST", "/corrections", {"changes": {"phone": "0912000555"}}),
                                   ("PATCH", "", {"phone": "0912000555"})):
            response = httpx.request(method, f"{world.base_url}/api/members/v1/members/{member_id}{path}",
                                     headers=cuong, json=body)
            count("authorization requests tried")
            assert response.status_code == 403, (who, method, path, response.text)
            assert_problem(403, response.headers, response.content)
            assert MEMBERS[who][0] not in response.text
    search = httpx.get(f"{world.base_url}/api/members/v1/members", params={"q": "nguyen"}, headers=cuong)
    assert search.status_code == 403
    registration = httpx.get(f"{world.base_url}/api/identity/v1/registrations/{world.ids['registration_dung']}",
                             headers=cuong)
    assert registration.status_code == 403 and orjson.loads(registration.content)["status"] == 403


def test_staff_without_a_card_write_feedback_only_to_their_own_unit_or_above(world):
    editor = world.auth("editor", "tay-ho")  # staff: no member card
    before = world.quiet_digests()["content"]["feedback"]
    for unit in ("ba-dinh", "th-g1-c1"):  # another committee, and a unit below the token's
        response = httpx.post(f"{world.base_url}/api/content/v1/feedback", headers=editor,
                              json={"body": "Thư lạ", "to_unit": unit})
        assert response.status_code == 422, response.text
        assert_problem(422, response.headers, response.content, where=unit, field="to_unit")
    assert world.quiet_digests()["content"]["feedback"] == before
    own = httpx.post(f"{world.base_url}/api/content/v1/feedback", headers=editor,
                     json={"body": "Góp ý của ban", "to_unit": "tay-ho"})
    assert own.status_code == 201, own.text
