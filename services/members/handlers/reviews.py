"""The yearly review and ranking of members (kiểm điểm, đánh giá, xếp loại đảng viên, issue 20;
the rules in domain/reviews.py).

The city's administrators open a cycle per year. A member (the card in their token) writes their
self-assessment and proposes a level; their cell's secretary proposes a level with a comment; a
unit administrator over the member's unit (the grassroots organisation or the committee) decides
the final level, and is warned when their unit's share of excellent members passes the cycle's
cap. Nobody acts on their own review but to write it. The secretary and the unit read the members'
reviews (audited: names and the members' own words); the units above, and the city, see the counts.
Events carry ids only (ReviewSubmitted, ReviewDecided), and none while a member's data is restricted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import audit, registry, reviews
from services.members.domain import reviews as rules
from services.members.handlers.access import ORG, Scopes, is_member_concerned, not_found
from sotay.contracts.members import ReviewDecided, ReviewSubmitted
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.events import CITY, uuid7
from sotay.kit.http import Problem, decode_cursor, encode_cursor, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers, forbidden

CITY_ADMINS = ("city_admin",)
SECRETARIES = ("cell_secretary",)
DECIDERS = ("unit_admin",)
# Who reads members' reviews (their own words): their cell's secretary and the deciding unit; the
# city and the units above read the counts (summary).
READERS = SECRETARIES + DECIDERS
SUMMARY_READERS = READERS + CITY_ADMINS
MAX_CELLS_SHOWN = 200
STAFF_ONLY = ("cell_by", "decided_by")  # which accounts acted is not the member's to know


def as_cycle(row: dict[str, Any]) -> rules.Cycle:
    return rules.Cycle(row["year"], row["self_assessment_due"], row["decision_due"], row["excellent_cap_pct"])


def cycle_view(row: dict[str, Any], today: date) -> dict[str, Any]:
    return {**row, "stage": rules.stage(as_cycle(row), today)}


def refused(code: str) -> Problem:
    status, title, detail = rules.REFUSALS[code]
    return Problem(status, title, detail, code=code)


def no_cycle(year: int) -> Problem:
    return Problem(404, "Not found", f"No review cycle for {year}.", code="no_cycle")


async def require_city(db: AsyncConnection, actor: Principal) -> None:
    paths = await ORG.scope_paths(db, actor, CITY_ADMINS)
    if not covers(paths, f"/{CITY}/"):
        raise forbidden("Review cycles are opened by the city's administrators.")


# --- cycles -----------------------------------------------------------------------------------------

async def open_cycle(db: AsyncConnection, actor: Principal, *, year: int, self_assessment_due: date,
                     decision_due: date, excellent_cap_pct: int) -> dict[str, Any]:
    await require_city(db, actor)
    today = hanoi_day()
    if problems := rules.cycle_problems(year, self_assessment_due, decision_due, today=today):
        raise invalid(problems)
    if not await reviews.insert_cycle(db, {"year": year, "self_assessment_due": self_assessment_due,
                                           "decision_due": decision_due, "excellent_cap_pct": excellent_cap_pct,
                                           "opened_by": actor.subject}):
        raise Problem(409, "Already open", f"The review of {year} has its cycle already.", code="cycle_exists")
    return cycle_view(await reviews.cycle(db, year), today)


async def change_cycle(db: AsyncConnection, actor: Principal, year: int, changes: dict[str, Any]) -> dict[str, Any]:
    """New deadlines (a deadline extended) or a new cap; a deadline being set may not be past."""
    await require_city(db, actor)
    current = await reviews.cycle(db, year, lock=True)
    if current is None:
        raise no_cycle(year)
    changes = {k: v for k, v in changes.items() if v is not None}
    merged = {**current, **changes}
    today = hanoi_day()
    changed = tuple(k for k in ("self_assessment_due", "decision_due") if k in changes and changes[k] != current[k])
    if problems := rules.cycle_problems(year, merged["self_assessment_due"], merged["decision_due"], today=today,
                                        changed=changed):
        raise invalid(problems)
    await reviews.update_cycle(db, year, self_assessment_due=merged["self_assessment_due"],
                               decision_due=merged["decision_due"], excellent_cap_pct=merged["excellent_cap_pct"])
    return cycle_view(await reviews.cycle(db, year), today)


async def list_cycles(db: AsyncConnection) -> list[dict[str, Any]]:
    today = hanoi_day()
    return [cycle_view(c, today) for c in await reviews.cycles(db)]


async def cycle_of(db: AsyncConnection, year: int) -> dict[str, Any]:
    found = await reviews.cycle(db, year)
    if found is None:
        raise no_cycle(year)
    return found


# --- the member's own ----------------------------------------------------------------------------

async def own_member(db: AsyncConnection, actor: Principal, *, lock: bool = False) -> dict[str, Any]:
    if not actor.member_card_no:
        raise forbidden("This token does not belong to a member.")
    member_id = await registry.member_id_by_card(db, actor.member_card_no)
    member = await reviews.member(db, member_id, lock=lock) if member_id else None
    if member is None:
        raise not_found("member")
    return member


async def submit(db: AsyncConnection, actor: Principal, *, year: int, self_assessment: str,
                 proposed_level: str) -> dict[str, Any]:
    """The signed-in member writes (or rewrites) their self-assessment and the level they propose,
    until its deadline and while the unit has not decided."""
    member = await own_member(db, actor, lock=True)
    cycle = as_cycle(await cycle_of(db, year))
    if not self_assessment.strip():
        raise invalid([("self_assessment", "is required: your self-assessment, in your own words")])
    current = await reviews.review(db, year, member["id"], lock=True)
    today = hanoi_day()
    if code := rules.submit_refusal(cycle, today, standing=member["status"],
                                    decided=bool(current and current["decided_level"])):
        raise refused(code)
    review_id = current["id"] if current else uuid7()
    if not await reviews.submit(db, review_id=review_id, year=year, member=member,
                                self_assessment=self_assessment.strip(), proposed_level=proposed_level):
        raise refused("review_decided")
    written = await reviews.review(db, year, member["id"])
    await announce(db, ReviewSubmitted(year=year, member_id=str(member["id"]), unit=member["unit"]), member, written)
    return mine({**written, **cycle_dates(cycle)}, today)


async def own(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The signed-in member's reviews, the latest year first (not audited: their own)."""
    member = await own_member(db, actor)
    today = hanoi_day()
    return [mine(r, today) for r in await reviews.own(db, member["id"])]


def cycle_dates(cycle: rules.Cycle) -> dict[str, Any]:
    return {"self_assessment_due": cycle.self_assessment_due, "decision_due": cycle.decision_due}


def mine(review: dict[str, Any], today: date) -> dict[str, Any]:
    """A review as its member sees it (which accounts acted left out), with where its cycle stands."""
    cycle = rules.Cycle(review["year"], review["self_assessment_due"], review["decision_due"])
    return {**{k: v for k, v in review.items() if k not in STAFF_ONLY}, "stage": rules.stage(cycle, today)}


async def announce(db: AsyncConnection, event: ReviewSubmitted | ReviewDecided, member: dict[str, Any],
                   review: dict[str, Any]) -> None:
    """The event on the member's committee's subject, ids only; none while the member's data is
    restricted at their request (the registry's events carry nothing of them meanwhile)."""
    if member["restricted_at"] is not None:
        return
    await emit(db, registry.SCHEMA, event, aggregate_id=review["id"], committee=member["committee"],
               unit=member["unit"], sequence=review["version"])


# --- the cell and the unit --------------------------------------------------------------------------

async def member_for(db: AsyncConnection, actor: Principal, member_id: Any, roles: tuple[str, ...],
                     detail: str) -> dict[str, Any]:
    """A member the actor acts on in one of `roles`, never themself."""
    member = await reviews.member(db, member_id, lock=True)
    if member is None:
        raise not_found("member")
    await ORG.require(db, actor, member["unit_path"], roles)
    if is_member_concerned(actor, member):
        raise forbidden(detail)
    return member


async def propose(db: AsyncConnection, actor: Principal, year: int, member_id: Any, *, level: str,
                  comment: str) -> dict[str, Any]:
    """The cell's secretary proposes a level with the cell's comment, after the member's own
    assessment (or its deadline), as often as needed until the unit decides."""
    member = await member_for(db, actor, member_id, SECRETARIES,
                              "Your own review is proposed by another of your cell's secretaries.")
    cycle = as_cycle(await cycle_of(db, year))
    if not comment.strip():
        raise invalid([("comment", "is required: the cell's assessment of the member")])
    current = await reviews.review(db, year, member["id"], lock=True)
    if code := rules.proposal_refusal(cycle, hanoi_day(), standing=member["status"],
                                      submitted=bool(current and current["submitted_at"]),
                                      decided=bool(current and current["decided_level"])):
        raise refused(code)
    if not await reviews.propose(db, review_id=current["id"] if current else uuid7(), year=year, member=member,
                                 level=level, comment=comment.strip(), actor=actor.subject):
        raise refused("review_decided")
    return await staff_view(db, actor, cycle, member)


async def decide(db: AsyncConnection, actor: Principal, year: int, member_id: Any, *, level: str) -> dict[str, Any]:
    """A unit administrator over the member's unit decides the final level; the answer says whether
    their unit's share of excellent members now passes the cycle's cap (a warning, not a refusal)."""
    member = await member_for(db, actor, member_id, DECIDERS, "Your own review is decided by another administrator.")
    cycle_row = await cycle_of(db, year)
    cycle = as_cycle(cycle_row)
    current = await reviews.review(db, year, member["id"], lock=True)
    if code := rules.decision_refusal(cycle, hanoi_day(), standing=member["status"],
                                      proposed=bool(current and current["cell_level"]),
                                      decided=bool(current and current["decided_level"])):
        raise refused(code)
    unit = await deciding_unit(db, actor, member["unit_path"])
    version = await reviews.decide(db, current["id"], level=level, unit_id=unit["id"], cell_id=member["unit_id"],
                                   actor=actor.subject)
    await announce(db, ReviewDecided(year=year, member_id=str(member["id"]), unit=member["unit"], level=level),
                   member, {"id": current["id"], "version": version})
    view = await staff_view(db, actor, cycle, member)
    return {"review": view, "check": await check(db, cycle, unit)}


async def deciding_unit(db: AsyncConnection, actor: Principal, path: str) -> dict[str, Any]:
    """The unit the actor decides for: the nearest of their administered units above the member."""
    paths = await ORG.paths_of(db, actor.units_for(*DECIDERS))
    code = max((c for c, p in paths.items() if path.startswith(p)), key=lambda c: len(paths[c]))
    return await registry.unit_by_code(db, code)


async def check(db: AsyncConnection, cycle: rules.Cycle, unit: dict[str, Any]) -> dict[str, Any]:
    members, excellent = await reviews.excellent_in(db, year=cycle.year, path=unit["path"])
    return check_json(rules.ExcellentCheck(members, excellent, cycle.excellent_cap_pct), unit)


def check_json(found: rules.ExcellentCheck, unit: dict[str, Any]) -> dict[str, Any]:
    return {"unit": unit["code"], "unit_name": unit["name"], "members": found.members, "excellent": found.excellent,
            "share_pct": found.share_pct, "cap_pct": found.cap_pct, "allowed": found.allowed,
            "exceeded": found.exceeded}


async def staff_view(db: AsyncConnection, actor: Principal, cycle: rules.Cycle,
                     member: dict[str, Any]) -> dict[str, Any]:
    review = await reviews.review(db, cycle.year, member["id"]) or {}
    row = {"member_id": member["id"], "party_card_no": member["party_card_no"], "full_name": member["full_name"],
           "unit": member["unit"], "unit_name": member["unit_name"], "unit_path": member["unit_path"],
           **{k: review.get(k) for k in ("id", "self_assessment", "proposed_level", "submitted_at", "cell_level",
                                         "cell_comment", "cell_at", "decided_level", "decided_at", "decided_unit",
                                         "decided_unit_name")}}
    grants = Grants(await ORG.paths_of(db, actor.units_for(*READERS)), actor)
    return grants.seen(row, cycle, hanoi_day())


class Grants:
    """Where the actor proposes (cell secretary) and decides (unit administrator)."""

    def __init__(self, paths: dict[str, str], actor: Principal) -> None:
        self.actor = actor
        self.propose = [paths[g.unit] for g in actor.grants if g.role in SECRETARIES and g.unit in paths]
        self.decide = [paths[g.unit] for g in actor.grants if g.role in DECIDERS and g.unit in paths]

    def seen(self, row: dict[str, Any], cycle: rules.Cycle, today: date) -> dict[str, Any]:
        """A member's review as staff see it, with what the actor may do with it now."""
        own = is_member_concerned(self.actor, row)
        submitted, proposed, decided = row["submitted_at"] is not None, row["cell_at"] is not None, \
            row["decided_at"] is not None
        can_propose = (not own and covers(self.propose, row["unit_path"]) and rules.proposal_refusal(
            cycle, today, standing="active", submitted=submitted, decided=decided) is None)
        can_decide = (not own and covers(self.decide, row["unit_path"]) and rules.decision_refusal(
            cycle, today, standing="active", proposed=proposed, decided=decided) is None)
        return {**row, "year": cycle.year, "can_propose": can_propose, "can_decide": can_decide}


async def unit_for(db: AsyncConnection, actor: Principal, code: str, roles: tuple[str, ...]) -> dict[str, Any]:
    unit = await registry.unit_by_code(db, code)
    if unit is None:
        raise not_found("unit")
    await ORG.require(db, actor, unit["path"], roles)
    return unit


async def staff_list(db: AsyncConnection, actor: Principal, year: int, unit_code: str, *, cursor: str | None,
                     limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The reviewed members of a unit (the actor's cell or unit) with their reviews of `year`, by
    cell then name; the page shown is audited (names, the members' own words, the cell's comments)."""
    unit = await unit_for(db, actor, unit_code, READERS)
    cycle = as_cycle(await cycle_of(db, year))
    after = tuple(decode_cursor(cursor, 3)) if cursor else None
    rows = await reviews.listed(db, year=year, path=unit["path"], after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    if page:
        await audit.audit_read(db, (await Scopes.of(db, actor)).reader(actor, unit["path"]), "reviews",
                               [r["member_id"] for r in page], masked=False, purpose="yearly_review")
    grants = Grants(await ORG.paths_of(db, actor.units_for(*READERS)), actor)
    today = hanoi_day()
    last = page[-1] if page else None
    next_cursor = encode_cursor(last["unit_path"], last["name_folded"], str(last["member_id"])) if more else None
    return [grants.seen(r, cycle, today) for r in page], next_cursor


async def summary(db: AsyncConnection, actor: Principal, year: int, unit_code: str) -> dict[str, Any]:
    """A unit's cycle in counts: its reviewed members, how many wrote their self-assessment, had the
    cell's proposal, were decided, the decided levels, the share rated excellent against the cap,
    and the cells not done yet (the cell has not proposed for every member), late once the
    decision deadline has passed. No names: the city and the units above read it too."""
    unit = await unit_for(db, actor, unit_code, SUMMARY_READERS)
    row = await cycle_of(db, year)
    cycle, today = as_cycle(row), hanoi_day()
    cells = await reviews.cells(db, year=year, path=unit["path"])
    totals = {k: sum(c[k] for c in cells) for k in ("members", "self_assessed", "proposed", "decided", *rules.LEVELS)}
    waiting = [c for c in cells if c["proposed"] < c["members"]]
    return {"year": year, "unit": unit["code"], "unit_name": unit["name"], "cycle": cycle_view(row, today),
            **{k: totals[k] for k in ("members", "self_assessed", "proposed", "decided")},
            "levels": {level: totals[level] for level in rules.LEVELS},
            "check": check_json(rules.ExcellentCheck(totals["members"], totals["excellent"], cycle.excellent_cap_pct),
                                unit),
            "cells": len(cells), "cells_not_done": len(waiting),
            "overdue": rules.overdue(cycle, today, done=totals["decided"] == totals["members"]),
            "waiting": [{"unit": c["unit"], "unit_name": c["unit_name"], "members": c["members"],
                         "self_assessed": c["self_assessed"], "proposed": c["proposed"], "decided": c["decided"],
                         "overdue": rules.overdue(cycle, today, done=False)} for c in waiting[:MAX_CELLS_SHOWN]]}
