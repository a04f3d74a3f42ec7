"""Study and self-testing (học tập nghị quyết, issue 20), free of I/O: what a quiz must be, how a
member's answers are scored, who publishes a study topic, and what a unit may read of the results.

- A question has 2 to 6 options and exactly one right one: the answer key is the index of that
  option (`correct`, 0 for the first), kept by the service and shown to a member only once they
  have submitted their answers.
- A member answers every question; each right answer is a point (the score of `max_score`, the
  number of questions). A member may take the quiz again: their best score is the one kept for
  the unit's figures, and each submission is scored and reviewed on its own.
- A topic is saved as a draft by an editor and published by a chief editor of the author unit or a
  unit above it who did not write it (two people publish, as articles are approved): once published
  it no longer changes, so every member answers the same questions against the same key.
- A unit reads counts and an average only, never a member's score; an average of fewer than
  AVERAGE_FROM results is not given (an average of one is that member's score, of two tells each
  the other's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sotay.kit.scope import covers

MIN_OPTIONS, MAX_OPTIONS = 2, 6
MAX_QUESTIONS = 50
AVERAGE_FROM = 3
STATUSES = ("draft", "published")
# Who follows a topic's completion in the cells under a unit (counts and averages; a cell's secretary
# also who has not completed): the units' staff, and the editors who publish topics for them.
OVERSEERS = ("cell_secretary", "unit_admin", "city_admin", "editor", "chief_editor")
# Members counted in a cell's figures: those expected to study (exempt members are not).
COUNTED_STATUSES = ("active", "probationary")


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[str, ...]
    correct: int
    explanation: str | None = None


class Refused(Exception):
    """A step the caller may not take (`status` 403) or not now (409); `code` names it for a page."""

    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code


def _same(text: str) -> str:
    return " ".join(text.split()).casefold()


def quiz_problems(questions: Sequence[Question]) -> list[tuple[str, str]]:
    """What is wrong with a quiz, each with the field it is in (`questions.2.options`)."""
    if not questions:
        return [("questions", "needs at least one question")]
    if len(questions) > MAX_QUESTIONS:
        return [("questions", f"must be at most {MAX_QUESTIONS} questions")]
    problems = []
    for i, q in enumerate(questions):
        where = f"questions.{i}"
        if not q.prompt.strip():
            problems.append((f"{where}.prompt", "is required"))
        if not MIN_OPTIONS <= len(q.options) <= MAX_OPTIONS:
            problems.append((f"{where}.options", f"needs {MIN_OPTIONS} to {MAX_OPTIONS} options"))
        empty = [j for j, option in enumerate(q.options) if not option.strip()]
        problems += [(f"{where}.options.{j}", "is required") for j in empty]
        written = [_same(o) for o in q.options if o.strip()]
        if len(set(written)) < len(written):
            problems.append((f"{where}.options", "holds the same option twice"))
        if not 0 <= q.correct < len(q.options):
            problems.append((f"{where}.correct", "must be the number of one of its options (0 for the first)"))
    return problems


def tidy(q: Question) -> Question:
    """The question as kept: texts without surrounding blanks, an empty explanation none."""
    return Question(prompt=q.prompt.strip(), options=tuple(o.strip() for o in q.options), correct=q.correct,
                    explanation=(q.explanation or "").strip() or None)


def answer_problems(questions: Sequence[Question], answers: Sequence[int]) -> list[tuple[str, str]]:
    """A submission answers every question with one of its options."""
    if len(answers) != len(questions):
        return [("answers", f"needs one answer for each of the {len(questions)} questions")]
    return [(f"answers.{i}", f"must be one of the question's options (0 to {len(q.options) - 1})")
            for i, (q, a) in enumerate(zip(questions, answers, strict=True)) if not 0 <= a < len(q.options)]


def score(questions: Sequence[Question], answers: Sequence[int]) -> int:
    return sum(a == q.correct for q, a in zip(questions, answers, strict=True))


def percent(points: int, max_points: int) -> float:
    return round(points * 100 / max_points, 2) if max_points else 0.0


def review(questions: Sequence[Question], answers: Sequence[int]) -> list[dict]:
    """Each question with the member's answer, the right one and its explanation (after submitting)."""
    return [{"prompt": q.prompt, "options": list(q.options), "chosen": a, "correct": q.correct, "right": a == q.correct,
             "explanation": q.explanation} for q, a in zip(questions, answers, strict=True)]


def average(percent_sum: float | None, results: int) -> float | None:
    """The average of `results` percentages summing to `percent_sum`; none under AVERAGE_FROM results."""
    if results < AVERAGE_FROM or percent_sum is None:
        return None
    return round(float(percent_sum) / results, 2)


def may_publish(actor: str, chief_paths: list[str], author_path: str, author: str) -> None:
    """Publishing a topic is for a chief editor of its author unit or above, not its author."""
    if not covers(chief_paths, author_path):
        raise Refused(403, "only a chief editor of the author's unit or a unit above it publishes a study topic",
                      "only_chief")
    if actor == author:
        raise Refused(403, "the author of a study topic cannot publish it: another chief editor must",
                      "two_person_author")


def next_status(action: str, current: str) -> str:
    """`edit` and `publish` start from a draft; a published topic stays as it is."""
    if current != "draft":
        raise Refused(409, f"a {current} study topic cannot be {'edited' if action == 'edit' else 'published'} "
                           "(only a draft)", "wrong_status")
    return "draft" if action == "edit" else "published"
