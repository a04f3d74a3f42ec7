"""SQL of reconciliations (domain/reconcile.py): the export goes into a temporary table with COPY
and one FULL JOIN against the registry finds what differs; the comparisons and their items are
stored for the report and for applying. Also the report file (XLSX, CSV)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.domain.reconcile import KIND_LABELS
from sotay.kit import spreadsheets
from sotay.kit.clock import HANOI
from sotay.kit.db import scrub_database_error

EXPORT_COLUMNS = ("card", "full_name", "gender", "citizen_id_hash", "phone_hash", "date_of_birth_hash", "unit_id",
                  "admitted_on", "official_on", "status", "eligible", "ineligible_reason", "row_no", "in_scope")
ITEM_COLUMNS = ("reconciliation_id", "seq", "kind", "row_no", "member_id", "party_card_no", "full_name", "version",
                "unit_id", "unit_path", "fields", "changes", "sealed", "held", "corrections")

# The fields compared in SQL: the citizen ID, the phone and the date of birth by their keyed hashes
# (a member written before the date of birth's hash was kept has none: `open_born` asks the caller
# to open their sealed values and compare).
_DIFFERS = {
    "full_name": "m.full_name <> e.full_name",
    "date_of_birth": "m.date_of_birth_hash <> e.date_of_birth_hash",
    "gender": "m.gender IS DISTINCT FROM e.gender",
    "citizen_id": "m.citizen_id_hash IS DISTINCT FROM e.citizen_id_hash",
    "phone": "m.phone_hash IS DISTINCT FROM e.phone_hash",
    "unit": "m.unit_id <> e.unit_id",
    "admitted_on": "m.admitted_on IS DISTINCT FROM e.admitted_on",
    "official_on": "m.official_on IS DISTINCT FROM e.official_on",
    "status": "m.status <> e.status",
    "eligible": "m.eligible <> e.eligible",
    "ineligible_reason": "m.ineligible_reason IS DISTINCT FROM e.ineligible_reason",
}
_CHANGED = "array_remove(ARRAY[" + ", ".join(
    f"CASE WHEN {test} THEN '{name}' END" for name, test in _DIFFERS.items()) + "]::text[], NULL)"
ACTIVE = "('active', 'probationary', 'exempt')"

# The one diff query, a FULL JOIN of the export and the registry on the card number: every export
# row in scope without a member (new), every member in scope and active standing without an export
# row (missing), and every pair where either side is in scope and a field differs (or the date of
# birth must be opened to tell). Identical pairs stay in PostgreSQL: `MATCHED` counts them per cell.
DIFF = (
    "SELECT * FROM (SELECT e.row_no, e.in_scope, m.id, m.party_card_no, m.full_name, m.version, m.sealed, "
    "m.unit_id, m.unit_path, m.status, m.unit_path LIKE ANY($1::text[]) AS member_in_scope, "
    "m.id IS NOT NULL AND m.date_of_birth_hash IS NULL AND m.sealed IS NOT NULL AS open_born, "
    f"{_CHANGED} AS changed "
    "FROM reconcile_export e FULL JOIN members m ON m.party_card_no = e.card) j "
    "WHERE (j.id IS NULL AND j.in_scope) "
    f"OR (j.row_no IS NULL AND j.status IN {ACTIVE} AND j.member_in_scope) "
    "OR (j.id IS NOT NULL AND j.row_no IS NOT NULL AND (j.in_scope OR j.member_in_scope) "
    "AND (j.open_born OR cardinality(j.changed) > 0))"
)
# The pairs both in scope, per member's cell (the identical ones are these less the changed ones).
MATCHED = ("SELECT m.unit_path, count(*) AS n FROM reconcile_export e JOIN members m ON m.party_card_no = e.card "
           "WHERE e.in_scope AND m.unit_path LIKE ANY($1::text[]) GROUP BY m.unit_path")


async def raw_connection(db: AsyncConnection) -> asyncpg.Connection:
    return (await db.get_raw_connection()).driver_connection


async def create_export_table(db: AsyncConnection) -> None:
    """The temporary table the export's rows (EXPORT_COLUMNS) go into, dropped with the transaction."""
    await db.execute(text(
        "CREATE TEMPORARY TABLE reconcile_export (card text, full_name text, gender text, "
        "citizen_id_hash text, phone_hash text, date_of_birth_hash text, unit_id uuid, admitted_on date, official_on date, status text, "
        "eligible boolean, ineligible_reason text, row_no integer, in_scope boolean) ON COMMIT DROP"))


async def copy_export(db: AsyncConnection, records: list[tuple]) -> None:
    raw = await raw_connection(db)
    try:
        await raw.copy_records_to_table("reconcile_export", records=records, columns=EXPORT_COLUMNS)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        scrub_database_error(exc)  # a unique violation's DETAIL would quote the row
        raise


async def analyze_export(db: AsyncConnection) -> None:
    await db.execute(text("ANALYZE reconcile_export"))


async def diff_cursor(db: AsyncConnection, scope: Sequence[str]):
    """A cursor over the diff query's rows (read through the driver, a chunk at a time: hundreds of
    thousands of small rows)."""
    raw = await raw_connection(db)
    return await raw.cursor(DIFF, [p + "%" for p in scope])


async def matched(db: AsyncConnection, scope: Sequence[str]) -> dict[str, int]:
    raw = await raw_connection(db)
    return {r["unit_path"]: r["n"] for r in await raw.fetch(MATCHED, [p + "%" for p in scope])}


async def members_by_id(db: AsyncConnection, ids: list[Any]) -> list[dict[str, Any]]:
    """The members' rows as the registry reads them (their sealed values still sealed)."""
    from services.members.adapters.registry import MEMBER_COLUMNS, MEMBER_FROM

    rows = (await db.execute(text(f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.id = ANY(:ids)"),
                             {"ids": ids})).mappings()
    return [dict(r) for r in rows]


async def pending_corrections(db: AsyncConnection, member_ids: list[Any]) -> list[dict[str, Any]]:
    rows = (await db.execute(text(
        "SELECT id, member_id, changes, sealed FROM correction_requests "
        "WHERE status = 'pending' AND member_id = ANY(:ids) ORDER BY created_at"), {"ids": member_ids})).mappings()
    return [dict(r) for r in rows]


async def insert_reconciliation(db: AsyncConnection, rec: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO reconciliations (id, filename, created_by, scope, rows_total, rows_outside, identical, summary) "
        "VALUES (:id, :filename, :created_by, :scope, :rows_total, :rows_outside, :identical, "
        "CAST(:summary AS jsonb))"), {**rec, "summary": orjson.dumps(rec["summary"]).decode()})


async def insert_items(db: AsyncConnection, items: list[tuple]) -> None:
    if not items:
        return
    raw = await raw_connection(db)
    try:
        await raw.copy_records_to_table("reconciliation_items", records=items, columns=ITEM_COLUMNS)
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        scrub_database_error(exc)
        raise


async def reconciliation(db: AsyncConnection, rec_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text("SELECT * FROM reconciliations WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                            {"id": rec_id})).mappings().first()
    return dict(row) if row else None


async def list_reconciliations(db: AsyncConnection, limit: int = 20) -> list[dict[str, Any]]:
    rows = (await db.execute(text(
        "SELECT * FROM reconciliations ORDER BY created_at DESC LIMIT :n"), {"n": limit})).mappings()
    return [dict(r) for r in rows]


async def items(db: AsyncConnection, rec_id: Any) -> list[dict[str, Any]]:
    """The items with their cell's and committee's names, in order."""
    rows = (await db.execute(text(
        "SELECT i.*, u.code AS unit, u.name AS unit_name, c.name AS committee_name "
        "FROM reconciliation_items i JOIN org_units u ON u.id = i.unit_id "
        "LEFT JOIN org_units c ON c.code = u.committee "
        "WHERE i.reconciliation_id = :id ORDER BY i.seq"), {"id": rec_id})).mappings()
    return [dict(r) for r in rows]


async def set_outcomes(db: AsyncConnection, rec_id: Any, outcomes: list[tuple[int, str, str | None, int]]) -> None:
    """Each item's outcome (seq, outcome, reason, events written)."""
    if not outcomes:
        return
    await db.execute(text(
        "UPDATE reconciliation_items i SET outcome = v.outcome, outcome_reason = v.reason, events = v.events "
        "FROM unnest(CAST(:seqs AS integer[]), CAST(:outcomes AS text[]), CAST(:reasons AS text[]), "
        "CAST(:events AS integer[])) AS v(seq, outcome, reason, events) "
        "WHERE i.reconciliation_id = :id AND i.seq = v.seq"),
        {"id": rec_id, "seqs": [o[0] for o in outcomes], "outcomes": [o[1] for o in outcomes],
         "reasons": [o[2] for o in outcomes], "events": [o[3] for o in outcomes]})


async def set_status(db: AsyncConnection, rec_id: Any, status: str, actor: str) -> None:
    await db.execute(text("UPDATE reconciliations SET status = :s, applied_by = :a WHERE id = :id"),
                     {"id": rec_id, "s": status, "a": actor})


async def mark_applied(db: AsyncConnection, rec_id: Any) -> dict[str, Any]:
    """The reconciliation applied: its outcome counted from its items' (events written, members
    applied, skipped, held)."""
    row = (await db.execute(text(
        "SELECT coalesce(sum(events), 0) AS events, count(*) FILTER (WHERE outcome = 'applied') AS applied, "
        "count(*) FILTER (WHERE outcome = 'skipped') AS skipped, count(*) FILTER (WHERE outcome = 'held') AS held "
        "FROM reconciliation_items WHERE reconciliation_id = :id"), {"id": rec_id})).mappings().one()
    outcome = {k: int(v) for k, v in row.items() if v or k == "events"}
    await db.execute(text(
        "UPDATE reconciliations SET status = 'applied', applied_at = now(), outcome = CAST(:o AS jsonb) "
        "WHERE id = :id"), {"id": rec_id, "o": orjson.dumps(outcome).decode()})
    return outcome


async def unit_names(db: AsyncConnection, codes: list[str]) -> dict[str, str]:
    rows = await db.execute(text("SELECT code, name FROM org_units WHERE code = ANY(:c)"), {"c": list(codes)})
    return {r.code: r.name for r in rows}


# --- the report file -------------------------------------------------------------------------------

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
SUMMARY_HEADINGS = ["Đơn vị", "Mới (chưa có trong hồ sơ)", "Có thay đổi", "Không có trong tệp xuất (không xoá)",
                    "Vướng đề nghị sửa thông tin đang chờ", "Chuyển ra/vào đơn vị khác", "Trùng khớp"]
SUMMARY_KEYS = ["name", "new", "changed", "missing", "conflicts", "outside", "identical"]
DETAIL_HEADINGS = ["STT", "Đảng bộ trực thuộc", "Chi bộ", "Loại", "Dòng trong tệp", "Số thẻ đảng viên", "Họ và tên",
                   "Thông tin", "Trong hồ sơ", "Trong CSDL đảng viên 3.0", "Ghi chú"]
OUTCOMES = {"applied": "Đã cập nhật", "skipped": "Không cập nhật", "held": "Giữ nguyên: chờ xét đề nghị sửa thông tin"}
STATUS_VI = {"active": "Đang sinh hoạt", "probationary": "Dự bị", "exempt": "Miễn sinh hoạt",
             "transferred_out": "Đã chuyển đi", "deceased": "Từ trần", "removed": "Xoá tên"}
GENDER_VI = {"male": "Nam", "female": "Nữ"}


def title(scope_names: list[str], made_at: datetime) -> str:
    return (f"Đối soát hồ sơ đảng viên với CSDL đảng viên 3.0 — {', '.join(scope_names)} — ngày "
            f"{made_at.astimezone(HANOI):%d/%m/%Y}")


def shown(field: str, value: Any) -> str:
    """A value as the report shows it: dates dd/mm/yyyy, choices in Vietnamese."""
    if value is None or value == "":
        return ""
    if field == "status":
        return STATUS_VI.get(value, str(value))
    if field == "gender":
        return GENDER_VI.get(value, str(value))
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return f"{date.fromisoformat(value):%d/%m/%Y}"
        except ValueError:
            return value
    return str(value)


def detail_rows(items: list[dict[str, Any]], labels: dict[str, str], unit_names: dict[str, str]) -> list[list[Any]]:
    """One row per field of each difference (one row for a member new or missing); the unit
    fields by name."""
    out: list[list[Any]] = []
    for item in items:
        note = OUTCOMES.get(item.get("outcome") or "", "")
        if item.get("outcome_reason"):
            note = f"{note}: {item['outcome_reason']}" if note else item["outcome_reason"]
        if item["kind"] == "missing":
            note = note or "Báo cáo để kiểm tra; hồ sơ không bị xoá"
        base = [item.get("committee_name") or "", item.get("unit_name") or item.get("unit") or "",
                KIND_LABELS["vi"][item["kind"]], item.get("row_no") or "", item["party_card_no"], item["full_name"]]
        changes = item.get("values") or {}
        fields = item["fields"] if item["kind"] in ("changed", "outside") else []
        if not fields:
            out.append([len(out) + 1, *base, "", "", "", note])
            continue
        for field in fields:
            change = changes.get(field) or {}
            before, after = change.get("from"), change.get("to")
            if field == "unit":
                before, after = unit_names.get(before, before), unit_names.get(after, after)
            held = " (chờ xét đề nghị sửa thông tin của đảng viên: chưa cập nhật)" if field in item["held"] else ""
            out.append([len(out) + 1, *base, labels.get(field, field), shown(field, before), shown(field, after),
                        (note + held).strip()])
    return out


def report_xlsx(heading: str, summary: list[dict[str, Any]], rows: list[list[Any]]) -> bytes:
    """The report: "Tổng hợp" (counts per unit) and "Chi tiết" (each difference), each with the
    title row (what and the day) above its bold headings; text never a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheets = [(book.active, "Tổng hợp", SUMMARY_HEADINGS,
               [[s[k] for k in SUMMARY_KEYS] for s in summary]),
              (book.create_sheet(), "Chi tiết", DETAIL_HEADINGS, rows)]
    for sheet, name, headings, table in sheets:
        sheet.title = name
        spreadsheets.text_cell(sheet.cell(1, 1), heading).font = Font(bold=True, size=14)
        for col, h in enumerate(headings, 1):
            cell = spreadsheets.text_cell(sheet.cell(2, col), h)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            sheet.column_dimensions[get_column_letter(col)].width = 14 if col > 1 or name == "Chi tiết" else 36
        for r, values in enumerate(table, 3):
            for col, value in enumerate(values, 1):
                cell = sheet.cell(r, col)
                if isinstance(value, str):
                    spreadsheets.text_cell(cell, value)
                else:
                    cell.value = value
        sheet.row_dimensions[2].height = 45
        sheet.freeze_panes = "A3"
    detail = sheets[1][0]
    for col, width in zip("BCGHIJK", (24, 24, 22, 22, 22, 22, 40)):
        detail.column_dimensions[col].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_csv(rows: list[list[Any]]) -> bytes:
    """The detail as CSV (UTF-8 with a BOM; text never a formula)."""
    return spreadsheets.csv_bytes(DETAIL_HEADINGS, rows)


def file_name(made_at: datetime, fmt: str) -> str:
    return f"doi-soat-dang-vien-{made_at.astimezone(HANOI):%d-%m-%Y}.{fmt}"


def new_id() -> uuid.UUID:
    from sotay.kit.events import uuid7

    return uuid7()
