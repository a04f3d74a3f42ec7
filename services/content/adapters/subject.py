"""The SQL of a member's own data in content (a data subject's access request, Law 91/2025/QH15):
everything content holds about one account, and where the registry replica places them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import rows_of

# Each part: what it is, and the query of its rows for :account (and :card, the registry replica's).
PARTS: dict[str, str] = {
    "where_you_sit": "SELECT member_id, full_name, unit, status FROM readers WHERE party_card_no = :card",
    "reads": "SELECT r.article_id, a.title, r.day, r.read_at FROM reads r LEFT JOIN articles a ON a.id = r.article_id "
             "WHERE r.account_id = :account ORDER BY r.read_at",
    "feedback": "SELECT id, article_id, to_unit, body, status, answer, created_at FROM feedback "
                "WHERE account_id = :account ORDER BY created_at",
    "meeting_answers": "SELECT a.meeting_id, m.starts_at, m.place, a.attending, a.note, a.answered_at "
                       "FROM attendance a JOIN meetings m ON m.id = a.meeting_id WHERE a.account_id = :account "
                       "ORDER BY a.answered_at",
    # Whether they came to their cell's meetings, as its secretary recorded it.
    "meeting_presence": "SELECT p.meeting_id, m.starts_at, m.kind, p.present, p.reason FROM meeting_presence p "
                        "JOIN meetings m ON m.id = p.meeting_id WHERE p.member_id = "
                        "(SELECT member_id FROM readers WHERE party_card_no = :card) ORDER BY m.starts_at",
    # Their quiz results (a study topic's): the last answers, scores and attempts.
    "study_results": "SELECT q.topic_id, s.title, q.answers, q.score, q.best_score, q.max_score, q.attempts, "
                     "q.completed_at, q.submitted_at FROM quiz_results q JOIN study_topics s ON s.id = q.topic_id "
                     "WHERE q.account_id = :account ORDER BY q.completed_at",
    "bookmarks": "SELECT b.document_id, d.title, b.created_at FROM bookmarks b JOIN documents d ON d.id = b.document_id "
                 "WHERE b.account_id = :account ORDER BY b.created_at",
    "notification_choices": "SELECT articles, meetings, account, seen_through, updated_at FROM notice_settings "
                            "WHERE account_id = :account",
    # A device's push endpoint is a capability (whoever holds it can push to the device): its push
    # service's host is shown, not the address itself.
    "push_devices": "SELECT id, substring(endpoint FROM '^https?://([^/]+)') AS push_service, created_at, failures "
                    "FROM push_subscriptions WHERE account_id = :account ORDER BY id",
}


async def everything(db: AsyncConnection, account: str, card: str | None) -> dict[str, list[dict[str, Any]]]:
    return await rows_of(db, PARTS, {"account": account, "card": card})
