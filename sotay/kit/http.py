"""HTTP plumbing every service shares: RFC 9457 problem responses, bearer
auth, Idempotency-Key replay, body limits per route, refusing text the
database cannot store, and spooled uploads. (Server spans come from FastAPI's own
OpenTelemetry support, which also picks up an incoming traceparent.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, BinaryIO
from urllib.parse import parse_qsl

import asyncpg
import orjson
from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from sotay.kit.db import Statement, driver_transaction, read_only
from sotay.kit.keys import seal, unseal


PROBLEM = "application/problem+json"

# How every route documents its refusals in OpenAPI (APIRouter(responses=PROBLEM_RESPONSES)): each
# 4xx is a problem document, a 422 with the fields and their reasons, not FastAPI's own error shape.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "code": {"type": "string", "description": "A stable code the pages translate (Problem.code)"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "reason"],
            "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused (RFC 9457 problem; a 422 names each field and its reason)",
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}},
}


# The stable code of a problem by its status, when the one raising it gives none: a page shows a
# person a sentence in their language chosen by `code` (never the English `title` or `detail`).
STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "not_allowed",
                409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
                429: "rate_limited", 503: "busy"}


class Problem(Exception):
    """An error the caller can act on, rendered as application/problem+json. `code` is stable
    and machine-readable (what a page translates for a person): given where a page must tell
    problems of one status apart ("bad_credentials", "registration_not_found"), else the
    status's own (STATUS_CODES, "server_error" for any 5xx)."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 errors: list[dict[str, str]] | None = None, type_: str = "about:blank", *,
                 code: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.errors, self.type, self.extra = (
            status, title, detail, errors, type_, extra)
        self.code = code or STATUS_CODES.get(status) or ("server_error" if status >= 500 else "error")

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "code": self.code}
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


# --- request bodies: a limit per route -------------------------------------------------------

# A body larger than its route's limit is refused (413) before it is read whole. Most routes take
# a small JSON object or form (the token endpoint, a registration, a decision: a few kilobytes;
# a meeting's agenda of 10,000 characters is 60 KB at most even with every character written as a
# \uXXXX escape), so that is the default; a route that takes more says so where it is declared,
# with `openapi_extra=body_limit(n)` (which also shows the limit in its OpenAPI document): an
# article's 500,000 characters, an upload. The proxies (nginx, the ingress) refuse anything over
# 110 MiB before it reaches a service.
DEFAULT_BODY_BYTES = 64 * 2**10
BODY_LIMIT_KEY = "x-max-body-bytes"
# What multipart framing adds to an upload around its file.
MULTIPART_SLACK = 2**20


def body_limit(limit: int) -> dict[str, int]:
    """A route's `openapi_extra` declaring that it takes bodies up to `limit` bytes."""
    return {BODY_LIMIT_KEY: limit}


def route_body_limit(scope, default: int = DEFAULT_BODY_BYTES) -> int:
    """The body limit of the route a request was routed to (the router puts it in the scope
    before the route reads the body)."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    return extra.get(BODY_LIMIT_KEY, default)


def _too_large(limit: int) -> str:
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"
    return f"Request body too large: at most {size}"


class ProblemException(HTTPException):
    """A Problem raised where FastAPI only passes HTTPExceptions on (reading a request's body)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail or problem.title)
        self.problem = problem


class BodyLimit:
    """ASGI middleware: a body over its route's limit (DEFAULT_BODY_BYTES unless the route declares
    one with body_limit) gets 413 problem+json when the route reads it, at once when Content-Length
    says so, else as soon as the bytes received pass the limit. The check runs when the body is
    read, that is after routing: the route is known then, and a route that reads no body never
    pays for one."""

    def __init__(self, app, default: int = DEFAULT_BODY_BYTES) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received, limit = 0, None

        async def limited():
            nonlocal received, limit
            if limit is None:
                limit = route_body_limit(scope, self.default)
                length = dict(scope["headers"]).get(b"content-length", b"")
                if length.isdigit() and int(length) > limit:
                    raise ProblemException(Problem(413, "Payload too large", _too_large(limit)))
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from reading the body on to the problem handlers.
                    raise ProblemException(Problem(413, "Payload too large", _too_large(limit)))
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


# --- text the database cannot store ---------------------------------------------------------

# PostgreSQL's text holds no NUL character, and UTF-8 no unpaired surrogate (which JSON's \ud800
# escapes can make): either reaching the database fails the request with a 500. So they are
# refused as a 422 naming the field wherever a request carries text: its path and query string
# (before routing), its JSON or form body (as the route reads it). Multipart text fields are
# checked by the upload routes themselves (unstorable()): reading a multipart body is theirs.
_SURROGATES = re.compile("[\ud800-\udfff]")
NUL_REASON = "must not contain NUL characters"
SURROGATE_REASON = "must be valid Unicode text (an unpaired surrogate is not)"


def unstorable_reason(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return NUL_REASON
    if _SURROGATES.search(value):
        return SURROGATE_REASON
    return None


def unstorable(fields: dict[str, str | None]) -> list[tuple[str, str]]:
    """The problems of the named text values that cannot be stored (for invalid())."""
    return [(name, reason) for name, value in fields.items()
            if value is not None and (reason := unstorable_reason(value))]


def json_problems(document: Any) -> list[tuple[str, str]]:
    """Each string (value or key) of a parsed JSON document that cannot be stored, with the field
    it sits in as FastAPI names fields ("tags.0", "changes.phone"). Walked without recursion:
    a deeply nested document must not exhaust the stack."""
    problems, stack = [], [((), document)]
    while stack and len(problems) < 20:
        where, value = stack.pop()
        if isinstance(value, str):
            if reason := unstorable_reason(value):
                problems.append((".".join(where) or "body", reason))
        elif isinstance(value, dict):
            for key, item in value.items():
                if reason := unstorable_reason(key):
                    problems.append((".".join(where) or "body", f"a key {reason}"))
                else:
                    stack.append(((*where, key), item))
        elif isinstance(value, list):
            stack.extend(((*where, str(i)), item) for i, item in enumerate(value))
    return problems


def _parse_json(body: bytes) -> Any:
    """The body as FastAPI will read it, or None when it is no JSON (FastAPI answers that itself).
    orjson first (fast, and it refuses unpaired surrogates), then the standard library's parser,
    which FastAPI uses and which takes them."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _form_problems(body: bytes) -> list[tuple[str, str]]:
    """Each form field that cannot be stored, by its name (or as the body's, when the name is
    itself what cannot be stored, or empty)."""
    return [(name if name and not unstorable_reason(name) else "body", reason)
            for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True)
            if (reason := unstorable_reason(name) or unstorable_reason(value))]


class StorableText:
    """ASGI middleware: a request whose path, query string, JSON body or form body holds a NUL
    character or an unpaired surrogate gets a 422 problem naming the field; no route works with it."""

    def __init__(self, app) -> None:
        self.app = app
        self._templates: list[tuple[re.Pattern, list[str]]] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problems = self._path_problems(scope) + self._query_problems(scope)
        if problems:
            response = problem_response(invalid(problems), scope.get("path"))
            return await response(scope, receive, send)
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == b"application/json" or content_type.endswith(b"+json"):
            receive = _checked_body(receive, lambda body: json_problems(_parse_json(body)) if body else [])
        elif content_type == b"application/x-www-form-urlencoded":
            receive = _checked_body(receive, _form_problems)
        await self.app(scope, receive, send)

    def _path_problems(self, scope) -> list[tuple[str, str]]:
        path = scope.get("path", "")
        if "\x00" not in path:
            return []
        for pattern, names in self._path_templates(scope):
            if found := pattern.fullmatch(path):
                return [(name, NUL_REASON) for name in names if "\x00" in found.group(name)] or [("path", NUL_REASON)]
        return [("path", NUL_REASON)]

    def _path_templates(self, scope) -> list[tuple[re.Pattern, list[str]]]:
        """The app's documented paths as patterns, to name the parameter a NUL came in (built once, the
        first time one does)."""
        if self._templates is None:
            app, templates = scope.get("app"), []
            paths = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
            for template in paths:
                names = re.findall(r"{(\w+)}", template)
                regex = re.sub(r"{(\w+)}", r"(?P<\1>[^/]*)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
                templates.append((re.compile(regex, re.S), names))
            self._templates = templates
        return self._templates

    @staticmethod
    def _query_problems(scope) -> list[tuple[str, str]]:
        query = scope.get("query_string", b"")
        if b"%00" not in query and b"\x00" not in query:
            return []
        return [(name or "query", NUL_REASON)
                for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                if "\x00" in name or "\x00" in value]


def _checked_body(receive, problems_of: Callable[[bytes], list[tuple[str, str]]]):
    """A receive that hands the body on as it comes and, with its last part, refuses the whole
    if `problems_of` finds any (a 422 ProblemException, which FastAPI passes on to the handlers)."""
    chunks: list[bytes] = []

    async def checked() -> dict:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                chunks.clear()
                if problems := problems_of(body):
                    raise ProblemException(invalid(problems))
        return message
    return checked


# --- times: within what every layer can hold ------------------------------------------------

# A datetime near year 1 or 9999 is valid JSON and valid to pydantic, but turning it to UTC (as
# asyncpg does) runs off Python's range, and a 500 follows. No time the services keep is outside
# these years: a model field of type Moment refuses the rest as a 422 naming the field.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999


def _within_years(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


Moment = Annotated[datetime, AfterValidator(_within_years)]


# --- uploads ---------------------------------------------------------------------------------

SPOOL_IN_MEMORY = 2**20
UPLOAD_CHUNK = 2**20


def upload_size(upload: UploadFile) -> int:
    """The size of an upload as Starlette spooled it (in memory up to 1 MiB, then on disk)."""
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size


async def spool_upload(upload: UploadFile, limit: int) -> BinaryIO:
    """The upload copied, a chunk at a time, into a temporary file of the caller's own (on disk past
    1 MiB), for work that outlives the request (whose upload is closed with it). Over `limit`: 413."""
    if upload_size(upload) > limit:
        raise Problem(413, "File too large", f"Files up to {limit // 2**20} MiB are accepted.")

    def copy() -> BinaryIO:
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        while chunk := upload.file.read(UPLOAD_CHUNK):
            out.write(chunk)
        out.seek(0)
        return out
    return await asyncio.to_thread(copy)


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
        if isinstance(exc, ProblemException):
            return problem_response(exc.problem, request.url.path)
        return problem_response(Problem(exc.status_code, str(exc.detail)), request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


# Idempotency's statements: run's on SQLAlchemy's connection, run_on_driver's on asyncpg's own.
_CLAIM = Statement("INSERT INTO idempotency_keys (key, principal, method_path, request_hash) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1")
_CLEAN = Statement("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)")
_ANSWER = Statement("UPDATE idempotency_keys SET status = $1, response = $2 WHERE principal = $3 AND key = $4")
_CLAIMED = Statement("SELECT method_path, request_hash, status, response FROM idempotency_keys "
                     "WHERE principal = $1 AND key = $2")


class Idempotency:
    """Idempotency-Key for POSTs: the first answer is stored and replayed to
    retries with the same key (same caller, same body); a different body
    under a used key is refused.

    The work gets the transaction, and the key is claimed and answered in
    it: the effect and its stored answer commit together or not at all. A
    request cut off midway (its process killed) leaves nothing behind, so
    its retry does the work once; a retry arriving while the first is still
    running waits for it (the claim's row lock) and replays its answer."""

    def __init__(self, engine: AsyncEngine, keep_s: float = 24 * 3600) -> None:
        self.engine = engine
        self.reader = read_only(engine)  # for run_on_driver's driver_transaction
        # Answers are kept this long (a retry later than that does the work again), and deleted by
        # the next claim after it, at most every CLEAN_EVERY_S per process.
        self.keep_s = keep_s
        self.cleaned_at = 0.0  # monotonic time of the last clean-up
        # A service whose answers hold sensitive personal data (members' records) seals them at
        # rest: the key, read when first needed (kit/keys.py seal).
        self.answer_key: Callable[[], bytes] | None = None

    CLEAN_EVERY_S = 600.0

    def _stored(self, body: bytes, principal: str, key: str) -> bytes:
        return seal(self.answer_key(), body, context=f"idempotency:{principal}:{key}") if self.answer_key else body

    def _replayed(self, stored: bytes, principal: str, key: str) -> bytes:
        return unseal(self.answer_key(), stored, context=f"idempotency:{principal}:{key}") if self.answer_key else stored

    async def run(self, request: Request, principal: str,
                  work: Callable[[AsyncConnection], Awaitable[Response]]) -> Response:
        return await self._run(self.engine.begin, request, principal, work)

    async def run_on_driver(self, request: Request, principal: str,
                            work: Callable[[asyncpg.Connection], Awaitable[Response]]) -> Response:
        """`run` with the work on asyncpg's own connection, in a driver_transaction (kit/db.py):
        the same claim, answer and replay, in the work's transaction."""
        return await self._run(lambda: driver_transaction(self.reader), request, principal, work)

    async def _run(self, transaction: Callable[[], Any], request: Request, principal: str,
                   work: Callable[[Any], Awaitable[Response]]) -> Response:
        """The claim, the work and its answer in one `transaction()`; a retry's answer replayed."""
        key = request.headers.get("idempotency-key")
        if key is None:
            async with transaction() as conn:
                return await work(conn)
        method_path, body_hash = await self._request(request, key)
        async with transaction() as conn:
            if await _CLAIM.value(conn, key, principal, method_path, body_hash) is not None:
                if self._cleaning_due():
                    await _CLEAN.run(conn, float(self.keep_s))
                response = await work(conn)
                await _ANSWER.run(conn, response.status_code, self._answer(response, principal, key), principal, key)
                return response
            row = await _CLAIMED.row(conn, principal, key)
        return self._replay(row, principal, key, method_path, body_hash)

    async def _request(self, request: Request, key: str) -> tuple[str, str]:
        """The key checked, and what a replay must match: the method and path, the body's hash."""
        if not 1 <= len(key) <= 200:
            raise invalid([("Idempotency-Key", "must be 1 to 200 characters")])
        return f"{request.method} {request.url.path}", hashlib.sha256(await request.body()).hexdigest()

    def _cleaning_due(self) -> bool:
        if time.monotonic() - self.cleaned_at < self.CLEAN_EVERY_S:
            return False
        self.cleaned_at = time.monotonic()
        return True

    def _answer(self, response: Response, principal: str, key: str) -> bytes:
        return self._stored(getattr(response, "body", b""), principal, key)

    def _replay(self, row: Any, principal: str, key: str, method_path: str, body_hash: str) -> Response:
        if (row["method_path"], row["request_hash"]) != (method_path, body_hash):
            raise Problem(422, "Idempotency key reused", "This Idempotency-Key was used for another request.",
                          errors=[{"field": "Idempotency-Key", "reason": "was used for another request"}])
        if row["status"] is None:  # claimed by an earlier version, which answered in a second transaction
            raise Problem(409, "Request in progress", "A request with this Idempotency-Key is still running.",
                          code="in_progress")
        return Response(self._replayed(row["response"], principal, key), status_code=row["status"],
                        media_type="application/json", headers={"Idempotent-Replayed": "true"})


def _json_default(value: Any) -> Any:
    # asyncpg returns its own UUID subclass, which orjson does not take as a UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content, default=_json_default), status_code=status_code, media_type="application/json",
                    headers=headers)



def encode_cursor(*parts: str) -> str:
    """An opaque keyset cursor: the sort key of a page's last row. Callers hand it back as is."""
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode()


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The `count` parts of a cursor `encode_cursor` made; 422 (field `cursor`) for anything else."""
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, orjson.JSONDecodeError):
        parts = None
    if not isinstance(parts, list) or len(parts) != count or not all(isinstance(p, str) for p in parts):
        raise invalid([("cursor", "is not a cursor this service issued")])
    return parts


def time_cursor(at: datetime, row_id: Any) -> str:
    """The cursor of a list ordered by (a time, an id)."""
    return encode_cursor(at.isoformat(), str(row_id))


def parse_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    at, row_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), str(uuid.UUID(row_id))
    except ValueError:
        raise invalid([("cursor", "is not a cursor this service issued")]) from None
