"""The documents library: resolutions, directives and guidance as files with
their number, date and issuing body; searchable; bookmarked by members."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import articles, domain
from services.content.events import DocumentAdded
from services.content.text import contains, fold, search_terms
from sotay.auth import Principal
from sotay.events import uuid7
from sotay.http import Problem, invalid

MAX_BYTES = 20 * 1024 * 1024
CONTENT_TYPES = {
    ".pdf": "application/pdf", ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text", ".txt": "text/plain; charset=utf-8",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
}
COLUMNS = ("id, kind, number, title, issued_on, issuing_body, unit, filename, content_type, size_bytes, sha256, "
           "added_at")


@dataclass
class DocumentInput:
    kind: str
    title: str
    number: str | None
    issued_on: date | None
    issuing_body: str | None
    unit: str | None
    filename: str
    content: bytes


async def not_in_library(db: AsyncConnection, field: str, ids: list[str]) -> list[tuple[str, str]]:
    """A problem for each of `ids` that is no document of the library (attachments, papers for a meeting)."""
    if not ids:
        return []
    known = set((await db.execute(text("SELECT CAST(id AS text) FROM documents WHERE id = ANY(CAST(:ids AS uuid[]))"),
                                  {"ids": ids})).scalars())
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
    if not doc.content:
        problems.append(("file", "is empty"))
    if len(doc.content) > MAX_BYTES:
        problems.append(("file", f"is larger than {MAX_BYTES // 2**20} MB"))
    if doc.issued_on and doc.issued_on > date.today():
        problems.append(("issued_on", "cannot be in the future"))
    editor_units = actor.units_for(*domain.EDITORS)
    unit = doc.unit or (editor_units[0] if editor_units else None)
    if unit is None:
        raise Problem(403, "Forbidden", "Adding documents needs an editor role.")
    path = (await articles.unit_paths(db, [unit]))[unit]
    if path is None:
        problems.append(("unit", f"{unit} is not a unit"))
    if problems:
        raise invalid(problems)
    if not domain.covers(await articles.scope_paths(db, actor, domain.EDITORS), path):
        raise Problem(403, "Forbidden", "You are not an editor of this unit.")
    document_id = uuid7()
    await db.execute(text(
        "INSERT INTO documents (id, kind, number, title, issued_on, issuing_body, unit, unit_path, filename, "
        "content_type, size_bytes, sha256, content, search_folded, added_by) VALUES (:id, :kind, :number, :title, "
        ":issued_on, :body, :unit, :path, :filename, :ct, :size, :sha, :content, :folded, :by)"),
        {"id": document_id, "kind": doc.kind, "number": doc.number, "title": doc.title.strip(),
         "issued_on": doc.issued_on, "body": doc.issuing_body, "unit": unit, "path": path,
         "filename": doc.filename, "ct": content_type, "size": len(doc.content),
         "sha": hashlib.sha256(doc.content).hexdigest(), "content": doc.content,
         "folded": fold(" ".join(filter(None, (doc.number, doc.title, doc.issuing_body)))), "by": actor.subject})
    await articles.emit(db, DocumentAdded(
        document_id=str(document_id), kind=doc.kind, number=doc.number, title=doc.title.strip(),
        issued_on=doc.issued_on, issuing_body=doc.issuing_body, unit=unit),
        aggregate_id=document_id, committee=domain.committee_of(path), unit=unit)
    return await one(db, actor, document_id)


async def one(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any]:
    row = (await db.execute(text(
        f"SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b WHERE b.document_id = d.id AND b.account_id = :me) "
        "AS bookmarked FROM documents d WHERE id = :id"), {"id": document_id, "me": actor.subject})).mappings().first()
    if row is None:
        raise Problem(404, "Not found", "No such document.")
    return dict(row)


async def file(db: AsyncConnection, document_id: Any) -> dict[str, Any]:
    row = (await db.execute(text("SELECT filename, content_type, content FROM documents WHERE id = :id"),
                            {"id": document_id})).mappings().first()
    if row is None:
        raise Problem(404, "Not found", "No such document.")
    return dict(row)


async def listing(db: AsyncConnection, actor: Principal, *, q: str | None, kind: str | None,
                  bookmarked: bool, limit: int) -> list[dict[str, Any]]:
    """Newest first; `q` matches number, title and issuing body, accents ignored."""
    params: dict[str, Any] = {"me": actor.subject, "kind": kind, "n": limit}
    clauses = ["(CAST(:kind AS text) IS NULL OR kind = :kind)"]
    if q is not None:
        terms = search_terms(q)
        if not terms:
            raise invalid([("q", "needs at least one word")])
        for i, term in enumerate(terms):
            clauses.append(f"search_folded LIKE :t{i}")
            params[f"t{i}"] = contains(term)
    if bookmarked:
        clauses.append("EXISTS (SELECT 1 FROM bookmarks b WHERE b.document_id = d.id AND b.account_id = :me)")
    rows = await db.execute(text(
        f"SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b WHERE b.document_id = d.id AND b.account_id = :me) "
        f"AS bookmarked FROM documents d WHERE {' AND '.join(clauses)} "
        "ORDER BY issued_on DESC NULLS LAST, added_at DESC LIMIT :n"), params)
    return [dict(r._mapping) for r in rows]


async def bookmark(db: AsyncConnection, actor: Principal, document_id: Any, on: bool) -> dict[str, Any]:
    await one(db, actor, document_id)  # 404 for a missing document
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
