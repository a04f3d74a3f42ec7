"""Every problem carries a stable `code` a page translates (issue 18): the one its raiser names,
else its status's own; the English title and detail are for people reading the API."""

from __future__ import annotations

import orjson

from sotay.kit.http import Problem, invalid, problem_response


def test_a_problem_carries_its_code_or_its_statuss():
    assert Problem(400, "Sign-in refused", code="bad_credentials").body()["code"] == "bad_credentials"
    assert Problem(404, "Not found").body()["code"] == "not_found"
    assert Problem(429, "Too many attempts", retry_after=30).body()["code"] == "rate_limited"
    assert Problem(502, "Bad gateway").body()["code"] == "server_error"
    assert Problem(418, "Teapot").body()["code"] == "error"
    body = orjson.loads(problem_response(invalid([("phone", "must start with 0, 84 or +84")])).body)
    assert body["code"] == "invalid" and body["errors"] == [{"field": "phone", "reason": "must start with 0, 84 or +84"}]
