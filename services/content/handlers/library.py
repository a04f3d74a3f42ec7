"""The documents library: resolutions, directives and guidance as files with
their number, date and issuing body; searchable; bookmarked by members.

A document is for the units it is targeted to (its audience, by default the
unit that added it): their members and staff find it, read its metadata and
download its file; so do the editors of the unit that added it, and, for a
paper sent ahead of a cell meeting, the meeting's cell and its secretary.
To anyone else it does not exist (404).

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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.content import domain
from services.content.handlers import articles
from sotay.contracts.content import DocumentAdded
from services.content.domain.text import contains, fold, search_terms
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid

MAX_BYTES = 20 * 1024 * 1024
CHUNK_BYTES = 2**20
CONTENT_TYPES = {
    ".pdf": "application/pdf", ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text", ".txt": "text/plain; charset=utf-8",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
}
COLUMNS = ("d.id, d.kind, d.number, d.title, d.issued_on, d.issuing_body, d.unit, d.audience, d.filename, "
           "d.content_type, d.size_bytes, d.sha256, d.added_at")

# Who may see document d (with the reader's CTE `me` of articles.READER): its audience, the editors
# of the unit that added it (or above), and for a meeting's paper the meeting's cell (its members,
# whose ancestors hold the cell, and the secretaries or admins over it).
_VISIBLE = ("(d.audience_paths && (SELECT anc FROM me) OR d.unit_path LIKE ANY(CAST(:editor_paths AS text[])) "
            "OR EXISTS (SELECT 1 FROM meetings m WHERE m.documents @> ARRAY[d.id] "
            "AND (ARRAY[m.cell_path] <@ (SELECT anc FROM me) OR m.cell_path LIKE ANY(CAST(:secretary_paths AS text[])))))")


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


async def _visibility(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """The parameters of _VISIBLE for the caller."""
    editors = await articles.scope_paths(db, actor, domain.EDITORS)
    secretaries = await articles.scope_paths(db, actor, domain.SECRETARIES)
    return articles.reader_params(actor) | {"editor_paths": [p + "%" for p in editors],
                                            "secretary_paths": [p + "%" for p in secretaries]}


async def not_in_library(db: AsyncConnection, actor: Principal, field: str, ids: list[str]) -> list[tuple[str, str]]:
    """A problem for each of `ids` that is no document of the library the caller may read
    (attachments, papers for a meeting): one cannot hand on what one may not see."""
    if not ids:
        return []
    known = set((await db.execute(text(
        f"WITH me AS ({articles.READER}) SELECT CAST(d.id AS text) FROM documents d "
        f"WHERE d.id = ANY(CAST(:ids AS uuid[])) AND {_VISIBLE}"),
        await _visibility(db, actor) | {"ids": ids})).scalars())
    return [(field, f"{d} is not a document of the library") for d in ids if d not in known]


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
        raise Problem(403, "Forbidden", "Adding documents needs an editor role.")
    path = (await articles.unit_paths(db, [unit]))[unit]
    audience = list(dict.fromkeys(doc.audience or [unit]))
    if path is None:
        problems.append(("unit", f"{unit} is not a unit"))
    else:
        problems += domain.check_audience(path, await articles.unit_paths(db, audience))
    if problems:
        raise invalid(problems)
    if not domain.covers(await articles.scope_paths(db, actor, domain.EDITORS), path):
        raise Problem(403, "Forbidden", "You are not an editor of this unit.")
    document_id = uuid7()
    audience_paths = sorted({p for p in (await articles.unit_paths(db, audience)).values() if p})
    await db.execute(text(
        "INSERT INTO documents (id, kind, number, title, issued_on, issuing_body, unit, unit_path, audience, "
        "audience_paths, filename, content_type, size_bytes, sha256, search_folded, added_by) VALUES (:id, :kind, "
        ":number, :title, :issued_on, :body, :unit, :path, :audience, :paths, :filename, :ct, 0, '', :folded, :by)"),
        {"id": document_id, "kind": doc.kind, "number": doc.number, "title": doc.title.strip(),
         "issued_on": doc.issued_on, "body": doc.issuing_body, "unit": unit, "path": path, "audience": audience,
         "paths": audience_paths, "filename": doc.filename, "ct": content_type,
         "folded": fold(" ".join(filter(None, (doc.number, doc.title, doc.issuing_body)))), "by": actor.subject})
    size, sha256 = await _store_chunks(db, document_id, doc.read)
    if size > MAX_BYTES:  # the upload grew past what it declared
        raise invalid([("file", f"is larger than {MAX_BYTES // 2**20} MB")])
    await db.execute(text("UPDATE documents SET size_bytes = :size, sha256 = :sha WHERE id = :id"),
                     {"size": size, "sha": sha256, "id": document_id})
    await articles.emit(db, DocumentAdded(
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
        await db.execute(text("INSERT INTO document_chunks (document_id, seq, data) VALUES (:d, :s, :data)"),
                         {"d": document_id, "s": seq, "data": chunk})
        seq += 1
    return size, digest.hexdigest()


async def one(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any]:
    row = (await db.execute(text(
        f"WITH me AS ({articles.READER}) SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b "
        f"WHERE b.document_id = d.id AND b.account_id = :me) AS bookmarked FROM documents d "
        f"WHERE d.id = :id AND {_VISIBLE}"),
        await _visibility(db, actor) | {"id": document_id, "me": actor.subject})).mappings().first()
    if row is None:
        raise Problem(404, "Not found", "No such document.")
    return dict(row)


async def file(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any]:
    """What a download needs to start: the file's name, type, size and how many chunks it has."""
    found = await one(db, actor, document_id)
    chunks = (await db.execute(text("SELECT count(*) FROM document_chunks WHERE document_id = :id"),
                               {"id": document_id})).scalar()
    return {"filename": found["filename"], "content_type": found["content_type"], "size": found["size_bytes"],
            "chunks": chunks}


async def file_chunks(engine: AsyncEngine, document_id: Any, chunks: int) -> AsyncIterator[bytes]:
    """The file, chunk by chunk, each read on its own (a slow download holds no connection);
    a document never changes once added."""
    for seq in range(chunks):
        async with engine.connect() as db:
            data = (await db.execute(text("SELECT data FROM document_chunks WHERE document_id = :id AND seq = :s"),
                                     {"id": document_id, "s": seq})).scalar()
        if data is None:
            return
        yield bytes(data)


async def listing(db: AsyncConnection, actor: Principal, *, q: str | None, kind: str | None,
                  bookmarked: bool, limit: int) -> list[dict[str, Any]]:
    """Newest first, of the documents the caller may see; `q` matches number, title and issuing body,
    accents ignored."""
    params: dict[str, Any] = await _visibility(db, actor) | {"me": actor.subject, "kind": kind, "n": limit}
    clauses = ["(CAST(:kind AS text) IS NULL OR d.kind = :kind)", _VISIBLE]
    if q is not None:
        terms = search_terms(q)
        if not terms:
            raise invalid([("q", "needs at least one word")])
        for i, term in enumerate(terms):
            clauses.append(f"d.search_folded LIKE :t{i}")
            params[f"t{i}"] = contains(term)
    if bookmarked:
        clauses.append("EXISTS (SELECT 1 FROM bookmarks b WHERE b.document_id = d.id AND b.account_id = :me)")
    rows = await db.execute(text(
        f"WITH me AS ({articles.READER}) SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b "
        f"WHERE b.document_id = d.id AND b.account_id = :me) AS bookmarked FROM documents d "
        f"WHERE {' AND '.join(clauses)} ORDER BY d.issued_on DESC NULLS LAST, d.added_at DESC LIMIT :n"), params)
    return [dict(r._mapping) for r in rows]


async def bookmark(db: AsyncConnection, actor: Principal, document_id: Any, on: bool) -> dict[str, Any]:
    await one(db, actor, document_id)  # 404 for a missing document, or one the caller may not see
    if on:
        await db.execute(text("INSERT INTO bookmarks (account_id, document_id) VALUES (:me, :d) "
                              "ON CONFLICT DO NOTHING"), {"me": actor.subject, "d": document_id})
    else:
        await db.execute(text("DELETE FROM bookmarks WHERE account_id = :me AND document_id = :d"),
                         {"me": actor.subject, "d": document_id})
    return {"document_id": str(document_id), "bookmarked": on}


def document_json(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "id" else v)
            for k, v in d.items()}
