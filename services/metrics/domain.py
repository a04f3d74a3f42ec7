"""The rollout's arithmetic, free of I/O.

Each member and each registration has a state; a state *contributes* to the
counters of one unit (the member's own cell, or the registration's). When an
event changes a state, the counters move by contribution(new) minus
contribution(old), so a figure can only move when a state does: a replayed
or redelivered event changes nothing, a transfer moves a member's whole
contribution from one unit to another, and nothing goes below zero.

A unit's figures are the sums over its subtree, turned into the figures
DESIGN.md names (their names and definitions are a contract).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

ACTIVE_STANDING = frozenset({"active", "probationary", "exempt"})  # as the registry defines it
UNSPECIFIED = "unspecified"

COUNTERS = ("members_total", "members_eligible", "eligible_not_installed", "registered", "accounts_web",
            "accounts_mobile", "accounts_pending", "accounts_approved", "accounts_rejected", "accounts_activated",
            "accounts_disabled", "articles_published", "feedback_posted", "trained_people", "training_sessions")


@dataclass(frozen=True)
class MemberState:
    unit: str
    status: str
    eligible: bool
    reason: str | None
    installed: bool  # has a pending or approved registration that is not disabled


@dataclass(frozen=True)
class RegistrationState:
    unit: str
    platform: str  # web | mobile
    status: str  # pending | approved | rejected | disabled
    activated: bool


def member_contribution(m: MemberState | None) -> tuple[Counter, Counter]:
    """(counters, not-eligible reasons) a member adds to their unit."""
    counts, reasons = Counter(), Counter()
    if m is None or m.status not in ACTIVE_STANDING:
        return counts, reasons
    counts["members_total"] = 1
    if m.eligible:
        counts["members_eligible"] = 1
        if not m.installed:
            counts["eligible_not_installed"] = 1
    else:
        reasons[m.reason or UNSPECIFIED] = 1
    return counts, reasons


def registration_contribution(r: RegistrationState | None) -> Counter:
    counts = Counter()
    if r is None:
        return counts
    counts["registered"] = 1
    if r.status in ("pending", "approved"):
        # "installed" = registered accounts not rejected, pending included (and not disabled).
        counts[f"accounts_{r.platform}"] = 1
        counts[f"accounts_{r.status}"] = 1
        if r.status == "approved" and r.activated:
            counts["accounts_activated"] = 1
    else:
        counts[f"accounts_{r.status}"] = 1
    return counts


def difference(new: Counter, old: Counter) -> dict[str, int]:
    keys = set(new) | set(old)
    return {k: new[k] - old[k] for k in keys if new[k] != old[k]}


def moves(old_unit: str | None, old: Counter, new_unit: str | None, new: Counter) -> dict[str, dict[str, int]]:
    """The counter changes per unit when a state goes from (old_unit, old) to (new_unit, new)."""
    if old_unit == new_unit:
        delta = difference(new, old)
        return {new_unit: delta} if delta and new_unit else {}
    out: dict[str, dict[str, int]] = {}
    if old_unit and old:
        out[old_unit] = {k: -v for k, v in old.items() if v}
    if new_unit and new:
        out[new_unit] = {k: v for k, v in new.items() if v}
    return out


def pct(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def figures(unit: dict[str, Any], sums: dict[str, int], *, readers_today: int, readers_7d: int,
            ineligible: dict[str, int], as_of: date) -> dict[str, Any]:
    """The contract's figures (and the funnel) for a unit from its subtree's sums."""
    installed = sums["accounts_web"] + sums["accounts_mobile"]
    return {
        "unit_id": unit["unit_id"], "unit_code": unit["code"], "unit_name": unit["name"], "unit_kind": unit["kind"],
        "as_of": as_of.isoformat(),
        "members_total": sums["members_total"], "members_eligible": sums["members_eligible"],
        "accounts_installed": installed, "accounts_web": sums["accounts_web"],
        "accounts_mobile": sums["accounts_mobile"], "accounts_pending": sums["accounts_pending"],
        "accounts_approved": sums["accounts_approved"], "accounts_rejected": sums["accounts_rejected"],
        "installed_pct_total": pct(installed, sums["members_total"]),
        "installed_pct_eligible": pct(installed, sums["members_eligible"]),
        "readers_today": readers_today, "readers_7d": readers_7d,
        "trained_people": sums["trained_people"], "training_sessions": sums["training_sessions"],
        "articles_published": sums["articles_published"], "feedback_posted": sums["feedback_posted"],
        "funnel": {"registered": sums["registered"], "pending": sums["accounts_pending"],
                   "approved": sums["accounts_approved"], "activated": sums["accounts_activated"]},
        "without_account": {"not_eligible": dict(sorted(ineligible.items())),
                            "eligible_not_registered": sums["eligible_not_installed"],
                            "rejected": sums["accounts_rejected"], "disabled": sums["accounts_disabled"]},
    }


def member_from_snapshot(data: dict[str, Any], installed: bool) -> MemberState:
    """A member as a members event's snapshot says they are."""
    eligible = bool(data["eligible"])
    return MemberState(unit=data["unit"], status=data["status"], eligible=eligible,
                       reason=None if eligible else (data.get("ineligible_reason") or None), installed=installed)


def registration_after(event: str, data: dict[str, Any], old: RegistrationState | None,
                       city: str = "city") -> RegistrationState | None:
    """The registration's state after an identity event; None when the event
    changes nothing (a replay of a decided step, an unknown account)."""
    if event == "RegistrationSubmitted":
        return None if old is not None else RegistrationState(data.get("unit") or city, data["platform"],
                                                              "pending", False)
    if event in ("AccountApproved", "AccountRejected"):
        if old is not None and old.status != "pending":
            return None  # decided already
        base = old or RegistrationState(data.get("unit") or city, data["platform"], "pending", False)
        status = "approved" if event == "AccountApproved" else "rejected"
        return RegistrationState(data.get("unit") or base.unit, base.platform, status, False)
    if old is None:
        return None  # a staff account (made from the command line) is no member's installation
    if event == "AccountActivated":
        new = RegistrationState(old.unit, old.platform, old.status, True)
    elif event == "AccountDisabled":
        new = RegistrationState(old.unit, old.platform, "disabled", old.activated)
    elif event == "AccountMoved":
        new = RegistrationState(data["unit"], old.platform, old.status, old.activated)
    else:
        return None
    return None if new == old else new


class Deltas:
    """Counter changes per unit (and not-eligible reasons), added up over a batch."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}
        self.reasons: Counter = Counter()  # (unit, reason) → change

    def add(self, changes: dict[str, dict[str, int]]) -> None:
        for unit, delta in changes.items():
            self.counts.setdefault(unit, Counter()).update(delta)

    def member(self, old: MemberState | None, new: MemberState | None) -> None:
        old_counts, old_reasons = member_contribution(old)
        new_counts, new_reasons = member_contribution(new)
        self.add(moves(old.unit if old else None, old_counts, new.unit if new else None, new_counts))
        for unit, change in moves(old.unit if old else None, old_reasons, new.unit if new else None,
                                  new_reasons).items():
            for reason, n in change.items():
                self.reasons[(unit, reason)] += n

    def registration(self, old: RegistrationState | None, new: RegistrationState | None) -> None:
        self.add(moves(old.unit if old else None, registration_contribution(old), new.unit if new else None,
                       registration_contribution(new)))
