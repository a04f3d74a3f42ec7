"""What every refusal must look like: RFC 9457 application/problem+json."""

from __future__ import annotations

import orjson

OAUTH_ERRORS = ("invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
                "invalid_scope", "temporarily_unavailable")


def assert_problem(status: int, headers, content: bytes, *, where: str = "", field: str | None = None) -> dict:
    """The response is a problem document for `status`; a 422 names each field with its reason
    (and `field` among them, when given). Returns the problem."""
    content_type = header(headers, "content-type").split(";")[0].strip()
    problem = orjson.loads(content) if content_type in ("application/problem+json", "application/json") else None
    # The OAuth token endpoint answers as RFC 6749 §5.2 says (application/json, `error`), the problem's
    # members beside; its invalid_request names the fields as a 422 does.
    oauth = content_type == "application/json" and isinstance(problem, dict) and problem.get("error") in OAUTH_ERRORS
    assert content_type == "application/problem+json" or oauth, \
        f"{where}: {status} answered as {content_type!r}: {content[:300]!r}"
    assert isinstance(problem, dict), f"{where}: problem is not an object"
    assert problem.get("status") == status, f"{where}: problem status {problem.get('status')} for {status}"
    assert isinstance(problem.get("title"), str) and problem["title"], f"{where}: problem without a title"
    if oauth:
        assert status != 422 and isinstance(problem.get("error_description"), str), f"{where}: {problem}"
    if status == 422 or (oauth and problem["error"] == "invalid_request" and status == 400):
        errors = problem.get("errors")
        assert isinstance(errors, list) and errors, f"{where}: 422 without errors: {problem}"
        for error in errors:
            assert isinstance(error.get("field"), str) and error["field"], f"{where}: error without field: {error}"
            assert isinstance(error.get("reason"), str) and error["reason"], f"{where}: error without reason: {error}"
        if field is not None:
            assert field in {e["field"] for e in errors}, f"{where}: {field} not among {errors}"
    if status == 401:
        assert header(headers, "www-authenticate").lower().startswith("bearer"), f"{where}: 401 without a challenge"
    return problem


def header(headers, name: str) -> str:
    """A header from httpx's, requests' or schemathesis' headers (the last holds lists)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return ""
