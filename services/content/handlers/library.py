"""The documents library: resolutions, directives and guidance as files with
their number, date and issuing body; searchable; bookmarked by members.

A document is for the units it is targeted to (its audience, by default the
unit that added it): their members and staff find it, read its metadata and
download its file; so do the editors of the unit that added it, for a
paper sent ahead of a cell meeting, the meeting's cell and its secretary, and
for a document a published study topic studies, the topic's audience. To
anyone else it does not exist (404).

Files are kept in chunks of 1 MiB (document_chunks), written from the spooled
upload a chunk at a time and streamed back the same way: a 20 MB file is
never held whole in memory, on the way in or out.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.content import domain
from services.content.adapters import library as store
from services.content.adapters.replica import ORG, unit, unit_paths
from services.content.domain.text import contains, fold, search_terms
from sotay.contracts.content import DocumentAdded
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers

SCHEMA = "content"
MAX_BYTES = 20 * 1024 * 1024
CHUNK_BYTES = 2**20
CONTENT_TYPES = {
    ".pdf": "application/pdf", ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text", ".txt": "text/plain; charset=utf-8",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
}


@dataclass
class DocumentInput:
    kind: str
    title: str
    number: str | None
    issued_on: date | None
    issuing_body: str | None
    unit: str | None
    filename: str
    size: int
    read: Callable[[int], Awaitable[bytes]]  # the spooled upload, a chunk at a time
    audience: list[str] = field(default_factory=list)  # unit codes; none: the unit that adds it


def reading(data: bytes) -> Callable[[int], Awaitable[bytes]]:
    """DocumentInput.read over bytes already in memory (a small file: the demo's)."""
    stream = io.BytesIO(data)

    async def read(n: int) -> bytes:
        return stream.read(n)
    return read


def _content_type(filename: str) -> str | None:
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return CONTENT_TYPES.get(suffix)


async def add(db: AsyncConnection, actor: Principal, doc: DocumentInput) -> dict[str, Any]:
    problems = []
    if not doc.title.strip():
        problems.append(("title", "is required"))
    content_type = _content_type(doc.filename)
    if content_type is None:
        problems.append(("file", f"must be one of {', '.join(sorted(CONTENT_TYPES))}"))
    if not doc.size:
        problems.append(("file", "is empty"))
    if doc.size > MAX_BYTES:
        problems.append(("file", f"is larger than {MAX_BYTES // 2**20} MB"))
    if doc.issued_on and doc.issued_on > date.today():
        problems.append(("issued_on", "cannot be in the future"))
    editor_units = actor.units_for(*domain.EDITORS)
    unit = doc.unit or (editor_units[0] if editor_units else None)
    if unit is None:
        raise Problem(403, "Forbidden", "Adding documents needs an editor role, or a secretary's for a cell's own papers.")
    path = (await unit_paths(db, [unit]))[unit]
    audience = list(dict.fromkeys(doc.audience or [unit]))
    if path is None:
        problems.append(("unit", f"{unit} is not a unit"))
    else:
        problems += domain.check_audience(path, await unit_paths(db, audience))
    if problems:
        raise invalid(problems)
    if not await _may_add(db, actor, unit, path, audience):
        raise Problem(403, "Forbidden", "You are not an editor of this unit.")
    document_id = uuid7()
    audience_paths = sorted({p for p in (await unit_paths(db, audience)).values() if p})
    await store.insert(db, {
        "id": document_id, "kind": doc.kind, "number": doc.number, "title": doc.title.strip(),
        "issued_on": doc.issued_on, "body": doc.issuing_body, "unit": unit, "path": path, "audience": audience,
        "paths": audience_paths, "filename": doc.filename, "ct": content_type,
        "folded": fold(" ".join(filter(None, (doc.number, doc.title, doc.issuing_body)))), "by": actor.subject})
    size, sha256 = await _store_chunks(db, document_id, doc.read)
    if size > MAX_BYTES:  # the upload grew past what it declared
        raise invalid([("file", f"is larger than {MAX_BYTES // 2**20} MB")])
    await store.set_file(db, document_id, size, sha256)
    await emit(db, SCHEMA, DocumentAdded(
        document_id=str(document_id), kind=doc.kind, number=doc.number, title=doc.title.strip(),
        issued_on=doc.issued_on, issuing_body=doc.issuing_body, unit=unit),
        aggregate_id=document_id, committee=domain.committee_of(path), unit=unit)
    return await one(db, actor, document_id)


async def _store_chunks(db: AsyncConnection, document_id: Any, read: Callable[[int], Awaitable[bytes]]
                        ) -> tuple[int, str]:
    """Copy the upload into the document's chunks, one at a time; its size and SHA-256."""
    digest, size, seq = hashlib.sha256(), 0, 0
    while chunk := await read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            break
        await store.add_chunk(db, document_id, seq, chunk)
        seq += 1
    return size, digest.hexdigest()


async def one(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any]:
    found = await store.one(db, actor, document_id)
    if found is None:
        raise Problem(404, "Not found", "No such document.")
    return found


async def file(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any]:
    """What a download needs to start: the file's name, type, size and how many chunks it has."""
    found = await one(db, actor, document_id)
    chunks = await store.chunk_count(db, document_id)
    return {"filename": found["filename"], "content_type": found["content_type"], "size": found["size_bytes"],
            "chunks": chunks}


def file_chunks(engine: AsyncEngine, document_id: Any, chunks: int) -> AsyncIterator[bytes]:
    """The file, chunk by chunk, each read on its own (a slow download holds no connection)."""
    return store.file_chunks(engine, document_id, chunks)


async def listing(db: AsyncConnection, actor: Principal, *, q: str | None, kind: str | None,
                  bookmarked: bool, limit: int) -> list[dict[str, Any]]:
    """Newest first, of the documents the caller may see; `q` matches number, title and issuing body,
    accents ignored."""
    like: list[str] = []
    if q is not None:
        terms = search_terms(q)
        if not terms:
            raise invalid([("q", "needs at least one word")])
        like = [contains(term) for term in terms]
    return await store.listing(db, actor, like=like, kind=kind, bookmarked=bookmarked, limit=limit)


async def bookmark(db: AsyncConnection, actor: Principal, document_id: Any, on: bool) -> dict[str, Any]:
    await one(db, actor, document_id)  # 404 for a missing document, or one the caller may not see
    await store.bookmark(db, actor.subject, document_id, on)
    return {"document_id": str(document_id), "bookmarked": on}


def document_json(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "id" else v)
            for k, v in d.items()}


async def _may_add(db: AsyncConnection, actor: Principal, unit_code: str, path: str, audience: list[str]) -> bool:
    """An editor over the unit adds any document; a cell's secretary (or a unit admin above it)
    adds the cell's own papers, the minutes of its meetings (issue 20), for the cell alone."""
    if covers(await ORG.scope_paths(db, actor, domain.EDITORS), path):
        return True
    here = await unit(db, unit_code)
    return (here is not None and here.kind == "cell" and audience == [unit_code]
            and covers(await ORG.scope_paths(db, actor, domain.SECRETARIES), path))
