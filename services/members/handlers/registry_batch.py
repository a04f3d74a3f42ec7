"""Many members changed in one transaction by the registry's own rules, written together.

A reconciliation applies thousands of differences. Through the use cases one at a time, each member
costs about ten statements and their round trips (read, check, update, history, read again, event).
Here the same decisions the use cases make (members.py: `status_change`, `transfer_change`,
`patch_change`, `check_open_cell`, create_member's checks) run in Python on rows read together,
each on the row as the member's previous change left it; `write` then writes what they decided
with one statement per kind of change: the updates (one per set of columns), the new members, the
history entries and the events (the outbox, in the same transaction, as every use case does).

A member the rules refuse is refused whole, with the Problem the use case would raise, and nothing
of theirs is written. Card numbers and citizen IDs are checked against the registry as read
(`registry.taken_identifiers`) and against the batch itself; one taken by a transaction running
alongside fails the batch's statement with a unique violation: the caller then runs the members
one batch each to tell which one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from services.members import domain
from services.members.adapters import registry
from services.members.handlers.members import (
    TO_OTHER_COMMITTEE, Change, already_in_registry, check_open_cell, check_transferable, parse_or_422, patch_change,
    snapshot_message, status_change, transfer_change,
)
from sotay.contracts.members import MemberRegistered
from sotay.kit.events import uuid7
from sotay.kit.outbox import add_events
from sotay.kit.scope import OUTSIDE, covers, forbidden
from sotay.kit.service import ServiceContext


@dataclasses.dataclass
class _Member:
    read: dict[str, Any] | None  # the row as read (None for a new member)
    row: dict[str, Any]  # as the member's last change leaves it
    columns: dict[str, Any] = dataclasses.field(default_factory=dict)  # every change's columns, merged
    steps: list[tuple[Change | None, dict[str, Any]]] = dataclasses.field(default_factory=list)  # (change, row after)
    created: dict[str, Any] | None = None  # a new member's insert


class RegistryBatch:
    """Changes of many members decided one member at a time (`member`), written at once (`write`).

    `units` holds the org units by code the changes name (the cells moved to, the new members'
    cells); `writable`, the subtrees where the actor writes the registry; `taken`, what
    `registry.taken_identifiers` found of the cards and citizen IDs the changes set."""

    def __init__(self, ctx: ServiceContext, actor: str, *, writable: list[str], units: dict[str, dict[str, Any]],
                 taken: tuple[set[str], dict[str, Any]], today: date, reason: str | None,
                 source: str = "import") -> None:
        self.ctx, self.actor, self.writable, self.units = ctx, actor, writable, units
        self.cards, self.citizen_hashes = set(taken[0]), dict(taken[1])
        self.today, self.reason, self.source = today, reason, source
        self.members: list[_Member] = []
        self._open: _Member | None = None

    # --- deciding --------------------------------------------------------------------------------

    @contextmanager
    def member(self, row: dict[str, Any] | None = None) -> Iterator[None]:
        """One member's changes, all or none: a Problem raised inside leaves nothing of them."""
        self._open = _Member(row, dict(row) if row else {})
        claimed = (set(self.cards), dict(self.citizen_hashes))
        try:
            yield
        except BaseException:
            self.cards, self.citizen_hashes = claimed
            raise
        else:
            if self._open.steps:
                self.members.append(self._open)
        finally:
            self._open = None

    @property
    def row(self) -> dict[str, Any]:
        """The open member's row as their changes so far leave it."""
        return self._open.row

    def _require(self, path: str, detail: str = OUTSIDE) -> None:
        """ORG.require on the paths read once."""
        if not covers(self.writable, path):
            raise forbidden(detail)

    def _apply(self, change: Change | None) -> None:
        m = self._open
        if change is None:
            return
        m.columns.update(change.columns)
        m.row = {**m.row, **change.shown, "version": m.row["version"] + 1}
        m.steps.append((change, m.row))

    def change_status(self, status: str, *, eligible: bool | None, ineligible_reason: str | None) -> None:
        """As `members.change_status`."""
        self._require(self.row["unit_path"])
        self._apply(status_change(self.row, status, eligible=eligible, ineligible_reason=ineligible_reason,
                                  today=self.today))

    def transfer(self, to_unit: str) -> None:
        """As `members.transfer_member`, an official transfer."""
        self._require(self.row["unit_path"])
        check_transferable(self.row)
        target = check_open_cell(self.units.get(to_unit), "to_unit")
        self._require(target["path"], TO_OTHER_COMMITTEE)
        self._apply(transfer_change(self.row, target, "official", None, today=self.today))

    def patch(self, patch: dict[str, Any]) -> None:
        """As `members.apply_patch`."""
        change = patch_change(self.row, patch, today=self.today)
        if change is not None and "citizen_id" in change.columns:
            self._claim_citizen_id(change.columns["citizen_id"], self.row["id"])
            if self.row["citizen_id"]:  # the one they leave is free for another member of the batch
                self.citizen_hashes.pop(self.ctx.pii_hash(self.row["citizen_id"]), None)
        self._apply(change)

    def create(self, raw: dict[str, Any]) -> None:
        """As `members.create_member`."""
        member = parse_or_422(raw, self.today)
        cell = check_open_cell(self.units.get(member.unit))
        self._require(cell["path"])
        found = []
        if member.party_card_no in self.cards:
            found.append(("party_card_no", "is already in the registry"))
        if member.citizen_id and self.ctx.pii_hash(member.citizen_id) in self.citizen_hashes:
            found.append(("citizen_id", "belongs to another member"))
        if found:
            raise already_in_registry(found)
        member_id = uuid7()
        self.cards.add(member.party_card_no)
        if member.citizen_id:
            self.citizen_hashes[self.ctx.pii_hash(member.citizen_id)] = member_id
        m = self._open
        m.created = {**dataclasses.asdict(member), "id": member_id, "name_folded": domain.fold(member.full_name),
                     "unit_id": cell["id"], "unit_path": cell["path"]}
        m.row = {**dataclasses.asdict(member), "id": member_id, "unit_name": cell["name"], "unit_path": cell["path"],
                 "committee": cell["committee"], "has_account": False, "version": 1, "temporary_unit": None,
                 "temporary_until": None, "restricted_at": None}
        m.steps.append((None, m.row))

    def _claim_citizen_id(self, citizen_id: str | None, member_id: Any) -> None:
        if not citizen_id:
            return
        hashed = self.ctx.pii_hash(citizen_id)
        holder = self.citizen_hashes.get(hashed)
        if holder is not None and holder != member_id:
            raise already_in_registry([("citizen_id", "belongs to another member")])
        self.citizen_hashes[hashed] = member_id

    # --- writing ---------------------------------------------------------------------------------

    @property
    def events(self) -> int:
        return sum(len(m.steps) for m in self.members)

    async def write(self, db) -> None:
        """What was decided, in the caller's transaction: a statement per kind of change."""
        await registry.insert_members(db, [m.created for m in self.members if m.created])
        await registry.update_members(db, [(m.read, m.columns, m.row["version"]) for m in self.members if m.read])
        history = []
        for m in self.members:
            for change, _ in m.steps:
                if change is None:
                    history.append((m.row["id"], self.actor, "created",
                                    domain.member_to_row(_member(m.created)), self.reason))
                else:
                    history.append((m.row["id"], self.actor, change.action, change.history, self.reason))
        await registry.add_histories(db, history)
        # The new members' keys are made together (a round trip to the key store each).
        await asyncio.gather(*(self.ctx.member_keys.key_for(str(m.row["id"])) for m in self.members if m.created))
        messages = []
        for m in self.members:
            for change, row in m.steps:
                if change is None:
                    messages.append(await snapshot_message(self.ctx, MemberRegistered, row, source=self.source))
                else:
                    messages.append(await snapshot_message(self.ctx, change.event, row, **change.extra))
        await add_events(db, registry.SCHEMA, messages)


def _member(created: dict[str, Any]) -> domain.Member:
    return domain.Member(**{f.name: created[f.name] for f in dataclasses.fields(domain.Member)})
