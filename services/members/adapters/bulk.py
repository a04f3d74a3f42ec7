"""The bulk import path: validated rows go in with COPY, not row by row.

Rows are taken in chunks; each chunk is one transaction that COPYs the
members, their history rows and their `MemberRegistered` events into the
outbox, so an imported member and its event exist together or not at all.
Bad rows are reported by row, field and reason, and nothing of them is
written.
"""

from __future__ import annotations

import uuid
import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.members import domain
from services.members.adapters import registry, sealed
from services.members.domain import member_personal, member_snapshot
from sotay.contracts.members import MemberRegistered
from sotay.kit.db import scrub_database_error
from sotay.kit.events import message_from_payload, uuid7
from sotay.kit.member_keys import seal_personal
from sotay.kit.outbox import notify_channel, trace_headers
from sotay.kit.scope import covers
from sotay.kit.service import ServiceContext

MEMBER_COPY_COLUMNS = (
    "id", "party_card_no", "full_name", "name_folded", "sealed", "citizen_id_hash", "phone_hash", "gender",
    "unit_id", "unit_path", "admitted_on", "official_on", "status", "eligible", "ineligible_reason",
    "date_of_birth_hash",
)
MAX_STORED_ERRORS = 10_000


@dataclass
class ImportReport:
    import_id: uuid.UUID
    total_rows: int = 0
    imported: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: set[int] = field(default_factory=set)
    # Each field's column as the file heads it (a refused row names the clerk's own column).
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return len(self.rejected_rows)

    def reject(self, row: int, field_name: str, reason: str) -> None:
        self.rejected_rows.add(row)
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append({"row": row, "field": field_name, "column": self.labels.get(field_name, field_name),
                                "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.import_id), "total_rows": self.total_rows, "imported": self.imported,
                "rejected": self.rejected, "errors": self.errors}


Progress = Callable[[ImportReport], Awaitable[None] | None]


class MemberImporter:
    def __init__(self, engine: AsyncEngine, ctx: ServiceContext, *, actor: str, source: str = "import",
                 chunk_size: int = 20_000, today: date | None = None) -> None:
        self.engine = engine
        self.ctx = ctx
        self.actor = actor
        self.source = source
        self.chunk_size = chunk_size
        self.today = today or date.today()
        self._rows: domain.FileRows | None = None  # the rows' checks, once the cells are read (run)
        self.vault = sealed.vault_of(engine)
        self.key_id = 0  # the data key chunks are sealed with (a rotation alongside changes it)

    async def run(self, rows: Iterable[tuple[int, dict[str, Any]]], report: ImportReport,
                  *, allowed_paths: list[str] | None = None, progress: Progress | None = None) -> ImportReport:
        """Import every good row; `allowed_paths` limits target cells to the importer's subtrees.

        Reading, validating and encoding a chunk (Python work) runs in a worker
        thread while the previous chunk's COPY runs in PostgreSQL, so the two
        overlap instead of taking turns."""
        async with self.engine.begin() as conn:
            cells = await registry.all_cells(conn)
            self.key_id = await self.vault.active_key(conn)
        # Clerks write the cell's name ("Chi bộ số 2"), accents optional: its code when one cell of
        # theirs has that name.
        self._rows = domain.FileRows(
            cells, [code for code, cell in cells.items() if allowed_paths is None or covers(allowed_paths, cell["path"])],
            today=self.today, reject=lambda row_no, field, reason: report.reject(row_no, field, reason))
        headers = orjson.dumps(trace_headers()).decode()
        rows = iter(rows)
        writing: asyncio.Task | None = None
        try:
            while True:
                chunk = await asyncio.to_thread(self._prepare, rows, cells, allowed_paths, report, headers)
                if writing is not None:
                    await writing
                    await _report(progress, report)
                if not chunk.members:
                    if chunk.exhausted:
                        break
                    continue
                writing = asyncio.create_task(self._write_chunk(chunk, report))
                if chunk.exhausted:
                    break
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        await _report(progress, report)
        return report

    def _prepare(self, rows: Iterator[tuple[int, dict[str, Any]]], cells: dict[str, dict[str, Any]],
                 allowed_paths: list[str] | None, report: ImportReport, headers: str) -> _Chunk:
        chunk = _Chunk(key_id=self.key_id)
        for row_no, raw in rows:
            report.total_rows += 1
            member = self._validate(row_no, raw, cells, allowed_paths, report)
            if member is not None:
                chunk.add(row_no, member, cells[member.unit], self, headers)
            if len(chunk.members) >= self.chunk_size:
                return chunk
        chunk.exhausted = True
        return chunk

    def _validate(self, row_no: int, raw: dict[str, Any], cells: dict[str, dict[str, Any]],
                  allowed_paths: list[str] | None, report: ImportReport) -> domain.Member | None:
        return self._rows.member(row_no, raw, lambda cell: None if allowed_paths is None or covers(
            allowed_paths, cell["path"]) else "is outside the units you administer")

    async def _write_chunk(self, chunk: _Chunk, report: ImportReport) -> None:
        async with self.engine.begin() as conn:
            taken_cards = set((await conn.execute(text(
                "SELECT party_card_no FROM members WHERE party_card_no = ANY(:v)"),
                {"v": [m.party_card_no for m in chunk.members]})).scalars())
            taken_ids = set((await conn.execute(text(
                "SELECT citizen_id_hash FROM members WHERE citizen_id_hash = ANY(:v)"),
                {"v": [h for h in chunk.citizen_id_hashes if h]})).scalars())
            key_id = await self.vault.active_key(conn)
            if key_id != chunk.key_id:  # rotated since the chunk was sealed: seal it again under the new key
                self.key_id = key_id
                await asyncio.to_thread(chunk.seal, self.vault, key_id)
            keep = [i for i, m in enumerate(chunk.members)
                    if not self._taken(chunk.row_numbers[i], m, chunk.citizen_id_hashes[i], taken_cards, taken_ids,
                                       report)]
            # The new members' event keys, before their events can be published (a failed COPY
            # leaves keys of no member: nothing they seal was ever sent).
            await self.ctx.member_keys.put_made([chunk.member_ids[i] for i in keep])
            raw = (await conn.get_raw_connection()).driver_connection
            try:
                await raw.copy_records_to_table("members", records=[chunk.member_records[i] for i in keep],
                                                columns=MEMBER_COPY_COLUMNS)
                await raw.copy_records_to_table("member_history", records=[chunk.history[i] for i in keep],
                                                columns=("member_id", "actor", "action", "changes"))
                await raw.copy_records_to_table("outbox", records=[chunk.outbox[i] for i in keep],
                                                columns=("event_id", "subject", "body", "headers"))
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The driver's own connection, outside the engine's error handling: a unique violation
                # (a member added alongside the import) would quote the citizen ID in its DETAIL.
                scrub_database_error(exc)
                raise
            await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": notify_channel(registry.SCHEMA)})
            report.imported += len(keep)

    @staticmethod
    def _taken(row_no: int, m: domain.Member, citizen_id_hash: str | None, cards: set[str], citizen_ids: set[str],
               report: ImportReport) -> bool:
        if m.party_card_no in cards:
            report.reject(row_no, "party_card_no", "is already in the registry")
            return True
        if citizen_id_hash and citizen_id_hash in citizen_ids:
            report.reject(row_no, "citizen_id", "belongs to another member")
            return True
        return False


@dataclass
class _Chunk:
    """A chunk of valid rows, encoded for COPY: members (their citizen ID, phone and date of birth
    sealed under data key `key_id`), history and their events."""

    row_numbers: list[int] = field(default_factory=list)
    member_ids: list[str] = field(default_factory=list)
    members: list[domain.Member] = field(default_factory=list)
    citizen_id_hashes: list[str | None] = field(default_factory=list)
    member_records: list[tuple] = field(default_factory=list)
    key_id: int = 0
    history: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
    exhausted: bool = False

    def add(self, row_no: int, m: domain.Member, cell: dict[str, Any], importer: MemberImporter,
            headers: str) -> None:
        member_id = uuid7()
        personal = member_personal(m, pii_hash=importer.ctx.pii_hash)
        key = importer.ctx.member_keys.make(str(member_id))  # put in sotay_member_keys before the COPY commits
        payload = {**member_snapshot(m, member_id=member_id, unit_path=cell["path"]),
                   "restricted": False, "personal": seal_personal(key, str(member_id), personal),
                   "source": importer.source}
        message = message_from_payload(MemberRegistered, payload, aggregate_id=str(member_id),
                                       committee=cell["committee"], orgunit=m.unit, sequence=1)
        self.row_numbers.append(row_no)
        self.members.append(m)
        self.member_ids.append(str(member_id))
        self.citizen_id_hashes.append(personal["citizen_id_hash"])
        self.member_records.append((
            member_id, m.party_card_no, m.full_name, domain.fold(m.full_name),
            importer.vault.seal_with(self.key_id, f"members:{member_id}",
                                     sealed.member_values(m.citizen_id, m.phone, m.date_of_birth)),
            personal["citizen_id_hash"], personal["phone_hash"], m.gender, cell["id"], cell["path"], m.admitted_on,
            m.official_on, m.status, m.eligible, m.ineligible_reason, personal["date_of_birth_hash"]))
        self.history.append((member_id, importer.actor, "imported", f'{{"source": "{importer.source}"}}'))
        self.outbox.append((message.id, message.subject, message.body(), headers))

    def seal(self, vault: sealed.Vault, key_id: int) -> None:
        """Seal every member of the chunk again under data key `key_id`."""
        self.key_id = key_id
        self.member_records = [
            (*r[:4], vault.seal_with(key_id, f"members:{r[0]}",
                                     sealed.member_values(m.citizen_id, m.phone, m.date_of_birth)), *r[5:])
            for r, m in zip(self.member_records, self.members, strict=True)]


async def _report(progress: Progress | None, report: ImportReport) -> None:
    if progress is not None:
        result = progress(report)
        if inspect.isawaitable(result):
            await result


async def record_import_start(engine: AsyncEngine, report: ImportReport, filename: str, actor: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO imports (id, filename, status, created_by) VALUES (:id, :f, 'running', :a)"),
            {"id": report.import_id, "f": filename, "a": actor})


async def record_import_progress(engine: AsyncEngine, report: ImportReport, status: str = "running") -> None:
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE imports SET status = :s, total_rows = :t, imported = :i, rejected = :r, "
            "errors = CAST(:e AS jsonb), finished_at = CASE WHEN :s = 'running' THEN NULL ELSE now() END "
            "WHERE id = :id"),
            {"s": status, "t": report.total_rows, "i": report.imported, "r": report.rejected,
             "e": orjson.dumps(in_row_order(report.errors)).decode(), "id": report.import_id})


def in_row_order(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors by row (a chunk's rows already in the registry are found after the next chunk's
    rows are checked); a row's own errors keep their order."""
    return sorted(errors, key=lambda e: e["row"])


async def import_status(engine: AsyncEngine, import_id: Any) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM imports WHERE id = :id"), {"id": import_id})).mappings().first()
    return dict(row) if row else None
