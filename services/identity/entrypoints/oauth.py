"""The token endpoint as OAuth 2.0 clients read it: its errors as RFC 6749 §5.2 writes them
(`application/json`, `error` and `error_description`), with the problem members the pages read
beside them (`code`, which a page translates into Vietnamese, `title`, `status`, `errors`); its
form read here, so that even a refusal at the door (a NUL in a field, a body too large) answers so.
And the authorization server's metadata (RFC 8414)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi.responses import Response

from sotay.kit.http import Problem

# RFC 6749 §5.2's codes; a refusal of the service as a whole (throttled, busy, a body too large)
# has none of its own there: `temporarily_unavailable` (§4.1.2.1's) for 429 and 503, `invalid_request` else.
OAUTH_ERRORS = ("invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                "unsupported_grant_type", "invalid_scope", "temporarily_unavailable")
GRANT_TYPES = ("password", "refresh_token")
FIELD_LIMITS = {"grant_type": 30, "username": 30, "password": 1024, "refresh_token": 200, "refresh_delivery": 10}
# error_description: %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2).
_NOT_IN_DESCRIPTION = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "OAuthError", "required": ["error", "error_description", "status", "title"],
    "properties": {
        "error": {"type": "string", "enum": list(OAUTH_ERRORS)},
        "error_description": {"type": "string"},
        "code": {"type": "string", "description": "A stable code the pages translate (bad_credentials, session_ended, ...)"},
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "retry_after": {"type": "integer"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "reason"],
            "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}
TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused, as RFC 6749 §5.2 says (400 invalid_request, unsupported_grant_type, "
                           "invalid_grant), with the problem members beside",
            "content": {"application/json": {"schema": OAUTH_ERROR_SCHEMA}}},
}
TOKEN_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
    "schema": {
        "type": "object", "title": "TokenRequest", "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": list(GRANT_TYPES)},
            "username": {"type": "string", "maxLength": 30, "description": "card number or phone (password grant)"},
            "password": {"type": "string", "maxLength": 1024},
            "refresh_token": {"type": "string", "maxLength": 200,
                              "description": "refresh_token grant; else the HttpOnly cookie's"},
            "refresh_delivery": {"type": "string", "enum": ["body", "cookie"], "default": "body",
                                 "description": "cookie: the refresh token goes into an HttpOnly cookie (the pages)"},
        },
    }}}}}


def invalid_request(field: str, reason: str) -> Problem:
    return Problem(400, "Invalid request", f"{field} {reason}.", errors=[{"field": field, "reason": reason}],
                   error="invalid_request")


def token_form(form) -> dict[str, str]:
    """The token request's fields, each a single string within its limit, or invalid_request."""
    fields: dict[str, str] = {}
    for name, limit in FIELD_LIMITS.items():
        values = form.getlist(name)
        if len(values) > 1:  # RFC 6749 §3.2: parameters MUST NOT be included more than once
            raise invalid_request(name, "is given more than once")
        if not values or values[0] == "":
            continue
        value = values[0]
        if not isinstance(value, str):
            raise invalid_request(name, "must be text, not a file")
        if len(value) > limit:
            raise invalid_request(name, f"is longer than {limit} characters")
        fields[name] = value
    if "grant_type" not in fields:
        raise invalid_request("grant_type", "is required")
    if fields.get("refresh_delivery", "body") not in ("body", "cookie"):
        raise invalid_request("refresh_delivery", "must be body or cookie")
    return fields


def oauth_error_response(problem: Problem) -> Response:
    """A refusal of the token endpoint: RFC 6749 §5.2's body, the problem's members beside."""
    status = 400 if problem.status == 422 else problem.status
    error = problem.extra.get("error")
    if error not in OAUTH_ERRORS:
        error = "temporarily_unavailable" if status in (429, 503) else "invalid_request"
    body = {**problem.body(), "status": status, "error": error,
            "error_description": _NOT_IN_DESCRIPTION.sub("", problem.detail or problem.title)}
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if "retry_after" in problem.extra:
        headers["Retry-After"] = str(problem.extra["retry_after"])
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


PREFIX = "/api/identity/v1"


def oauth_metadata(request) -> dict[str, Any]:
    """The authorization server's metadata (RFC 8414 §2) for the origin the request came to. The
    issuer identifier is identity's URL; the tokens' own `iss` claim stays `sotay/identity` (every
    service checks it; docs/api.md). No OpenID Connect: there are no ID tokens to describe."""
    base = str(request.base_url).rstrip("/")
    return {
        "issuer": f"{base}{PREFIX}",
        "token_endpoint": f"{base}{PREFIX}/token",
        "revocation_endpoint": f"{base}{PREFIX}/token/revoke",
        "jwks_uri": f"{base}{PREFIX}/.well-known/jwks.json",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": [],  # no authorization endpoint: the password and refresh_token grants only
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": f"{base}{PREFIX}/openapi.json",
        "ui_locales_supported": ["vi", "en"],
    }
