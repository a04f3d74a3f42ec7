"""HTTP plumbing every service shares: RFC 9457 problem responses, bearer
auth and Idempotency-Key replay. (Server spans come from FastAPI's own
OpenTelemetry support, which also picks up an incoming traceparent.)"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from sotay.auth import AuthError, Principal, TokenVerifier

PROBLEM = "application/problem+json"

# How every route documents its refusals in OpenAPI (APIRouter(responses=PROBLEM_RESPONSES)): each
# 4xx is a problem document, a 422 with the fields and their reasons, not FastAPI's own error shape.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "reason"],
            "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused (RFC 9457 problem; a 422 names each field and its reason)",
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}},
}


class Problem(Exception):
    """An error the caller can act on, rendered as application/problem+json."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 errors: list[dict[str, str]] | None = None, type_: str = "about:blank", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.errors, self.type, self.extra = (
            status, title, detail, errors, type_, extra)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def invalid(errors: list[tuple[str, str]] | list[dict[str, str]], detail: str = "The request has invalid fields.") -> Problem:
    items = [e if isinstance(e, dict) else {"field": e[0], "reason": e[1]} for e in errors]
    return Problem(422, "Invalid input", detail, errors=items)


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    headers = {}
    if problem.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after" in problem.extra:
        headers["Retry-After"] = str(problem.extra["retry_after"])
    return Response(orjson.dumps(problem.body(instance)), status_code=problem.status, media_type=PROBLEM,
                    headers=headers)


# Request bodies: a JSON (or form) request up to 2 MiB, which an article's 500,000 characters
# of Vietnamese in UTF-8 fit; a multipart upload up to 110 MiB (the proxy's limit), within
# which each upload endpoint sets its own. Larger is refused before it is read whole.
MAX_BODY_BYTES = 2 * 2**20
MAX_UPLOAD_BYTES = 110 * 2**20


def _too_large(limit: int) -> str:
    return f"Request body too large: at most {limit // 2**20} MiB"


class BodyLimit:
    """ASGI middleware: a body over its limit gets 413 problem+json, at once when
    Content-Length says so, else as soon as the bytes received pass the limit."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        limit = MAX_UPLOAD_BYTES if multipart else MAX_BODY_BYTES
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            response = problem_response(Problem(413, "Payload too large", _too_large(limit)), scope.get("path"))
            return await response(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from reading the body on to the problem handlers.
                    raise HTTPException(413, _too_large(limit))
            return message
        await self.app(scope, limited, send)


# What a browser may do with anything we serve (deploy/README.md, "Security headers"). The pages load
# their scripts, styles and images from their own origin only, and have no inline code: a script or
# style injected into a page (through an article body, a name) does not run, and nothing on the page
# can load from or send to another origin. Images may also be inline (data:). No page may be framed
# (clickjacking), no plugin runs, and a <base> tag cannot redirect the pages' relative URLs.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    # A response is only what its Content-Type says: an uploaded document is never run as a script.
    (b"x-content-type-options", b"nosniff"),
    # Other origins (the links in articles) learn nothing of the page a reader came from; our own API
    # calls keep their Referer and, for POSTs, their real Origin (no-referrer would send `Origin: null`).
    (b"referrer-policy", b"same-origin"),
)
# HTTPS only from here on, for a year: sent only over HTTPS, where it means something. A request
# came over HTTPS when uvicorn terminated TLS or a trusted proxy said so (X-Forwarded-Proto from an
# address of SOTAY_TRUSTED_PROXIES, which uvicorn turns into the request's scheme).
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=31536000")


class SecurityHeaders:
    """ASGI middleware: every response, pages, assets and API answers alike (refusals too),
    carries SECURITY_HEADERS, and HSTS when the request came over HTTPS. A header the
    response sets itself is left as it is."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = SECURITY_HEADERS + ((STRICT_TRANSPORT_SECURITY,) if scope.get("scheme") == "https" else ())

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)
        await self.app(scope, receive, with_headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc, request.url.path)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            errors.append({"field": ".".join(loc) or "body", "reason": err.get("msg", "invalid")})
        return problem_response(invalid(errors), request.url.path)

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(Problem(exc.status_code, str(exc.detail)), request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def bearer_principal(verifier: TokenVerifier) -> Callable[..., Awaitable[Principal]]:
    async def principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(401, "Unauthorized", "A bearer token is required.")
        try:
            return verifier.verify(token.strip())
        except AuthError as exc:
            raise Problem(401, "Unauthorized", str(exc)) from exc
    return principal


def optional_principal(verifier: TokenVerifier) -> Callable[..., Awaitable[Principal | None]]:
    required = bearer_principal(verifier)

    async def principal(request: Request) -> Principal | None:
        if "authorization" not in request.headers:
            return None
        return await required(request)
    return principal


class Idempotency:
    """Idempotency-Key for POSTs: the first answer is stored and replayed to
    retries with the same key (same caller, same body); a different body
    under a used key is refused.

    The work gets the transaction, and the key is claimed and answered in
    it: the effect and its stored answer commit together or not at all. A
    request cut off midway (its process killed) leaves nothing behind, so
    its retry does the work once; a retry arriving while the first is still
    running waits for it (the claim's row lock) and replays its answer."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def run(self, request: Request, principal: str,
                  work: Callable[[AsyncConnection], Awaitable[Response]]) -> Response:
        key = request.headers.get("idempotency-key")
        if key is None:
            async with self.engine.begin() as conn:
                return await work(conn)
        if not 1 <= len(key) <= 200:
            raise invalid([("Idempotency-Key", "must be 1 to 200 characters")])
        body_hash = hashlib.sha256(await request.body()).hexdigest()
        method_path = f"{request.method} {request.url.path}"
        async with self.engine.begin() as conn:
            claimed = (await conn.execute(text(
                "INSERT INTO idempotency_keys (key, principal, method_path, request_hash) "
                "VALUES (:k, :p, :m, :h) ON CONFLICT DO NOTHING RETURNING 1"),
                {"k": key, "p": principal, "m": method_path, "h": body_hash})).first() is not None
            if claimed:
                response = await work(conn)
                await conn.execute(text(
                    "UPDATE idempotency_keys SET status = :s, response = :r WHERE principal = :p AND key = :k"),
                    {"s": response.status_code, "r": getattr(response, "body", b""), "p": principal, "k": key})
                return response
            row = (await conn.execute(text(
                "SELECT method_path, request_hash, status, response FROM idempotency_keys "
                "WHERE principal = :p AND key = :k"), {"p": principal, "k": key})).one()
        if (row.method_path, row.request_hash) != (method_path, body_hash):
            raise Problem(422, "Idempotency key reused", "This Idempotency-Key was used for another request.",
                          errors=[{"field": "Idempotency-Key", "reason": "was used for another request"}])
        if row.status is None:  # claimed by an earlier version, which answered in a second transaction
            raise Problem(409, "Request in progress", "A request with this Idempotency-Key is still running.")
        return Response(row.response, status_code=row.status, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})


def _json_default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not take as a UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content, default=_json_default), status_code=status_code, media_type="application/json",
                    headers=headers)



def time_cursor(at: datetime, row_id: Any) -> str:
    """A keyset cursor for lists ordered by (a time, an id)."""
    return f"{at.isoformat()}|{row_id}"


def parse_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    at, _, row_id = cursor.partition("|")
    try:
        return datetime.fromisoformat(at), str(uuid.UUID(row_id))
    except ValueError:
        raise invalid([("cursor", "is not a cursor this service issued")]) from None
