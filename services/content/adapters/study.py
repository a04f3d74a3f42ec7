"""The SQL of study topics and quiz results: the topics (their quiz and its answer key as JSON),
the editors' desk, the topics addressed to a member (READER, as the feed), a member's result,
and a topic's completion in the cells under a unit (counts and sums, never a score by name)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.replica import READER, reader_params
from services.content.domain.study import COUNTED_STATUSES, Question
from sotay.kit.auth import Principal
from sotay.kit.db import Where

# Whether topic s is addressed to the reader (the CTE `me` of adapters/replica.py READER).
ADDRESSED = "s.status = 'published' AND s.audience_paths && (SELECT anc FROM me)"
COUNTED = "(" + ", ".join(f"'{s}'" for s in COUNTED_STATUSES) + ")"


def questions_json(questions: list[Question]) -> str:
    return orjson.dumps([{"prompt": q.prompt, "options": list(q.options), "correct": q.correct,
                          "explanation": q.explanation} for q in questions]).decode()


def questions_of(row: dict[str, Any]) -> list[Question]:
    return [Question(prompt=q["prompt"], options=tuple(q["options"]), correct=q["correct"],
                     explanation=q.get("explanation")) for q in row["questions"]]


async def insert(db: AsyncConnection, fields: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO study_topics (id, title, description, documents, questions, author, author_unit, author_path, "
        "committee, audience, audience_paths, status) VALUES (:id, :title, :description, CAST(:documents AS uuid[]), "
        "CAST(:questions AS jsonb), :author, :author_unit, :author_path, :committee, :audience, :audience_paths, "
        "'draft')"), fields)


async def update(db: AsyncConnection, topic_id: Any, fields: dict[str, Any]) -> None:
    await db.execute(text(
        "UPDATE study_topics SET title = :title, description = :description, documents = CAST(:documents AS uuid[]), "
        "questions = CAST(:questions AS jsonb), audience = :audience, audience_paths = :audience_paths, "
        "version = version + 1, updated_at = now() WHERE id = :id"), {**fields, "id": topic_id})


async def set_published(db: AsyncConnection, topic_id: Any, by: str, audience_paths: list[str]) -> Any:
    return (await db.execute(text(
        "UPDATE study_topics SET status = 'published', published_by = :by, published_at = now(), "
        "audience_paths = :paths, version = version + 1, updated_at = now() WHERE id = :id RETURNING published_at"),
        {"id": topic_id, "by": by, "paths": audience_paths})).scalar_one()


async def load(db: AsyncConnection, topic_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text(
        "SELECT s.*, (SELECT name FROM org_units u WHERE u.code = s.author_unit) AS author_unit_name "
        "FROM study_topics s WHERE s.id = :id" + (" FOR UPDATE OF s" if lock else "")),
        {"id": topic_id})).mappings().first()
    return dict(row) if row else None


async def addressed_to(db: AsyncConnection, actor: Principal, topic_id: Any) -> bool:
    """Whether the published topic is addressed to the caller's units (as the feed is)."""
    return (await db.execute(text(
        f"WITH me AS ({READER}) SELECT 1 FROM study_topics s WHERE s.id = :id AND {ADDRESSED}"),
        reader_params(actor) | {"id": topic_id})).first() is not None


async def documents(db: AsyncConnection, ids: list[Any]) -> list[dict[str, Any]]:
    """The topic's documents as a member sees them listed (their file: /documents/{id}/file), in its order."""
    if not ids:
        return []
    rows = (await db.execute(text(
        "SELECT id, kind, number, title, issued_on, issuing_body, filename, size_bytes FROM documents "
        "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [str(i) for i in ids]})).mappings().all()
    found = {str(r["id"]): dict(r) for r in rows}
    return [found[str(i)] for i in ids if str(i) in found]


async def result(db: AsyncConnection, topic_id: Any, account: str) -> dict[str, Any] | None:
    row = (await db.execute(text(
        "SELECT answers, score, best_score, max_score, attempts, completed_at, submitted_at FROM quiz_results "
        "WHERE topic_id = :t AND account_id = :a"), {"t": topic_id, "a": account})).mappings().first()
    return dict(row) if row else None


async def record(db: AsyncConnection, topic_id: Any, account: str, member_id: Any, cell: str, answers: list[int],
                 score: int, max_score: int) -> dict[str, Any]:
    """A submission: the first makes the member's row, a retake updates it (the best score kept)."""
    return dict((await db.execute(text(
        "INSERT INTO quiz_results (topic_id, account_id, member_id, cell, answers, score, best_score, max_score, "
        "attempts) VALUES (:t, :a, :m, :cell, CAST(:answers AS smallint[]), :score, :score, :max, 1) "
        "ON CONFLICT (topic_id, account_id) DO UPDATE SET member_id = EXCLUDED.member_id, cell = EXCLUDED.cell, "
        "answers = EXCLUDED.answers, score = EXCLUDED.score, "
        "best_score = greatest(quiz_results.best_score, EXCLUDED.score), attempts = quiz_results.attempts + 1, "
        "submitted_at = now() "
        "RETURNING answers, score, best_score, max_score, attempts, completed_at, submitted_at"),
        {"t": topic_id, "a": account, "m": member_id, "cell": cell, "answers": answers, "score": score,
         "max": max_score})).mappings().one())


async def desk(db: AsyncConnection, paths: list[str], limit: int, account: str) -> list[dict[str, Any]]:
    """Topics written in the subtrees at `paths`, newest change first, with the author unit's name,
    whether `account` wrote it, and how many members completed it."""
    where = Where().within("s.author_path", paths)
    rows = await db.execute(text(
        "SELECT s.id, s.title, s.description, s.author_unit, s.author_path, s.audience, s.status, s.published_at, "
        "s.updated_at, jsonb_array_length(s.questions) AS questions, cardinality(s.documents) AS documents, "
        "(SELECT name FROM org_units u WHERE u.code = s.author_unit) AS author_unit_name, s.author = :me AS yours, "
        "(SELECT count(*) FROM quiz_results q WHERE q.topic_id = s.id) AS completed "
        f"FROM study_topics s WHERE {where} ORDER BY s.updated_at DESC LIMIT :n"),
        where.params | {"n": limit, "me": account})
    return [dict(r._mapping) for r in rows]


async def addressed(db: AsyncConnection, actor: Principal, limit: int) -> list[dict[str, Any]]:
    """The published topics addressed to the caller, newest first, each with the caller's result."""
    rows = await db.execute(text(
        f"WITH me AS ({READER}) SELECT s.id, s.title, s.description, s.author_unit, s.published_at, "
        "jsonb_array_length(s.questions) AS questions, cardinality(s.documents) AS documents, "
        "q.best_score, q.max_score, q.attempts, q.submitted_at FROM study_topics s "
        "LEFT JOIN quiz_results q ON q.topic_id = s.id AND q.account_id = :account "
        f"WHERE {ADDRESSED} ORDER BY s.published_at DESC, s.id DESC LIMIT :n"),
        reader_params(actor) | {"n": limit})
    return [dict(r._mapping) for r in rows]


async def cells(db: AsyncConnection, topic_id: Any, audience_paths: list[str], paths: list[str]) -> list[dict[str, Any]]:
    """The open cells under `paths` the topic is addressed to, each with its members counted
    (COUNTED_STATUSES), how many of them completed the quiz and the sum of their best percentages."""
    rows = await db.execute(text(
        "WITH cells AS (SELECT code, name, path FROM org_units WHERE kind = 'cell' AND NOT closed "
        "  AND path LIKE ANY(:prefixes) AND ancestors && :audience), "
        f"people AS (SELECT r.member_id, r.unit FROM readers r JOIN cells c ON c.code = r.unit "
        f"  WHERE r.status IN {COUNTED}), "
        "done AS (SELECT p.unit, count(*) AS completed, sum(q.best_score * 100.0 / q.max_score) AS percent_sum "
        "  FROM quiz_results q JOIN people p ON p.member_id = q.member_id WHERE q.topic_id = :t GROUP BY p.unit), "
        "counted AS (SELECT unit, count(*) AS members FROM people GROUP BY unit) "
        "SELECT c.code, c.name, c.path, coalesce(m.members, 0) AS members, coalesce(d.completed, 0) AS completed, "
        "d.percent_sum FROM cells c LEFT JOIN counted m ON m.unit = c.code LEFT JOIN done d ON d.unit = c.code "
        "ORDER BY c.path"),
        {"t": topic_id, "audience": audience_paths, "prefixes": [p + "%" for p in paths]})
    return [dict(r._mapping) for r in rows]


async def not_completed(db: AsyncConnection, topic_id: Any, cells: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The counted members of `cells` who have not completed the quiz, by cell (for their secretary)."""
    if not cells:
        return {}
    rows = await db.execute(text(
        "SELECT r.unit, r.member_id, r.full_name FROM readers r WHERE r.unit = ANY(:cells) "
        f"AND r.status IN {COUNTED} AND NOT EXISTS (SELECT 1 FROM quiz_results q WHERE q.topic_id = :t "
        "AND q.member_id = r.member_id) ORDER BY r.full_name NULLS LAST, r.member_id"),
        {"t": topic_id, "cells": cells})
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.unit, []).append({"member_id": r.member_id, "full_name": r.full_name})
    return out


async def reaching(db: AsyncConnection, paths: list[str], limit: int) -> list[dict[str, Any]]:
    """The published topics addressed to a unit in the subtrees at `paths` or above them, newest
    first, each with how many counted members of those subtrees completed it."""
    rows = await db.execute(text(
        "SELECT s.id, s.title, s.author_unit, s.audience, s.published_at, jsonb_array_length(s.questions) AS questions, "
        "(SELECT count(*) FROM quiz_results q JOIN readers r ON r.member_id = q.member_id "
        f"  WHERE q.topic_id = s.id AND r.status IN {COUNTED} AND r.unit_path LIKE ANY(:prefixes)) AS completed "
        "FROM study_topics s WHERE s.status = 'published' AND EXISTS (SELECT 1 FROM unnest(s.audience_paths) a, "
        "  unnest(CAST(:paths AS text[])) p WHERE starts_with(a, p) OR starts_with(p, a)) "
        "ORDER BY s.published_at DESC, s.id DESC LIMIT :n"),
        {"prefixes": [p + "%" for p in paths], "paths": paths, "n": limit})
    return [dict(r._mapping) for r in rows]
