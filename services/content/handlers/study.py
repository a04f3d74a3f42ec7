"""Study and self-testing (học tập nghị quyết, issue 20): editors write a study topic for an
audience (units, as an article's) with the resolution's documents and a quiz; a chief editor
publishes it; the members it is addressed to read it, take the quiz and see their score and the
right answers; the units see, per cell, how many completed it and the average score.

- Two people publish: an editor (or chief editor) saves the topic as a draft and may change it;
  a chief editor of the author unit or above who did not write it publishes it (domain/study.py
  may_publish), as articles are approved by another. A published topic no longer changes.
- The answer key stays here: a member is shown the questions and options only, and the right
  answers with their explanations once they have submitted (and every time after). The editors of
  the author unit and above read the key (they wrote it).
- Retakes are allowed: each submission is scored and shown with the right answers; the best score
  is the one the unit's figures count (quiz_results keeps it, with the last answers).
- A unit never reads a member's score: the completion of the cells under it is counts and an
  average (none under domain/study.py AVERAGE_FROM results), and to a cell's secretary who has not
  completed it yet (their names, not a score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.adapters import study as store
from services.content.adapters.library import not_in_library
from services.content.adapters.replica import ORG, reader_of, unit_paths
from services.content.domain import study as rules
from services.content.handlers.overseen import subtrees
from sotay.contracts.content import QuizCompleted, StudyTopicPublished
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers

SCHEMA = "content"


@dataclass
class TopicInput:
    title: str
    description: str
    documents: list[str]
    questions: list[rules.Question]
    audience: list[str]
    unit: str | None  # the author unit; by default the caller's first editor unit


def _refused(rule: rules.Refused) -> Problem:
    title = "Forbidden" if rule.status == 403 else "Not allowed now"
    return Problem(rule.status, title, rule.detail, code=rule.code)


def _not_found() -> Problem:
    return Problem(404, "Not found", "No such study topic, or not one you can see.")


# --- writing and publishing (editors) ------------------------------------------------------------


async def _checked(db: AsyncConnection, actor: Principal, topic: TopicInput, author_path: str) -> dict[str, Any]:
    """Every problem of the topic at once; the fields as kept."""
    problems = [(name, "is required") for name in ("title", "description") if not getattr(topic, name).strip()]
    audience = list(dict.fromkeys(topic.audience))
    paths = await unit_paths(db, audience)
    problems += domain.check_audience(author_path, paths)
    documents = list(dict.fromkeys(topic.documents))
    problems += await not_in_library(db, actor, "documents", documents)
    problems += rules.quiz_problems(topic.questions)
    if problems:
        raise invalid(problems)
    return {"title": topic.title.strip(), "description": topic.description.strip(), "documents": documents,
            "questions": store.questions_json([rules.tidy(q) for q in topic.questions]), "audience": audience,
            "audience_paths": sorted({p for p in paths.values() if p})}


async def create(db: AsyncConnection, actor: Principal, topic: TopicInput) -> dict[str, Any]:
    editor_units = actor.units_for(*domain.EDITORS)
    unit = topic.unit or (editor_units[0] if editor_units else None)
    if unit is None:
        raise Problem(403, "Forbidden", "Writing study topics needs an editor role.")
    author_path = (await unit_paths(db, [unit]))[unit]
    if author_path is None:
        raise invalid([("unit", f"{unit} is not a unit")])
    await ORG.require(db, actor, author_path, domain.EDITORS, "You are not an editor of this unit.")
    fields = await _checked(db, actor, topic, author_path)
    topic_id = uuid7()
    await store.insert(db, {**fields, "id": topic_id, "author": actor.subject, "author_unit": unit,
                            "author_path": author_path, "committee": domain.committee_of(author_path)})
    return await one(db, actor, topic_id)


async def _for_desk(db: AsyncConnection, actor: Principal, topic_id: Any, *, lock: bool = False) -> dict[str, Any]:
    """A topic for its editors (those of the author unit or above): to anyone else a draft does not exist."""
    topic = await store.load(db, topic_id, lock=lock)
    if topic is None or not covers(await ORG.scope_paths(db, actor, domain.EDITORS), topic["author_path"]):
        raise _not_found()
    return topic


def _step(topic: dict[str, Any], action: str) -> None:
    try:
        rules.next_status(action, topic["status"])
    except rules.Refused as rule:
        raise _refused(rule)


async def edit(db: AsyncConnection, actor: Principal, topic_id: Any, topic: TopicInput) -> dict[str, Any]:
    """A draft changed by its editors (the author unit stays the one it was written for)."""
    current = await _for_desk(db, actor, topic_id, lock=True)
    _step(current, "edit")
    await store.update(db, topic_id, await _checked(db, actor, topic, current["author_path"]))
    return await one(db, actor, topic_id)


async def publish(db: AsyncConnection, actor: Principal, topic_id: Any) -> dict[str, Any]:
    topic = await _for_desk(db, actor, topic_id, lock=True)
    _step(topic, "publish")
    try:
        rules.may_publish(actor.subject, await ORG.scope_paths(db, actor, domain.CHIEF), topic["author_path"],
                          topic["author"])
    except rules.Refused as rule:
        raise _refused(rule)
    # The audience is checked again: units may have moved since the draft was written.
    paths = await unit_paths(db, list(topic["audience"]))
    problems = domain.check_audience(topic["author_path"], paths)
    if problems:
        raise invalid(problems)
    published_at = await store.set_published(db, topic_id, actor.subject, sorted({p for p in paths.values() if p}))
    await emit(db, SCHEMA, StudyTopicPublished(
        topic_id=str(topic_id), title=topic["title"], author_unit=topic["author_unit"], audience=list(topic["audience"]),
        documents=[str(d) for d in topic["documents"]], questions=len(topic["questions"]), published_by=actor.subject,
        published_at=published_at),
        aggregate_id=topic_id, committee=topic["committee"], unit=topic["author_unit"], sequence=topic["version"] + 1)
    return await one(db, actor, topic_id)


async def desk(db: AsyncConnection, actor: Principal, limit: int) -> list[dict[str, Any]]:
    """The topics of the units the caller edits, newest change first, each saying whether the caller
    may publish it (a chief editor over its unit who did not write it)."""
    paths = await ORG.scoped(db, actor, domain.EDITORS, "The desk is for editors.")
    chief = await ORG.scope_paths(db, actor, domain.CHIEF)
    rows = await store.desk(db, paths, limit, actor.subject)
    return [{k: v for k, v in r.items() if k != "author_path"}
            | {"may_publish": r["status"] == "draft" and covers(chief, r["author_path"]) and not r["yours"]}
            for r in rows]


# --- the member's side ---------------------------------------------------------------------------------


async def addressed(db: AsyncConnection, actor: Principal, limit: int) -> list[dict[str, Any]]:
    """The published topics addressed to the caller's units, newest first, each with their best
    score so far (none: not taken yet)."""
    return await store.addressed(db, actor, limit)


async def one(db: AsyncConnection, actor: Principal, topic_id: Any) -> dict[str, Any]:
    """A topic as the caller may read it: a published one addressed to them, or one on their desk.
    The answer key (each question's `correct` and explanation) only to its editors, and to a member
    who has submitted their answers (with their last answers beside it)."""
    topic = await store.load(db, topic_id)
    if topic is None:
        raise _not_found()
    editor = covers(await ORG.scope_paths(db, actor, domain.EDITORS), topic["author_path"])
    addressed_to = topic["status"] == "published" and await store.addressed_to(db, actor, topic_id)
    if not editor and not addressed_to:
        raise _not_found()
    mine = await store.result(db, topic_id, actor.subject) if addressed_to else None
    questions = store.questions_of(topic)
    shown = [{"prompt": q.prompt, "options": list(q.options), "correct": q.correct if editor or mine else None,
              "explanation": q.explanation if editor or mine else None} for q in questions]
    return {**_topic_json(topic), "questions": shown, "documents": await store.documents(db, topic["documents"]),
            "result": _result_json(mine, questions) if mine else None,
            "answer_key": bool(editor or mine)}


async def submit(db: AsyncConnection, actor: Principal, topic_id: Any, answers: list[int]) -> dict[str, Any]:
    """A member's answers: scored, kept (the best score of their submissions counts), announced
    (QuizCompleted, by member id, on their committee), and answered with the right answers."""
    topic = await store.load(db, topic_id)
    if topic is None or topic["status"] != "published" or not await store.addressed_to(db, actor, topic_id):
        raise _not_found()
    reader = await reader_of(db, actor)
    if reader["member_id"] is None:
        raise Problem(403, "Forbidden", "Only members of the registry take the quiz.", code="not_a_member")
    questions = store.questions_of(topic)
    problems = rules.answer_problems(questions, answers)
    if problems:
        raise invalid(problems)
    points = rules.score(questions, answers)
    kept = await store.record(db, topic_id, actor.subject, reader["member_id"], reader["unit"], answers, points,
                              len(questions))
    await emit(db, SCHEMA, QuizCompleted(topic_id=str(topic_id), member_id=str(reader["member_id"]), cell=reader["unit"],
                                         max_score=len(questions), attempt=kept["attempts"]),
               aggregate_id=topic_id, committee=reader["committee"], unit=reader["unit"])
    return {"topic_id": str(topic_id), **_result_json(kept, questions)}


def _topic_json(t: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "title", "description", "author_unit", "author_unit_name", "audience", "status", "published_at",
            "created_at", "updated_at")
    return {k: t[k] for k in keys}


def _result_json(r: dict[str, Any], questions: list[rules.Question]) -> dict[str, Any]:
    answers = list(r["answers"])
    return {"score": r["score"], "max_score": r["max_score"], "percent": rules.percent(r["score"], r["max_score"]),
            "best_score": r["best_score"], "best_percent": rules.percent(r["best_score"], r["max_score"]),
            "attempts": r["attempts"], "completed_at": r["completed_at"], "submitted_at": r["submitted_at"],
            "review": rules.review(questions, answers)}


# --- the units: completion per cell -------------------------------------------------------------------


async def _overseen(db: AsyncConnection, actor: Principal, unit_code: str | None) -> list[str]:
    """The subtrees the caller follows: the unit asked for, else all of the caller's."""
    return await subtrees(db, actor, rules.OVERSEERS, unit_code,
                          "Only the units' staff and editors follow the study of the cells.")


async def reaching(db: AsyncConnection, actor: Principal, unit_code: str | None, limit: int) -> dict[str, Any]:
    """The published topics addressed to the unit (the caller's units when none is given) or to units
    in it, newest first, each with how many of its members completed the quiz."""
    paths = await _overseen(db, actor, unit_code)
    return {"unit": unit_code, "items": await store.reaching(db, paths, limit)}


async def completion(db: AsyncConnection, actor: Principal, topic_id: Any, unit_code: str | None) -> dict[str, Any]:
    """Per cell under the unit (the caller's units when none is given) that the topic is addressed to:
    its members, how many completed the quiz and their average best score (%), never a member's
    score; the cells the caller is the secretary of also list who has not completed it yet."""
    paths = await _overseen(db, actor, unit_code)
    topic = await store.load(db, topic_id)
    audience = list(topic["audience_paths"]) if topic and topic["status"] == "published" else []
    if not any(a.startswith(p) or p.startswith(a) for a in audience for p in paths):
        raise _not_found()
    rows = await store.cells(db, topic_id, audience, paths)
    secretary = await ORG.scope_paths(db, actor, ("cell_secretary",))
    own = [r["code"] for r in rows if covers(secretary, r["path"])]
    missing = await store.not_completed(db, topic_id, own)
    cells = [{"cell": r["code"], "name": r["name"], "members": r["members"], "completed": r["completed"],
              "average_percent": rules.average(r["percent_sum"], r["completed"]),
              "not_completed": missing.get(r["code"], []) if r["code"] in own else None} for r in rows]
    completed = sum(r["completed"] for r in rows)
    percent_sum = sum(float(r["percent_sum"] or 0) for r in rows)
    return {"topic_id": str(topic_id), "title": topic["title"], "unit": unit_code, "cells": cells,
            "members": sum(r["members"] for r in rows), "completed": completed,
            "average_percent": rules.average(percent_sum, completed), "average_from": rules.AVERAGE_FROM}
