"""Request bodies over their route's limit are refused with 413 problem+json, and the handler
never runs; text the database cannot store (NUL, unpaired surrogates) is refused with a 422
naming the field, wherever it comes in."""

import json

import httpx
import orjson
from fastapi import APIRouter, FastAPI, File, UploadFile
from pydantic import BaseModel

from sotay.kit.http import DEFAULT_BODY_BYTES, BodyLimit, StorableText, body_limit, install_problem_handlers


class Note(BaseModel):
    text: str
    tags: list[str] = []


def app_with_limits() -> tuple[FastAPI, list[str]]:
    ran: list[str] = []
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(StorableText)
    app.add_middleware(BodyLimit)
    router = APIRouter()

    @router.post("/notes")
    async def note(body: Note):
        ran.append("note")
        return {"length": len(body.text)}

    @router.post("/long-notes", openapi_extra=body_limit(2 * 2**20))
    async def long_note(body: Note):
        ran.append("long note")
        return {"length": len(body.text)}

    @router.post("/files", openapi_extra=body_limit(5 * 2**20))
    async def upload(file: UploadFile = File(...)):
        ran.append("file")
        return {"size": len(await file.read())}

    @router.get("/units/{code}")
    async def unit(code: str, q: str | None = None):
        ran.append("unit")
        return {"code": code}
    app.include_router(router, prefix="/api")  # as services are: under their prefix
    return app, ran


async def call(app: FastAPI, method: str, path: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, **kw)


async def test_a_body_over_the_default_limit_is_refused_by_its_content_length():
    app, ran = app_with_limits()
    answer = await call(app, "POST", "/api/notes", content=orjson.dumps({"text": "a" * DEFAULT_BODY_BYTES}),
                        headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 413 and "64 KiB" in answer.json()["detail"]
    assert ran == []


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit():
    app, ran = app_with_limits()

    async def chunks():  # no Content-Length: the middleware counts what arrives
        yield b'{"text": "'
        for _ in range(64):
            yield b"a" * (64 * 1024)
        yield b'"}'
    answer = await call(app, "POST", "/api/long-notes", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    assert "2 MiB" in answer.json()["detail"]
    assert ran == []


async def test_a_multipart_body_has_the_default_limit_on_a_route_that_declares_none():
    app, ran = app_with_limits()
    answer = await call(app, "POST", "/api/notes", files={"file": ("members.csv", b"x" * (3 * 2**20), "text/csv")})
    assert answer.status_code == 413 and ran == []


async def test_bodies_within_their_routes_limits_go_through():
    app, ran = app_with_limits()
    small = await call(app, "POST", "/api/notes", json={"text": "Nguyễn Văn An"})
    assert small.status_code == 200 and small.json() == {"length": 13}
    long = await call(app, "POST", "/api/long-notes", json={"text": "a" * 2**20})
    assert long.status_code == 200, long.text
    upload = await call(app, "POST", "/api/files", files={"file": ("members.csv", b"x" * (3 * 2**20), "text/csv")})
    assert upload.status_code == 200 and upload.json() == {"size": 3 * 2**20}
    assert ran == ["note", "long note", "file"]


def problem_fields(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return {e["field"] for e in answer.json()["errors"]}


async def test_nul_and_unpaired_surrogates_are_refused_naming_the_field():
    app, ran = app_with_limits()
    nul_text = await call(app, "POST", "/api/notes", json={"text": "An\x00"})
    assert problem_fields(nul_text) == {"text"}
    # A lone surrogate can only come as a JSON escape (it is no UTF-8); Python's json writes it so.
    surrogate = await call(app, "POST", "/api/notes", content=json.dumps({"text": "ok", "tags": ["a", "\ud800"]}),
                           headers={"content-type": "application/json"})
    assert problem_fields(surrogate) == {"tags.1"}
    assert "surrogate" in surrogate.json()["errors"][0]["reason"]
    assert problem_fields(await call(app, "GET", "/api/units/ba-dinh", params={"q": "a\x00"})) == {"q"}
    assert problem_fields(await call(app, "GET", "/api/units/ba%00dinh")) == {"code"}
    form = await call(app, "POST", "/api/notes", data={"text": "a\x00"})
    assert problem_fields(form) == {"text"}
    assert ran == []
    # The same text without them, and a body nested too deep to check, go on as usual.
    assert (await call(app, "POST", "/api/notes", json={"text": "Nguyễn \u0001 An 🇻🇳"})).status_code == 200
    deep = await call(app, "POST", "/api/notes", content=b"[" * 5000 + b"]" * 5000,
                      headers={"content-type": "application/json"})
    assert 400 <= deep.status_code < 500
