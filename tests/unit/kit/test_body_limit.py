"""Request bodies over their limit are refused with 413 problem+json, and the
handler never runs."""

import httpx
import orjson
from fastapi import FastAPI, File, UploadFile
from pydantic import BaseModel

from sotay.http import MAX_BODY_BYTES, BodyLimit, install_problem_handlers


class Note(BaseModel):
    text: str


def app_with_limits() -> tuple[FastAPI, list[str]]:
    ran: list[str] = []
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit)

    @app.post("/notes")
    async def note(body: Note):
        ran.append("note")
        return {"length": len(body.text)}

    @app.post("/files")
    async def upload(file: UploadFile = File(...)):
        ran.append("file")
        return {"size": len(await file.read())}
    return app, ran


async def post(app: FastAPI, path: str, **kw) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.post(path, **kw)


async def test_a_json_body_over_the_limit_is_refused_by_its_content_length():
    app, ran = app_with_limits()
    answer = await post(app, "/notes", content=orjson.dumps({"text": "a" * MAX_BODY_BYTES}),
                        headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 413 and "2 MiB" in answer.json()["detail"]
    assert ran == []


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit():
    app, ran = app_with_limits()
    sent = 0

    async def chunks():  # no Content-Length: the middleware counts what arrives
        nonlocal sent
        yield b'{"text": "'
        for _ in range(64):
            sent += 64 * 1024
            yield b"a" * (64 * 1024)
        yield b'"}'
    answer = await post(app, "/notes", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    assert ran == []


async def test_bodies_within_their_limits_go_through():
    app, ran = app_with_limits()
    small = await post(app, "/notes", json={"text": "Nguyễn Văn An"})
    assert small.status_code == 200 and small.json() == {"length": 13}
    # A multipart upload has its own, larger limit (the endpoint sets the file's).
    upload = await post(app, "/files", files={"file": ("members.csv", b"x" * (3 * 2**20), "text/csv")})
    assert upload.status_code == 200 and upload.json() == {"size": 3 * 2**20}
    assert ran == ["note", "file"]
