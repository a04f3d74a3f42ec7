"""Every operation of every service's HTTP API, fuzzed from its own OpenAPI
document with schemathesis against the real services (real NATS and
PostgreSQL, a real uvicorn server), with tokens of every role so requests get
past authentication, and with the seeded ids as path parameters as well as
generated ones so they reach past the lookups.

Checked on every response: no 5xx; a 4xx is application/problem+json with
its status, a title and, for 422, each field with its reason; the status
code, the content type and the body conform to what the document says.

Bounded and reproducible: a few examples per operation and generation mode,
derandomized (hypothesis's fixed seed), no example database."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from sotay.kit.auth import ROLES, Grant, mint_token
from tests.attacks.problems import assert_problem
from tests.attacks.tally import count, cover
from tests.attacks.world import COMMITTEES, MEMBERS, STUDY_QUESTIONS
from tests.support.push import a_device
from tests.support.system import CONSENT

pytestmark = pytest.mark.integration

SERVICES = ("members", "identity", "content", "metrics", "webhooks")
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 6}
# An endless server-sent event stream: a plain request would wait on it forever
# (tests/attacks/test_authorization.py checks who may open it).
NOT_FUZZED = {"GET /api/metrics/v1/rollout/stream"}

CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance]


def callers(world) -> list[tuple[str, dict[str, str]]]:
    """Who calls: every role, somewhere in the tree, and members with their own card."""
    out = [("city_admin", world.auth("city_admin")), ("nobody", {})]
    for committee in COMMITTEES:
        out += [(f"{role}@{committee}", world.auth(role, committee))
                for role in ("unit_admin", "editor", "chief_editor")]
    out += [("cell_secretary@bd-g1-c1", world.auth("cell_secretary", "bd-g1-c1"))]
    out += [(f"member {who}", world.member_auth(who)) for who in ("an", "cuong")]
    return out


def known_path_values(world) -> dict[str, list[str]]:
    ids = world.ids
    return {
        "member_id": [ids["member_an"], ids["member_cuong"]],
        "reg_id": [ids["registration_an"], ids["registration_dung"]],
        "article_id": [ids["article_ba-dinh"], ids["article_tay-ho"], ids["draft_ba-dinh"]],
        "feedback_id": [ids["feedback_ba-dinh"]],
        "meeting_id": [ids["meeting_bd-g1-c1"]],
        "topic_id": [ids["study_ba-dinh"]],
        "document_id": [ids["document_ba-dinh"]],
        "request_id": [ids["correction_an"]],
        "subject_request_id": [ids["subject_request_an"]],
        "account_id": [ids["account_cuong"]],
        "code": ["ba-dinh", "th-g1-c1", "city"],
        "cell": ["bd-g1-c1", "th-g1-c1"],
        "number": ["1", "2"],
        "year": [ids["review_year"], "2000"],
        "fmt": ["csv", "xlsx"],
        "endpoint_id": [str(uuid.uuid4())],
        "delivery_id": ["1", "2"],
        "reconciliation_id": [ids["reconciliation_ba-dinh"]],
    }


def strategy(operation, mode: GenerationMode, known: dict[str, list[str]]):
    """Cases with generated parameters, and with each known value for the operation's path parameters."""
    names = [p.name for p in operation.path_parameters]
    variants = [operation.as_strategy(generation_mode=mode)]
    if names and mode is GenerationMode.POSITIVE and all(n in known for n in names):
        for i in range(max(len(known[n]) for n in names)):
            fixed = {n: known[n][i % len(known[n])] for n in names}
            variants.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    return st.one_of(variants)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_survives_fuzzing(world, session, service):
    document = httpx.get(f"{world.base_url}/api/{service}/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    known = known_path_values(world)
    who = callers(world)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    fuzzed = 0
    for operation in operations:
        if operation.label in NOT_FUZZED:
            continue
        cover("endpoints fuzzed by schemathesis", operation.label)
        for mode, examples in EXAMPLES.items():

            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck), print_blob=True,
                      phases=[Phase.explicit, Phase.generate])
            @given(case=strategy(operation, mode, known), caller=st.sampled_from(who))
            def fuzz(case, caller):
                _, headers = caller
                response = case.call(base_url=world.base_url, session=session, headers=headers, timeout=30)
                count("HTTP requests tried by schemathesis")
                count(f"  {mode.value} cases")
                case.validate_response(response, checks=CHECKS, headers=headers)
                if 400 <= response.status_code < 500:
                    assert_problem(response.status_code, response.headers, response.content,
                                   where=f"{case.method} {case.formatted_path}")
            try:
                fuzz()
            except Unsatisfiable:
                # Nothing of the operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
        fuzzed += 1
    assert fuzzed >= len(operations) - len(NOT_FUZZED)



# --- every field with what breaks storage and arithmetic ------------------------------------------------
#
# Random generation rarely writes a NUL character or an unpaired surrogate (hypothesis leaves surrogates
# out) and never the edges of dates and integers. So every parameter and body field of every operation
# (path, query, JSON body, form, multipart) is also given each of these (and a JSON null), one field at a
# time, in an otherwise valid request from a caller holding every role (so it gets as far into the service
# as it can).

TEXTS = ["a\x00b", "\ud800", "x\udfffy"]  # a NUL; unpaired surrogates (JSON's \ud800 escapes make them)
NUMBERS = [2**63, -(2**63) - 1, 2**64 + 1, 10**30, 1e308, -1e308, 5e-324, 0.004, -1, 0]
DATES = ["0001-01-01", "9999-12-31", "10000-01-01", "2023-02-29", "0000-00-00"]
DATETIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.999999Z",
             "0001-01-01T00:00:00Z", "2023-13-01T00:00:00Z"]


def valid_bodies(world) -> dict[str, object]:
    """A body each operation that takes one accepts (or gets past its parsing with), aimed at ba-dinh."""
    an, ids = MEMBERS["an"], world.ids
    return {
        "POST /api/members/v1/org-units": {"code": "bd-g1-fz", "name": "Chi bộ thử", "kind": "cell", "parent": "bd-g1"},
        "POST /api/members/v1/members/search": {"q": an[4], "unit": "bd-g1-c1", "limit": 10},
        "PATCH /api/members/v1/org-units/{code}": {"name": "Chi bộ đổi tên", "wave": 1, "closed": False},
        "POST /api/members/v1/members": {"party_card_no": "0100000091", "full_name": "Người Thử", "unit": "bd-g1-c1",
                                         "date_of_birth": "1980-01-01", "gender": "male", "phone": "0912000991",
                                         "citizen_id": "001080000091", "admitted_on": "2005-01-01",
                                         "official_on": "2006-01-01", "status": "active", "eligible": True},
        "PATCH /api/members/v1/members/{member_id}": {"phone": "0912000777", "full_name": "Nguyễn Văn An",
                                                      "reason": "sửa"},
        "POST /api/members/v1/members/{member_id}/transfers": {"to_unit": "bd-g1-c2", "reason": "chuyển"},
        "POST /api/members/v1/members/{member_id}/status": {"status": "active", "eligible": True,
                                                             "ineligible_reason": None, "reason": "x"},
        "PUT /api/members/v1/members/{member_id}/restriction": {"restricted": False, "reason": "x"},
        "POST /api/members/v1/members/{member_id}/return": {"reason": "x"},
        "POST /api/members/v1/members/{member_id}/corrections": {"changes": {"phone": "0912000888"}, "note": "x"},
        "POST /api/members/v1/corrections/{request_id}/accept": {"reason": "đúng"},
        "POST /api/members/v1/corrections/{request_id}/reject": {"reason": "không đúng"},
        "POST /api/members/v1/me/requests": {"kind": "objection", "asked": "x"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/extend": {"days": 15, "reason": "x"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/complete": {"outcome": "x"},
        "POST /api/members/v1/subject-requests/{subject_request_id}/refuse": {"reason": "x"},
        "POST /api/members/v1/review-cycles": {"year": int(ids["review_year"]) + 1, "self_assessment_due":
                                               f"{int(ids['review_year']) + 1}-12-01",
                                               "decision_due": f"{int(ids['review_year']) + 1}-12-20",
                                               "excellent_cap_pct": 20},
        "PATCH /api/members/v1/review-cycles/{year}": {"decision_due": f"{int(ids['review_year']) + 1}-01-31",
                                                       "excellent_cap_pct": 25},
        "POST /api/members/v1/review-cycles/{year}/reviews/{member_id}/proposal": {"level": "good", "comment": "x"},
        "POST /api/members/v1/review-cycles/{year}/reviews/{member_id}/decision": {"level": "good"},
        "POST /api/members/v1/me/reviews": {"year": int(ids["review_year"]), "self_assessment": "x",
                                            "proposed_level": "good"},
        "POST /api/members/v1/access-history": {"member_ids": [ids["member_an"]], "party_card_nos": [an[1]],
                                                "account": "fuzz-everyone", "since": "2020-01-01T00:00:00+07:00",
                                                "until": "2031-01-01T00:00:00+07:00", "reason": "kiểm tra",
                                                "limit": 10},
        "POST /api/members/v1/access-history/export.{fmt}": {"member_ids": [ids["member_an"]],
                                                             "party_card_nos": [an[1]], "account": "fuzz-everyone",
                                                             "since": "2020-01-01T00:00:00+07:00",
                                                             "until": "2031-01-01T00:00:00+07:00", "reason": "x"},
        "POST /api/members/v1/alerts/{alert_id}/close": {"note": "đã xem"},
        "POST /api/members/v1/imports": ("multipart", {}, "members.csv"),
        "POST /api/members/v1/reconciliations": ("multipart", {}, "members.csv"),
        "POST /api/identity/v1/registrations": {"party_card_no": an[1], "full_name": an[0], "date_of_birth": an[3],
                                                "phone": an[4], "password": "Mot mat khau dai du", "platform": "web", "consent": CONSENT},
        "POST /api/identity/v1/registrations/status": {"party_card_no": an[1], "password": "Mot mat khau dai du"},
        "POST /api/identity/v1/password-resets/lookup": {"party_card_no": an[1]},
        "POST /api/identity/v1/me/consents": {"notice_version": 1, "purposes": ["push"], "platform": "mobile"},
        "POST /api/identity/v1/me/consents/withdraw": {"purposes": ["push"], "platform": "web"},
        "POST /api/identity/v1/password-resets": {"username": an[1], "code": "1234 5678",
                                                  "new_password": "Mot mat khau dai du"},
        "POST /api/identity/v1/registrations/{reg_id}/reject": {"reason": "không đúng"},
        "POST /api/identity/v1/registrations/approve": {"ids": [ids["registration_an"]]},
        "POST /api/identity/v1/accounts/{account_id}/grants": {"role": "editor", "unit": "tay-ho"},
        "POST /api/identity/v1/accounts/{account_id}/grants/revoke": {"role": "editor", "unit": "tay-ho"},
        "POST /api/identity/v1/accounts/{account_id}/disable": {"reason": "thử"},
        "POST /api/identity/v1/token": ("form", {"grant_type": "password", "username": an[1], "password": "x"}),
        "POST /api/identity/v1/token/revoke": ("form", {"token": "not-a-refresh-token"}),
        "POST /api/content/v1/articles": {"title": "Tin thử", "body": "Nội dung", "category": "news",
                                          "audience": ["ba-dinh"], "unit": "ba-dinh", "tags": ["a"],
                                          "summary": "Tóm tắt", "body_format": "markdown", "attachments": []},
        "PUT /api/content/v1/articles/{article_id}": {"title": "Tin thử", "body": "Nội dung", "category": "news",
                                                      "audience": ["ba-dinh"], "tags": ["a"], "summary": "x"},
        "POST /api/content/v1/articles/{article_id}/return": {"comment": "sửa lại"},
        "POST /api/content/v1/articles/{article_id}/approve": {"comment": "được"},
        "POST /api/content/v1/articles/{article_id}/publish": {"publish_at": "2031-01-01T07:00:00+07:00",
                                                               "expires_at": "2031-02-01T07:00:00+07:00"},
        "POST /api/content/v1/articles/{article_id}/retract": {"reason": "rút"},
        "POST /api/content/v1/articles/{article_id}/feedback": {"body": "Tôi đồng ý."},
        "POST /api/content/v1/feedback": {"body": "Thư", "to_unit": "ba-dinh"},
        "POST /api/content/v1/feedback/{feedback_id}/moderate": {"visible": True},
        "POST /api/content/v1/feedback/{feedback_id}/answer": {"body": "Trả lời"},
        "PUT /api/content/v1/units/{code}/settings": {"moderate_feedback": True},
        "POST /api/content/v1/documents": ("multipart", {"title": "Tài liệu", "kind": "other", "number": "1-NQ",
                                                         "issued_on": "2023-01-01", "issuing_body": "Thành ủy",
                                                         "unit": "ba-dinh", "audience": "ba-dinh"}, "tai-lieu.txt"),
        "POST /api/content/v1/meetings": {"cell": "bd-g1-c1", "starts_at": "2031-02-01T19:00:00+07:00",
                                          "place": "Nhà văn hoá", "agenda": "Sinh hoạt", "documents": []},
        "POST /api/content/v1/meetings/{meeting_id}/attendance": {"attending": True, "note": "có"},
        "POST /api/content/v1/meetings/{meeting_id}/record": {"present": [], "excused": {}, "minutes": None},
        "POST /api/content/v1/feeds": {"url": "https://tin.example.vn/rss", "unit": "ba-dinh",
                                       "audience": ["ba-dinh"], "interval_s": 900, "category": "news"},
        "POST /api/content/v1/study/topics": {"title": "Học tập thử", "description": "Đọc rồi làm bài.",
                                              "documents": [ids["document_ba-dinh"]], "audience": ["ba-dinh"],
                                              "unit": "ba-dinh", "questions": STUDY_QUESTIONS},
        "PUT /api/content/v1/study/topics/{topic_id}": {"title": "Học tập thử", "description": "Đọc rồi làm bài.",
                                                         "documents": [], "audience": ["ba-dinh"],
                                                         "questions": STUDY_QUESTIONS},
        "POST /api/content/v1/study/topics/{topic_id}/answers": {"answers": [0, 1]},
        "POST /api/content/v1/notices/seen": {"through": 1},
        "PUT /api/content/v1/notices/choices": {"articles": True, "meetings": True, "account": False},
        "POST /api/content/v1/push-subscriptions": a_device(),
        "POST /api/content/v1/registrations/{registration_id}/push-subscriptions": a_device(),
        "PUT /api/metrics/v1/plan/waves/{number}": {"name": "Đợt thử", "starts_on": "2023-01-01", "target_pct": 50,
                                                     "deadline": "2023-06-30"},
        "POST /api/webhooks/v1/endpoints": {"committee": "ba-dinh", "url": "https://hooks.example.invalid/ba-dinh",
                                            "mode": "structured", "description": "Hệ thống văn bản"},
        "PUT /api/webhooks/v1/endpoints/{endpoint_id}/enabled": {"enabled": False},
        "POST /api/webhooks/v1/deliveries/retry": {},
        "POST /api/metrics/v1/training": {"unit": "ba-dinh", "held_on": "2023-01-10", "topic": "Tập huấn",
                                          "people": 5},
    }


def everyone(world) -> dict[str, str]:
    """A caller holding every role over the whole city, with the card of a member of bd-g1-c1."""
    grants = [Grant(role, "city") for role in ROLES if role != "member"] + [Grant("member", "bd-g1-c1")]
    token = mint_token(world.system.settings.signing_key(), "fuzz-everyone", grants,
                       member_card_no=MEMBERS["an"][1], unit="bd-g1-c1")
    return {"Authorization": f"Bearer {token}"}


def resolved(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def variants(schema: dict, document: dict) -> list[dict]:
    schema = resolved(schema, document)
    alternatives = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [resolved(s, document) for s in alternatives]


def hostile_values(schema: dict, document: dict) -> list:
    """What to put in a field of this schema: the texts in every string, the edges of its numbers and dates,
    each inside a list for an array."""
    out: list = []
    for alternative in variants(schema, document):
        kind, fmt = alternative.get("type"), alternative.get("format")
        if kind == "string":
            out += TEXTS + (DATES if fmt == "date" else DATETIMES if fmt == "date-time" else [])
        elif kind in ("integer", "number"):
            out += NUMBERS
        elif kind == "array":
            out += [[value] for value in hostile_values(alternative.get("items", {}), document)]
        elif kind == "object":
            out += [{text: "x"} for text in TEXTS] + [{"phone": text} for text in TEXTS]
    return out + [None]  # and an explicit null, which an optional field's schema allows


def encoded(value) -> str:
    """A value for a URL: UTF-8 percent-encoded, unpaired surrogates as the bytes they would be."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def requests_for(world, label: str, path: str, op: dict, document: dict,
                 known: dict) -> list[tuple[str, dict, str | None]]:
    """(what was made hostile, httpx request arguments, the field a 422 must name when the value is
    text that cannot be stored) for every field of the operation."""
    method = label.split(" ", 1)[0]
    params = op.get("parameters", [])
    path_values = {p["name"]: known.get(p["name"], ["x"])[0] for p in params if p["in"] == "path"}
    body_spec = op.get("requestBody")
    bodies = valid_bodies(world)
    base = bodies.get(label, {})
    assert label in bodies or not (body_spec or {}).get("required"), f"{label} takes a body: add one to valid_bodies"

    def args(path_values=path_values, query=(), body=base) -> dict:
        url = path.format(**{k: encoded(v) for k, v in path_values.items()})
        if query:
            url += "?" + "&".join(f"{encoded(k)}={encoded(v)}" for k, v in query)
        out: dict = {"method": method, "url": world.base_url + url}
        if isinstance(body, tuple) and body[0] == "form":
            out["content"] = "&".join(f"{encoded(k)}={encoded(v)}" for k, v in body[1].items())
            out["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
        elif isinstance(body, tuple) and body[0] == "multipart":
            _, fields, filename = body
            out["content"], out["headers"] = multipart(fields, filename,
                                                       CSV_FILE if filename.endswith(".csv") else b"noi dung")
        elif body_spec is not None:
            out["content"] = json.dumps(body)
            out["headers"] = {"Content-Type": "application/json"}
        return out

    found: list[tuple[str, dict, str | None]] = []

    def unstorable(value, field: str, *, in_url: bool = False) -> str | None:
        """`field` when the value must be refused: a NUL anywhere; an unpaired surrogate in JSON (a URL
        or a form carries UTF-8 bytes, and bytes that are no UTF-8 arrive as U+FFFD, which is stored)."""
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(text, str) or text not in TEXTS:
            return None
        return field if "\x00" in text or not in_url else None
    for p in params:
        for value in hostile_values(p.get("schema", {}), document):
            if isinstance(value, list):
                value = value[0]
            if value is None:  # a URL has no null
                continue
            if p["in"] == "path":
                found.append((f"path {p['name']}={value!r}", args(path_values={**path_values, p["name"]: value}),
                              unstorable(value, p["name"], in_url=True)))
            elif p["in"] == "query":
                found.append((f"query {p['name']}={value!r}", args(query=[(p["name"], value)]),
                              unstorable(value, p["name"], in_url=True)))
    if isinstance(base, tuple):
        kind, fields, filename = (*base, None) if base[0] == "form" else base
        for name in fields:
            for text in TEXTS if kind == "form" else TEXTS[:1]:  # multipart text comes as UTF-8: NUL only
                changed = (kind, {**fields, name: text}) if kind == "form" else (kind, {**fields, name: text}, filename)
                found.append((f"{kind} {name}={text!r}", args(body=changed), unstorable(text, name, in_url=True)))
        if kind == "multipart":
            found.append(("multipart file name with NUL", args(body=(kind, fields, "a\x00b.csv")), "file"))
    elif body_spec is not None:
        schema = resolved(next(iter(body_spec["content"].values()))["schema"], document)
        properties = {}
        for alternative in variants(schema, document):
            properties.update(alternative.get("properties", {}))
        for name, field_schema in properties.items():
            for value in hostile_values(field_schema, document):
                found.append((f"body {name}={value!r}", args(body={**base, name: value}), unstorable(value, name)))
        for name, value in base.items():
            if isinstance(value, dict):  # a free-form object (a correction's changes): its values and keys
                for text in TEXTS:
                    found.append((f"body {name}.*={text!r}", args(body={**base, name: {**value, "phone": text}}),
                                  name))
                    found.append((f"body {name} key {text!r}", args(body={**base, name: {text: "x"}}), name))
    return found


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand: clients percent-encode a file name, an attacker need not."""
    boundary = "sotay-fuzz-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: text/plain\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def send(client: httpx.Client, label: str, request: dict) -> httpx.Response:
    """The request's answer, asked again once on a fresh connection if the one it went on was dropped
    (uvicorn drops a connection after a server error, and the client may have picked it up again)."""
    for attempt in (1, 2):
        try:
            if label in NOT_FUZZED:  # an endless stream: its head tells
                with client.stream(**request) as response:
                    response.read() if response.status_code >= 400 else None
                return response
            return client.request(**request)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


CSV_FILE = b"party_card_no,full_name,date_of_birth,unit\n0100000092,Nguyen Thu,1980-01-01,bd-g1-c1\n"


def test_every_field_of_every_operation_refuses_what_cannot_be_stored_or_counted(world):
    caller = everyone(world)
    known = known_path_values(world)
    server_errors, tried = [], 0
    with httpx.Client(timeout=30) as client:
        for service in SERVICES:
            document = client.get(f"{world.base_url}/api/{service}/v1/openapi.json").json()
            for path, methods in document["paths"].items():
                for method, op in methods.items():
                    label = f"{method.upper()} {path}"
                    for what, request, field in requests_for(world, label, path, op, document, known):
                        request["headers"] = {**request.get("headers", {}), **caller}
                        tried += 1
                        count("hostile field values tried")
                        try:
                            response = send(client, label, request)
                        except httpx.TransportError as exc:  # the server failed before it could answer
                            server_errors.append(f"{label} {what}: no answer ({exc!r})")
                            continue
                        if response.status_code >= 500:
                            server_errors.append(f"{label} {what}: {response.status_code} {response.text[:160]}")
                        elif response.status_code >= 400:
                            problem = assert_problem(response.status_code, response.headers, response.content,
                                                     where=f"{label} {what}")
                        if field is not None:  # refused at the door, whoever asks, naming where it came
                            # (the OAuth token endpoint's is RFC 6749's 400 invalid_request)
                            assert response.status_code == (400 if problem.get("error") == "invalid_request" else 422), \
                                f"{label} {what}: {response.status_code}"
                            named = {e["field"] for e in problem["errors"]}
                            assert any(n == field or n.startswith(field + ".") for n in named), \
                                f"{label} {what}: the problem names {named}"
                    cover("endpoints given NUL, unpaired surrogates, extreme numbers and dates", label)
    assert not server_errors, f"{len(server_errors)} requests got a server error:\n" + "\n".join(server_errors)
    assert tried > 600
