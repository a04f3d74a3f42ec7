"""Feedback ("multi-directional interaction"): members comment on an article or
write to a unit; the unit moderates (when its setting says so) and answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.adapters import feedback as store
from services.content.adapters.replica import ORG, ancestors_of_units, reader_of, unit_paths
from services.content.handlers import articles
from sotay.contracts.content import FeedbackAnswered, FeedbackPosted
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers

SCHEMA = "content"


async def moderates(db: AsyncConnection, unit: str) -> bool:
    setting = await store.moderation_setting(db, unit)
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
        to_path = (await unit_paths(db, [to_unit]))[to_unit]
        if to_path is None or to_path not in await _may_write_to(db, actor, author):
            raise invalid([("to_unit", "must be your unit or a unit above it")])
    status = "pending" if await moderates(db, to_unit) else "visible"
    feedback_id = uuid7()
    await store.insert(db, {"id": feedback_id, "a": article_id, "u": to_unit, "p": to_path, "acct": actor.subject,
                            "m": author["member_id"], "name": author["full_name"], "au": author["unit"],
                            "body": body, "s": status})
    await emit(db, SCHEMA, FeedbackPosted(
        feedback_id=str(feedback_id), article_id=str(article_id) if article_id else None, to_unit=to_unit,
        account_id=actor.subject, unit=author["unit"], status=status),
        aggregate_id=feedback_id, committee=author["committee"], unit=author["unit"])
    return await store.one(db, feedback_id)


async def _may_write_to(db: AsyncConnection, actor: Principal, author: dict[str, Any]) -> set[str]:
    """The paths of the units one may write to: one's own unit and those above it; for
    staff with no member card, the units their roles cover and those above them."""
    paths = set(author["ancestors"])
    if not actor.member_card_no:
        paths.update(await ancestors_of_units(db, sorted({g.unit for g in actor.grants})))
    return paths


async def one(db: AsyncConnection, feedback_id: Any) -> dict[str, Any] | None:
    return await store.one(db, feedback_id)


async def on_article(db: AsyncConnection, actor: Principal, article_id: Any) -> list[dict[str, Any]]:
    """What a reader sees under an article: visible feedback and their own."""
    await articles.readable(db, actor, article_id)
    return await store.on_article(db, article_id, actor.subject)


async def mine(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    return await store.by_account(db, actor.subject)


async def inbox(db: AsyncConnection, actor: Principal, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Feedback to the units the caller's staff roles cover."""
    paths = await ORG.scoped(db, actor, domain.UNIT_STAFF, "The feedback inbox is for unit staff.")
    return await store.to_units(db, paths, status, limit)


async def _in_scope(db: AsyncConnection, actor: Principal, feedback_id: Any) -> dict[str, Any]:
    item = await store.one(db, feedback_id)
    if item is None or not covers(await ORG.scope_paths(db, actor, domain.UNIT_STAFF), item["to_path"]):
        raise Problem(404, "Not found", "No such feedback to a unit of yours.")
    return item


async def moderate(db: AsyncConnection, actor: Principal, feedback_id: Any, visible: bool) -> dict[str, Any]:
    await _in_scope(db, actor, feedback_id)
    await store.set_status(db, feedback_id, "visible" if visible else "hidden", actor.subject)
    return await store.one(db, feedback_id)


async def answer(db: AsyncConnection, actor: Principal, feedback_id: Any, body: str) -> dict[str, Any]:
    if not body.strip():
        raise invalid([("body", "is empty")])
    item = await _in_scope(db, actor, feedback_id)
    await store.set_answer(db, feedback_id, body.strip(), actor.subject)
    await emit(db, SCHEMA, FeedbackAnswered(feedback_id=str(feedback_id), to_unit=item["to_unit"],
                                            answered_by=actor.subject),
               aggregate_id=feedback_id, committee=domain.committee_of(item["to_path"]), unit=item["to_unit"])
    return await store.one(db, feedback_id)


async def set_moderation(db: AsyncConnection, actor: Principal, unit: str, moderate_feedback: bool) -> dict:
    path = (await unit_paths(db, [unit]))[unit]
    if path is None:
        raise Problem(404, "Not found", "No such unit.")
    await ORG.require(db, actor, path, ("unit_admin", "chief_editor", "city_admin"),
                      "Only the unit's admin or chief editor sets this.")
    await store.set_moderation(db, unit, moderate_feedback, actor.subject)
    return {"unit": unit, "moderate_feedback": moderate_feedback}
