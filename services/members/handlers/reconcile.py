"""Reconciliation with the national member database (domain/reconcile.py has the rules).

1. `parse_export`: the export (CSV or XLSX, the import's columns and headers) read and every row
   validated as an import's is (domain.parse_member); a bad row refuses the whole file, naming its
   row and column (problem+json, changes nothing).
2. `compare`: the rows go into a temporary table with COPY; one diff query against the registry;
   the differences are stored as a reconciliation's items (values before and after, the sealed
   ones sealed), with a summary of counts per unit. Identical records leave nothing.
3. `apply`: the items by the registry's own rules (the use cases' decisions, run on a chunk of
   members at once and written together by handlers/registry_batch.py: the same rows, history and
   events as create_member, change_status, transfer_member and apply_patch one at a time), once: a reconciliation is applied at most once, a member changed since the
   comparison is skipped, fields a pending correction request also changes are held back.
   Members missing from the export are reported, never deleted.

Nothing here logs a member's values: logs carry ids and counts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from typing import Any, BinaryIO

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import audit, registry, sealed
from services.members.adapters import reconcile as store
from services.members.adapters.import_files import VIETNAMESE_HEADERS, read_member_rows
from services.members.domain import reconcile as rules
from services.members.handlers import members as use_cases
from services.members.handlers.registry_batch import RegistryBatch
from services.members.handlers.access import ORG, REGISTRY_WRITERS, Scopes, not_found
from sotay.kit.auth import Principal
from sotay.kit.db import lock_key, unique_violation
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import covers
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.members.reconcile")
MAX_ERRORS = 50
CHUNK = 5_000  # rows read, copied, fetched and classified at a time
SEALED = set(sealed.SEALED_FIELDS)


@dataclass(slots=True)
class Entry:
    row_no: int
    member: domain.Member
    cell: dict[str, Any]
    in_scope: bool


@dataclass
class ParsedExport:
    entries: list[Entry] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    bad_rows: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    total_rows: int = 0

    @property
    def outside(self) -> int:
        return sum(1 for e in self.entries if not e.in_scope)


def scope_roots(paths: list[str]) -> list[str]:
    """The subtrees, none inside another."""
    return sorted({p for p in paths if not any(p != q and p.startswith(q) for q in paths)})


async def reconcilable_paths(db: AsyncConnection, actor: Principal) -> list[str]:
    """The subtrees the actor reconciles (a registry writer's; 403 with none)."""
    return scope_roots(await ORG.scoped(db, actor, REGISTRY_WRITERS,
                                        "Reconciling the registry is for its writers (unit or city administrators)."))


# --- 1. the file ---------------------------------------------------------------------------------


class ExportReader:
    """An export read a chunk of rows at a time, each row validated as an import's (ValueError at
    once for a file that is not a member sheet). A cell is named by its code, or by its name among
    the cells of `scope`. What is read is kept in `parsed`: the good rows and the errors."""

    def __init__(self, source: bytes | BinaryIO, filename: str, cells: dict[str, dict[str, Any]],
                 scope: list[str], *, today: date) -> None:
        self.rows = read_member_rows(source, filename)
        self.parsed = ParsedExport(labels=dict(self.rows.labels))
        self.cells, self.scope, self.today = cells, scope, today
        self.in_scope = {code: covers(scope, cell["path"]) for code, cell in cells.items()}
        self.rows_checked = domain.FileRows(cells, [code for code in cells if self.in_scope[code]], today=today,
                                            reject=self.reject)
        self.done = False

    def reject(self, row_no: int, field_name: str, reason: str) -> None:
        parsed = self.parsed
        if not parsed.errors or parsed.errors[-1]["row"] != row_no:
            parsed.bad_rows += 1
        if len(parsed.errors) < MAX_ERRORS:
            parsed.errors.append({"field": "file", "row": row_no, "column": parsed.labels.get(field_name, field_name),
                                  "name": field_name, "reason": reason})

    def chunk(self, size: int) -> list[Entry]:
        """Up to `size` more good rows (kept in `parsed.entries` too); `done` once the file is read."""
        out: list[Entry] = []
        for row_no, raw in self.rows:
            self.parsed.total_rows += 1
            entry = self._entry(row_no, raw)
            if entry is not None:
                out.append(entry)
                if len(out) >= size:
                    break
        else:
            self.done = True
        self.parsed.entries += out
        # The rows read are kept to the end of the comparison (hundreds of thousands of objects at
        # city size): out of the cyclic collector's way, which would otherwise walk them all again
        # at each full collection while the rest of the file is read (reconcile_file unfreezes).
        gc.freeze()
        return out

    def read_all(self) -> ParsedExport:
        while not self.done:
            self.chunk(CHUNK)
        return self.parsed

    def _entry(self, row_no: int, raw: dict[str, Any]) -> Entry | None:
        member = self.rows_checked.member(row_no, raw)
        if member is None:
            return None
        cell = self.cells[member.unit]
        return Entry(row_no, member, cell, self.in_scope[member.unit])


def parse_export(source: bytes | BinaryIO, filename: str, cells: dict[str, dict[str, Any]], scope: list[str],
                 *, today: date) -> ParsedExport:
    """The whole export read and checked (ExportReader)."""
    return ExportReader(source, filename, cells, scope, today=today).read_all()


# What a refused row's problem says in Vietnamese (the page translates the English reasons as the
# import's; the problem's detail is read as it is, by a clerk or a script's log).
_REASONS_VI = [
    (r"^is required$", "bắt buộc phải có"),
    (r"^must be a real date.*$", "phải là ngày có thật, viết ngày/tháng/năm (ví dụ 01/05/1960)"),
    (r"^cannot be in the future$", "không được là ngày trong tương lai"),
    (r"^is not an open party cell of the registry$", "không phải chi bộ đang hoạt động trong hồ sơ"),
    (r"^names more than one cell.*$", "trùng tên với nhiều chi bộ, đề nghị ghi mã chi bộ"),
    (r"^appears twice in this file$", "bị trùng với một dòng khác trong tệp"),
    (r"^must be one of: male, female$", "phải là Nam hoặc Nữ"),
    (r"^must be one of: active.*$", "phải là một trong: Đang sinh hoạt, Dự bị, Miễn sinh hoạt, Đã chuyển đi, "
                                    "Từ trần, Xoá tên"),
    (r"^must be after admitted_on$", "phải sau Ngày vào Đảng"),
    (r"^requires admitted_on$", "cần có Ngày vào Đảng"),
    (r"^must be true or false$", "phải là Có hoặc Không"),
    (r"^is already in the registry$", "đã có trong hồ sơ"),
    (r"^belongs to another member$", "thuộc về một đảng viên khác"),
]


def reason_vi(reason: str) -> str:
    for pattern, vi in _REASONS_VI:
        if re.match(pattern, reason):
            return vi
    return reason


def refused(parsed: ParsedExport) -> Problem:
    """The 422 of an export with bad rows: each error names its row and the file's column."""
    shown = "; ".join(f"dòng {e['row']}, cột «{e['column']}»: {reason_vi(e['reason'])}" for e in parsed.errors[:5])
    more = f"; … ({len(parsed.errors) - 5} lỗi nữa)" if len(parsed.errors) > 5 else ""
    problem = invalid(parsed.errors, f"Tệp có {parsed.bad_rows} dòng không hợp lệ, chưa đối soát gì: {shown}{more}.")
    problem.extra["bad_rows"] = parsed.bad_rows
    return problem


def file_refused(reason: str) -> Problem:
    return invalid([{"field": "file", "reason": reason}], "Không đọc được tệp: " + reason_vi(reason))


# --- 2. the comparison ----------------------------------------------------------------------------


def export_records(entries: list[Entry], pii_hash: Callable[[str], str]) -> list[tuple]:
    """The export's rows for COPY (store.EXPORT_COLUMNS): the citizen ID and the phone as their keyed
    hashes, which the registry keeps beside the sealed values."""
    return [(m.party_card_no, m.full_name, m.gender, pii_hash(m.citizen_id) if m.citizen_id else None,
             pii_hash(m.phone) if m.phone else None,
             pii_hash(m.date_of_birth.isoformat()) if m.date_of_birth else None, e.cell["id"], m.admitted_on, m.official_on, m.status,
             m.eligible, m.ineligible_reason, e.row_no, e.in_scope)
            for e in entries for m in (e.member,)]


@dataclass
class Found:
    kind: str
    row: Any  # the diff query's row
    entry: Entry | None
    fields: list[str]
    opened: dict[str, Any] = field(default_factory=dict)


def classify(rows: list[Any], entries: dict[int, Entry], vault: sealed.Vault) -> list[Found]:
    """The diff query's rows as differences; a member without a date-of-birth hash (written before it
    was kept) has their sealed values opened and compared here. Run in a worker thread."""
    found: list[Found] = []
    for r in rows:
        row_no, member_id = r["row_no"], r["id"]
        if member_id is None:
            found.append(Found("new", r, entries[row_no], list(rules.COMPARED_FIELDS)))
            continue
        if row_no is None:
            found.append(Found("missing", r, None, []))
            continue
        entry = entries[row_no]
        changed = r["changed"]
        opened: dict[str, Any] = {}
        if r["open_born"]:
            opened = vault.open_loaded(f"members:{member_id}", r["sealed"])
            born = entry.member.date_of_birth
            if opened.get("date_of_birth") != (born.isoformat() if born else None):
                changed = [*changed, "date_of_birth"]
            if not changed:
                continue
        kind = "changed" if r["in_scope"] and r["member_in_scope"] else "outside"
        found.append(Found(kind, r, entry, [f for f in rules.COMPARED_FIELDS if f in changed], opened))
    return found


def _value(member: domain.Member | dict[str, Any] | None, name: str) -> Any:
    if member is None:
        return None
    value = member[name] if isinstance(member, dict) else getattr(member, name)
    return value.isoformat() if isinstance(value, date) else value


async def compare(db: AsyncConnection, ctx: ServiceContext, *, actor: str, filename: str, parsed: ParsedExport,
                  scope: list[str], clock: Stopwatch | None = None) -> dict[str, Any]:
    """Compare the export (in the temporary table of `db`'s transaction) with the registry inside
    `scope`; store the differences; the reconciliation (its summary: counts only). The diff query's
    rows are fetched a chunk at a time while the chunk before is classified in a worker thread (it
    opens each member's sealed values, for the date of birth)."""
    vault = sealed.vault_of(ctx.engine)
    clock = clock or Stopwatch()
    entries = {e.row_no: e for e in parsed.entries}
    rec_id = store.new_id()
    await store.analyze_export(db)
    await vault.load_all_keys(db)
    found: list[Found] = []
    cursor = await store.diff_cursor(db, scope)
    fetching = asyncio.create_task(cursor.fetch(CHUNK))
    while rows := await fetching:
        fetching = asyncio.create_task(cursor.fetch(CHUNK))
        found += await asyncio.to_thread(classify, rows, entries, vault)
    matched = Counter(await store.matched(db, scope))
    matched.subtract(f.row["unit_path"] for f in found if f.kind == "changed")
    identical: Counter = Counter()
    for path, n in matched.items():
        identical[rules.summary_unit(path, scope)] += n
    clock.lap("diff and classify")
    differing = [f.row["id"] for f in found if f.kind in ("changed", "outside")]
    current = {r["id"]: r for r in await registry.opened_members(db, await store.members_by_id(db, differing))}
    pending = defaultdict(list)
    requests = await store.pending_corrections(db, [f.row["id"] for f in found if f.kind == "changed"])
    opened_requests = await vault.open(db, [(f"correction_requests:{r['id']}", r["sealed"]) for r in requests])
    for request, values in zip(requests, opened_requests, strict=True):
        pending[request["member_id"]].append((request["id"], set(request["changes"]) | set(values)))
    key_id = await vault.active_key(db)
    items, counts = [], defaultdict(Counter)
    for seq, f in enumerate(found, 1):
        item = _item(rec_id, seq, f, current, pending, vault, key_id)
        items.append(item)
        unit_path = item[9]
        counts[rules.summary_unit(unit_path, scope)][f.kind] += 1
        if item[13]:
            counts[rules.summary_unit(unit_path, scope)]["conflicts"] += 1
    groups = sorted(set(counts) | set(identical))
    names = await store.unit_names(db, groups)
    summary = [{"unit": g, "name": names.get(g, g), **{k: counts[g][k] for k in (*rules.KINDS, "conflicts")},
                "identical": identical[g]} for g in groups]
    await store.insert_reconciliation(db, {
        "id": rec_id, "filename": filename, "created_by": actor, "scope": scope,
        "rows_total": parsed.total_rows, "rows_outside": parsed.outside, "identical": sum(identical.values()),
        "summary": summary})
    await store.insert_items(db, items)
    rec = await store.reconciliation(db, rec_id)
    clock.lap("store")
    log.info("reconciliation %s by %s: %d rows, %d differences (%s)", rec_id, actor, parsed.total_rows, len(items),
             clock)
    return rec


class Stopwatch:
    """Seconds per step, for the log line of a reconciliation (what was slow, never what was read)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f} s" for k, v in self.laps.items())


def _item(rec_id: Any, seq: int, f: Found, current: dict[Any, dict[str, Any]], pending: dict[Any, list],
          vault: sealed.Vault, key_id: int) -> tuple:
    """One stored item (store.ITEM_COLUMNS): its fields' values before (the registry) and after
    (the export), the citizen ID, phone and date of birth sealed."""
    r = f.row
    new = f.entry.member if f.entry else None
    if f.kind == "new":
        before = None
        fields = [name for name in rules.COMPARED_FIELDS if _value(new, name) not in (None, "")]
    elif f.kind == "missing":
        before, fields = None, []
    else:
        before = current[r["id"]]
        fields = f.fields
    values = {name: {"from": _value(before, name), "to": _value(new, name)} for name in fields}
    clear = {k: v for k, v in values.items() if k not in SEALED}
    secret = {k: v for k, v in values.items() if k in SEALED}
    blob = vault.seal_with(key_id, f"reconciliation_items:{rec_id}:{seq}", secret) if secret else None
    corrections = [rid for rid, proposed in pending.get(r["id"], []) if set(fields) & proposed]
    held = rules.held_fields(fields, [p for _, p in pending.get(r["id"], [])]) if f.kind == "changed" else []
    cell = f.entry.cell if f.entry else None
    unit_id, unit_path = (cell["id"], cell["path"]) if f.kind == "new" else (r["unit_id"], r["unit_path"])
    return (rec_id, seq, f.kind, f.entry.row_no if f.entry else None, r["id"],
            new.party_card_no if new else r["party_card_no"], new.full_name if new else r["full_name"],
            r["version"], unit_id, unit_path, fields, store_json(clear), blob, held, corrections if held else [])


def store_json(value: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def reconcile_file(ctx: ServiceContext, actor: Principal, source: bytes | BinaryIO, filename: str, *,
                         today: date) -> dict[str, Any]:
    """Read, check and compare an export (the HTTP upload and `sotay registry reconcile` alike):
    the stored reconciliation; a 422 naming rows and columns for a bad file, which stores nothing.

    The file is read a chunk at a time in a worker thread while the chunk before is COPYed into the
    comparison's temporary table, so reading (Python) and loading (PostgreSQL) overlap."""
    async with ctx.engine.connect() as db:
        scope = await reconcilable_paths(db, actor)
        cells = await registry.all_cells(db)
    vault = sealed.vault_of(ctx.engine)
    clock = Stopwatch()
    try:
        reader = await asyncio.to_thread(ExportReader, source, filename, cells, scope, today=today)
    except ValueError as exc:
        raise file_refused(str(exc)) from None

    def next_records() -> list[tuple]:
        started = time.perf_counter()
        try:
            return export_records(reader.chunk(CHUNK), vault.pii_hash)
        finally:
            clock.laps["reading (thread)"] = clock.laps.get("reading (thread)", 0.0) + time.perf_counter() - started

    async with ctx.engine.begin() as db:
        await store.create_export_table(db)
        copying: asyncio.Task | None = None
        try:
            while not reader.done:
                records = await asyncio.to_thread(next_records)
                if copying is not None:
                    waited = time.perf_counter()
                    await copying
                    clock.laps["copy waited"] = clock.laps.get("copy waited", 0.0) + time.perf_counter() - waited
                if records and not reader.parsed.errors:  # a bad file is read to its end for its errors only
                    copying = asyncio.create_task(store.copy_export(db, records))
            if copying is not None:
                await copying
        finally:
            if copying is not None and not copying.done():
                copying.cancel()
            gc.unfreeze()
        parsed = reader.parsed
        if parsed.errors:
            raise refused(parsed)
        clock.lap("read and copy")
        return await compare(db, ctx, actor=actor.subject, filename=filename, parsed=parsed, scope=scope, clock=clock)


# --- reading ---------------------------------------------------------------------------------------


async def for_writer(db: AsyncConnection, actor: Principal, rec_id: Any, *, lock: bool = False) -> dict[str, Any]:
    """A reconciliation, for a registry writer whose units cover all it compared (404 otherwise:
    another committee's is not told to exist)."""
    rec = await store.reconciliation(db, rec_id, lock=lock)
    writable = await ORG.scope_paths(db, actor, REGISTRY_WRITERS)
    if rec is None or not all(covers(writable, p) for p in rec["scope"]):
        if not writable:
            await reconcilable_paths(db, actor)  # 403 for who reconciles nothing
        raise not_found("reconciliation")
    return rec


async def list_for(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    writable = await reconcilable_paths(db, actor)
    return [r for r in await store.list_reconciliations(db, 50) if all(covers(writable, p) for p in r["scope"])][:20]


async def opened_items(db: AsyncConnection, rec_id: Any) -> list[dict[str, Any]]:
    """The items with their values before and after (`values`), the sealed ones opened."""
    items = await store.items(db, rec_id)
    opened = await sealed.vault(db).open(
        db, [(f"reconciliation_items:{rec_id}:{i['seq']}", i["sealed"]) for i in items])
    for item, secret in zip(items, opened, strict=True):
        item["values"] = {**item["changes"], **secret}
    return items


async def report(db: AsyncConnection, actor: Principal, rec_id: Any, fmt: str) -> tuple[str, bytes]:
    """The report file (audited: a list of members shown to a registry writer)."""
    rec = await for_writer(db, actor, rec_id)
    items = await opened_items(db, rec_id)
    labels = {name: VIETNAMESE_HEADERS[name][0] for name in VIETNAMESE_HEADERS}
    codes = {v for i in items for k, c in i["values"].items() if k == "unit" for v in (c["from"], c["to"]) if v}
    names = await store.unit_names(db, list(codes))
    rows = store.detail_rows(items, labels, names)
    member_ids = [i["member_id"] for i in items if i["member_id"] is not None]
    if member_ids:
        scopes = await Scopes.of(db, actor)
        await audit.audit_read(db, scopes.reader(actor), "search", member_ids, masked=False, purpose="registry",
                               reason=f"đối soát với CSDL đảng viên 3.0: {rec['filename']}")
    made_at = datetime.now(UTC)
    if fmt == "csv":
        return store.file_name(made_at, "csv"), store.report_csv(rows)
    scope_names = await store.unit_names(db, [p.strip("/").split("/")[-1] for p in rec["scope"]])
    heading = store.title(list(scope_names.values()) or ["—"], made_at)
    return store.file_name(made_at, "xlsx"), store.report_xlsx(heading, rec["summary"], rows)


# --- 3. applying -----------------------------------------------------------------------------------


def reason_of(rec: dict[str, Any]) -> str:
    return f"đối soát với CSDL đảng viên 3.0 ({rec['filename']})"


APPLY_CHUNK = 100  # members a transaction
APPLY_WORKERS = 8  # chunks applied side by side: each waits on PostgreSQL part of its time


async def apply(ctx: ServiceContext, actor: Principal, rec_id: Any, *, today: date) -> dict[str, Any]:
    """Apply a reconciliation's differences, once (409 after), by the registry's rules: a member they
    refuse (or one changed since the comparison) is skipped with its reason and the others go on.
    The members go a chunk a transaction, a few transactions at once, each writing its items'
    outcomes with their changes: a run cut short (a restart) is resumed by applying again, and no
    item is applied twice."""
    engine = ctx.engine
    key = lock_key(f"members:reconciliation:{rec_id}")
    async with engine.connect() as guard:  # one run at a time: a session lock, released below whatever happens
        got = (await guard.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        await guard.commit()
        try:
            rec, outcome = await _apply_locked(ctx, actor, rec_id, got, today)
        finally:
            if got:
                await guard.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await guard.commit()
    log.info("reconciliation %s applied by %s: %s", rec_id, actor.subject, outcome)
    return rec


async def _apply_locked(ctx: ServiceContext, actor: Principal, rec_id: Any, got: bool,
                        today: date) -> tuple[dict[str, Any], dict[str, Any]]:
    engine = ctx.engine
    async with engine.begin() as db:
        rec = await for_writer(db, actor, rec_id, lock=True)
        if rec["status"] == "applied":
            raise Problem(409, "Already applied", "This reconciliation was applied already: compare again.",
                          code="already_applied")
        if not got:
            raise Problem(409, "Being applied", "This reconciliation is being applied.", code="in_progress")
        await store.set_status(db, rec_id, "applying", actor.subject)
        items = [i for i in await opened_items(db, rec_id) if i["kind"] in ("new", "changed") and not i["outcome"]]
    reason = reason_of(rec)
    ids = [str(i["member_id"]) for i in items if i["kind"] == "changed"]
    for start in range(0, len(ids), 500):  # their event keys read together, not one round trip each
        await asyncio.gather(*(ctx.member_keys.key_for(m) for m in ids[start:start + 500]))
    queue: asyncio.Queue = asyncio.Queue()
    for start in range(0, len(items), APPLY_CHUNK):
        queue.put_nowait(items[start:start + APPLY_CHUNK])

    async def worker() -> None:
        while not queue.empty():
            chunk = queue.get_nowait()
            async with engine.begin() as db:
                await _apply_chunk(db, ctx, actor, rec_id, chunk, reason, today)

    await asyncio.gather(*(worker() for _ in range(max(1, min(APPLY_WORKERS, queue.qsize())))))
    async with engine.begin() as db:
        outcome = await store.mark_applied(db, rec_id)
        return await store.reconciliation(db, rec_id), outcome


async def _apply_chunk(db: AsyncConnection, ctx: ServiceContext, actor: Principal, rec_id: Any,
                       items: list[dict[str, Any]], reason: str, today: date) -> None:
    """A chunk of items in the caller's transaction, their outcomes with them: decided together and
    written with a statement per kind of change (RegistryBatch); when a card or citizen ID was taken
    alongside (the batch's statement fails on a unique constraint), one member at a time."""
    try:
        async with db.begin_nested():
            outcomes = await _apply_together(db, ctx, actor, items, reason, today)
    except IntegrityError as exc:
        if unique_violation(exc) is None:
            raise
        outcomes = []
        for item in items:
            try:
                async with db.begin_nested():
                    outcomes += await _apply_together(db, ctx, actor, [item], reason, today)
            except IntegrityError as exc:
                taken = use_cases.TAKEN.get(unique_violation(exc) or "")
                if taken is None:
                    raise
                outcomes.append((item["seq"], "skipped", _said(use_cases.already_in_registry([taken])), 0))
    await store.set_outcomes(db, rec_id, outcomes)


async def _apply_together(db: AsyncConnection, ctx: ServiceContext, actor: Principal, items: list[dict[str, Any]],
                          reason: str, today: date) -> list[tuple[int, str, str | None, int]]:
    """The items' changes decided and written together; their outcomes."""
    # The members to change, locked together (in id order, as any other bulk lock would take them).
    rows = await registry.members_by_ids(db, [i["member_id"] for i in items if i["kind"] == "changed"], lock=True)
    named = [i["values"][f]["to"] for i in items for f in ("unit",) if f in i["values"]]
    citizen_ids = [i["values"]["citizen_id"]["to"] for i in items if "citizen_id" in i["values"]]
    batch = RegistryBatch(ctx, actor.subject, writable=await ORG.scope_paths(db, actor, REGISTRY_WRITERS),
                          units=await registry.units_by_code(db, named),
                          taken=await registry.taken_identifiers(
                              db, [i["party_card_no"] for i in items if i["kind"] == "new"], citizen_ids),
                          today=today, reason=reason)
    outcomes: list[tuple[int, str, str | None, int]] = []
    for item in items:
        fields = [f for f in item["fields"] if f not in item["held"]]
        if not fields:
            outcomes.append((item["seq"], "held", None, 0))
            continue
        row = rows.get(item["member_id"])
        if item["kind"] == "changed" and (row is None or row["version"] != item["version"]):
            outcomes.append((item["seq"], "skipped", "hồ sơ đã thay đổi sau khi đối soát: đề nghị đối soát lại", 0))
            continue
        events = batch.events
        try:
            with batch.member(row):
                _decide(batch, item, fields)
        except Problem as problem:
            outcomes.append((item["seq"], "skipped", _said(problem), 0))
            continue
        outcomes.append((item["seq"], "applied", None if fields == item["fields"] else
                         "một số thông tin giữ nguyên: chờ xét đề nghị sửa thông tin", batch.events - events))
    await batch.write(db)
    return outcomes


def _said(problem: Problem) -> str:
    errors = problem.errors or []
    if errors:
        return "; ".join(f"{e.get('field')}: {reason_vi(str(e.get('reason')))}" for e in errors)
    return problem.detail or problem.title


def _decide(batch: RegistryBatch, item: dict[str, Any], fields: list[str]) -> None:
    """One member's differences as the registry's use cases take them: a new member registered; a
    changed one's standing, cell and other fields, in the order `rules.steps` allows."""
    to = {name: change["to"] for name, change in item["values"].items()}
    if item["kind"] == "new":
        batch.create({"party_card_no": item["party_card_no"], **to})
        return
    row = batch.row
    for step, step_fields in rules.steps(fields, current_status=row["status"], new_status=to.get("status", row["status"])):
        if step == "status":
            row = batch.row
            standing = {f: to[f] if f in step_fields else row[f] for f in rules.STANDING_FIELDS}
            batch.change_status(standing["status"], eligible=standing["eligible"],
                                ineligible_reason=standing["ineligible_reason"])
        elif step == "transfer":
            batch.transfer(to["unit"])
        else:
            batch.patch({f: to[f] for f in step_fields})


def summary_json(rec: dict[str, Any]) -> dict[str, Any]:
    totals = Counter()
    for unit in rec["summary"]:
        for k in (*rules.KINDS, "conflicts"):
            totals[k] += unit[k]
    return {"id": str(rec["id"]), "filename": rec["filename"], "created_at": rec["created_at"].isoformat(),
            "status": rec["status"], "rows_total": rec["rows_total"], "rows_outside": rec["rows_outside"],
            "identical": rec["identical"],
            "totals": {k: totals[k] for k in (*rules.KINDS, "conflicts")},
            "differences": sum(totals[k] for k in rules.KINDS),
            "units": rec["summary"],
            "applied_at": rec["applied_at"].isoformat() if rec["applied_at"] else None,
            "outcome": rec["outcome"]}
