"""The SQL of the documents library: documents, their files in chunks of 1 MiB
(document_chunks), bookmarks, and who may see a document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.content import domain
from services.content.adapters.replica import ORG, READER, reader_params
from sotay.kit.auth import Principal

COLUMNS = ("d.id, d.kind, d.number, d.title, d.issued_on, d.issuing_body, d.unit, d.audience, d.filename, "
           "d.content_type, d.size_bytes, d.sha256, d.added_at")

# Who may see document d (with the reader's CTE `me` of adapters/replica.py READER): its audience, the editors
# of the unit that added it (or above), for a meeting's paper the meeting's cell (its members,
# whose ancestors hold the cell, and the secretaries or admins over it), and for a document a
# published study topic studies, that topic's audience.
VISIBLE = ("(d.audience_paths && (SELECT anc FROM me) OR d.unit_path LIKE ANY(CAST(:editor_paths AS text[])) "
           "OR EXISTS (SELECT 1 FROM meetings m WHERE m.documents @> ARRAY[d.id] "
           "AND (ARRAY[m.cell_path] <@ (SELECT anc FROM me) OR m.cell_path LIKE ANY(CAST(:secretary_paths AS text[])))) "
           "OR EXISTS (SELECT 1 FROM study_topics s WHERE s.status = 'published' AND s.documents @> ARRAY[d.id] "
           "AND s.audience_paths && (SELECT anc FROM me)))")


async def visibility(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """The parameters of VISIBLE for the caller."""
    editors = await ORG.scope_paths(db, actor, domain.EDITORS)
    secretaries = await ORG.scope_paths(db, actor, domain.SECRETARIES)
    return reader_params(actor) | {"editor_paths": [p + "%" for p in editors],
                                   "secretary_paths": [p + "%" for p in secretaries]}


async def not_in_library(db: AsyncConnection, actor: Principal, field: str, ids: list[str]) -> list[tuple[str, str]]:
    """A problem for each of `ids` that is no document of the library the caller may read
    (attachments, papers for a meeting): one cannot hand on what one may not see."""
    if not ids:
        return []
    known = set((await db.execute(text(
        f"WITH me AS ({READER}) SELECT CAST(d.id AS text) FROM documents d "
        f"WHERE d.id = ANY(CAST(:ids AS uuid[])) AND {VISIBLE}"),
        await visibility(db, actor) | {"ids": ids})).scalars())
    return [(field, f"{d} is not a document of the library") for d in ids if d not in known]


async def insert(db: AsyncConnection, row: dict[str, Any]) -> None:
    """A document's row, its size and digest still to come (set_file)."""
    await db.execute(text(
        "INSERT INTO documents (id, kind, number, title, issued_on, issuing_body, unit, unit_path, audience, "
        "audience_paths, filename, content_type, size_bytes, sha256, search_folded, added_by) VALUES (:id, :kind, "
        ":number, :title, :issued_on, :body, :unit, :path, :audience, :paths, :filename, :ct, 0, '', :folded, :by)"),
        row)


async def add_chunk(db: AsyncConnection, document_id: Any, seq: int, data: bytes) -> None:
    await db.execute(text("INSERT INTO document_chunks (document_id, seq, data) VALUES (:d, :s, :data)"),
                     {"d": document_id, "s": seq, "data": data})


async def set_file(db: AsyncConnection, document_id: Any, size: int, sha256: str) -> None:
    await db.execute(text("UPDATE documents SET size_bytes = :size, sha256 = :sha WHERE id = :id"),
                     {"size": size, "sha": sha256, "id": document_id})


async def one(db: AsyncConnection, actor: Principal, document_id: Any) -> dict[str, Any] | None:
    """The document, with whether the caller bookmarked it, if the caller may see it."""
    row = (await db.execute(text(
        f"WITH me AS ({READER}) SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b "
        f"WHERE b.document_id = d.id AND b.account_id = :me) AS bookmarked FROM documents d "
        f"WHERE d.id = :id AND {VISIBLE}"),
        await visibility(db, actor) | {"id": document_id, "me": actor.subject})).mappings().first()
    return dict(row) if row else None


async def chunk_count(db: AsyncConnection, document_id: Any) -> int:
    return (await db.execute(text("SELECT count(*) FROM document_chunks WHERE document_id = :id"),
                             {"id": document_id})).scalar()


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


async def listing(db: AsyncConnection, actor: Principal, *, like: list[str], kind: str | None,
                  bookmarked: bool, limit: int) -> list[dict[str, Any]]:
    """Newest first, of the documents the caller may see whose folded number, title and issuing body
    match every pattern of `like`."""
    params: dict[str, Any] = await visibility(db, actor) | {"me": actor.subject, "kind": kind, "n": limit}
    clauses = ["(CAST(:kind AS text) IS NULL OR d.kind = :kind)", VISIBLE]
    for i, pattern in enumerate(like):
        clauses.append(f"d.search_folded LIKE :t{i}")
        params[f"t{i}"] = pattern
    if bookmarked:
        clauses.append("EXISTS (SELECT 1 FROM bookmarks b WHERE b.document_id = d.id AND b.account_id = :me)")
    rows = await db.execute(text(
        f"WITH me AS ({READER}) SELECT {COLUMNS}, EXISTS (SELECT 1 FROM bookmarks b "
        f"WHERE b.document_id = d.id AND b.account_id = :me) AS bookmarked FROM documents d "
        f"WHERE {' AND '.join(clauses)} ORDER BY d.issued_on DESC NULLS LAST, d.added_at DESC LIMIT :n"), params)
    return [dict(r._mapping) for r in rows]


async def bookmark(db: AsyncConnection, account: str, document_id: Any, on: bool) -> None:
    if on:
        await db.execute(text("INSERT INTO bookmarks (account_id, document_id) VALUES (:me, :d) "
                              "ON CONFLICT DO NOTHING"), {"me": account, "d": document_id})
    else:
        await db.execute(text("DELETE FROM bookmarks WHERE account_id = :me AND document_id = :d"),
                         {"me": account, "d": document_id})
