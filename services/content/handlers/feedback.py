"""Feedback ("multi-directional interaction"): members comment on an article or
write to a unit; the unit moderates (when its setting says so) and answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.handlers import articles
from sotay.contracts.content import FeedbackAnswered, FeedbackPosted
from services.content.handlers.replica import reader_of
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid

COLUMNS = ("id, article_id, to_unit, account_id, author_name, author_unit, body, status, answer, answered_by, "
           "answered_at, created_at")


async def moderates(db: AsyncConnection, unit: str) -> bool:
    setting = (await db.execute(text("SELECT moderate_feedback FROM unit_settings WHERE unit = :u"),
                                {"u": unit})).scalar()
    return True if setting is None else setting  # moderated unless the unit said otherwise


async def post(db: AsyncConnection, actor: Principal, *, body: str, article_id: Any | None,
               to_unit: str | None) -> dict[str, Any]:
    body = body.strip()
    if not body:
        raise invalid([("body", "is empty")])
    author = await reader_of(db, actor)
    if article_id is not None:
        article = await articles.readable(db, actor, article_id)  # 404 unless the caller may read it
        if article["status"] != "published":
            raise Problem(409, "Not published", "Feedback is for published articles.")
        to_unit, to_path = article["author_unit"], article["author_path"]
    else:
        to_path = (await articles.unit_paths(db, [to_unit]))[to_unit]
        if to_path is None or to_path not in await _may_write_to(db, actor, author):
            raise invalid([("to_unit", "must be your unit or a unit above it")])
    status = "pending" if await moderates(db, to_unit) else "visible"
    feedback_id = uuid7()
    await db.execute(text(
        "INSERT INTO feedback (id, article_id, to_unit, to_path, account_id, member_id, author_name, author_unit, "
        "body, status) VALUES (:id, :a, :u, :p, :acct, :m, :name, :au, :body, :s)"),
        {"id": feedback_id, "a": article_id, "u": to_unit, "p": to_path, "acct": actor.subject,
         "m": author["member_id"], "name": author["full_name"], "au": author["unit"], "body": body, "s": status})
    await articles.emit(db, FeedbackPosted(
        feedback_id=str(feedback_id), article_id=str(article_id) if article_id else None, to_unit=to_unit,
        account_id=actor.subject, unit=author["unit"], status=status),
        aggregate_id=feedback_id, committee=author["committee"], unit=author["unit"])
    return await one(db, feedback_id)


async def _may_write_to(db: AsyncConnection, actor: Principal, author: dict[str, Any]) -> set[str]:
    """The paths of the units one may write to: one's own unit and those above it; for
    staff with no member card, the units their roles cover and those above them."""
    paths = set(author["ancestors"])
    if not actor.member_card_no:
        rows = await db.execute(text("SELECT ancestors FROM org_units WHERE code = ANY(:c)"),
                                {"c": sorted({g.unit for g in actor.grants})})
        paths.update(path for (row,) in rows for path in row)
    return paths


async def one(db: AsyncConnection, feedback_id: Any) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {COLUMNS}, to_path FROM feedback WHERE id = :id"),
                            {"id": feedback_id})).mappings().first()
    return dict(row) if row else None


async def on_article(db: AsyncConnection, actor: Principal, article_id: Any) -> list[dict[str, Any]]:
    """What a reader sees under an article: visible feedback and their own."""
    await articles.readable(db, actor, article_id)
    rows = await db.execute(text(
        f"SELECT {COLUMNS} FROM feedback WHERE article_id = :a AND (status = 'visible' OR account_id = :me) "
        "ORDER BY created_at"), {"a": article_id, "me": actor.subject})
    return [dict(r._mapping) for r in rows]


async def mine(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    rows = await db.execute(text(f"SELECT {COLUMNS} FROM feedback WHERE account_id = :me ORDER BY created_at DESC "
                                 "LIMIT 200"), {"me": actor.subject})
    return [dict(r._mapping) for r in rows]


async def inbox(db: AsyncConnection, actor: Principal, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Feedback to the units the caller's staff roles cover."""
    paths = await articles.scope_paths(db, actor, domain.UNIT_STAFF)
    if not paths:
        raise Problem(403, "Forbidden", "The feedback inbox is for unit staff.")
    rows = await db.execute(text(
        f"SELECT {COLUMNS} FROM feedback WHERE to_path LIKE ANY(:paths) "
        "AND (CAST(:s AS text) IS NULL OR status = :s) ORDER BY created_at DESC LIMIT :n"),
        {"paths": [p + "%" for p in paths], "s": status, "n": limit})
    return [dict(r._mapping) for r in rows]


async def _in_scope(db: AsyncConnection, actor: Principal, feedback_id: Any) -> dict[str, Any]:
    item = await one(db, feedback_id)
    if item is None or not domain.covers(await articles.scope_paths(db, actor, domain.UNIT_STAFF), item["to_path"]):
        raise Problem(404, "Not found", "No such feedback to a unit of yours.")
    return item


async def moderate(db: AsyncConnection, actor: Principal, feedback_id: Any, visible: bool) -> dict[str, Any]:
    await _in_scope(db, actor, feedback_id)
    await db.execute(text("UPDATE feedback SET status = :s, moderated_by = :by WHERE id = :id"),
                     {"s": "visible" if visible else "hidden", "by": actor.subject, "id": feedback_id})
    return await one(db, feedback_id)


async def answer(db: AsyncConnection, actor: Principal, feedback_id: Any, body: str) -> dict[str, Any]:
    if not body.strip():
        raise invalid([("body", "is empty")])
    item = await _in_scope(db, actor, feedback_id)
    await db.execute(text("UPDATE feedback SET answer = :b, answered_by = :by, answered_at = now() WHERE id = :id"),
                     {"b": body.strip(), "by": actor.subject, "id": feedback_id})
    await articles.emit(db, FeedbackAnswered(feedback_id=str(feedback_id), to_unit=item["to_unit"],
                                             answered_by=actor.subject),
                        aggregate_id=feedback_id, committee=domain.committee_of(item["to_path"]), unit=item["to_unit"])
    return await one(db, feedback_id)


async def set_moderation(db: AsyncConnection, actor: Principal, unit: str, moderate_feedback: bool) -> dict:
    path = (await articles.unit_paths(db, [unit]))[unit]
    if path is None:
        raise Problem(404, "Not found", "No such unit.")
    if not domain.covers(await articles.scope_paths(db, actor, ("unit_admin", "chief_editor", "city_admin")), path):
        raise Problem(403, "Forbidden", "Only the unit's admin or chief editor sets this.")
    await db.execute(text(
        "INSERT INTO unit_settings (unit, moderate_feedback, updated_by) VALUES (:u, :m, :by) "
        "ON CONFLICT (unit) DO UPDATE SET moderate_feedback = :m, updated_by = :by, updated_at = now()"),
        {"u": unit, "m": moderate_feedback, "by": actor.subject})
    return {"unit": unit, "moderate_feedback": moderate_feedback}
