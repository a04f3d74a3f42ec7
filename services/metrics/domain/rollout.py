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

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from sotay.contracts.fields import (
    ACTIVE_STANDING,  # the registry's, which the figures follow
)
from sotay.contracts.identity import (
    AccountActivated,
    AccountApproved,
    AccountDisabled,
    AccountMoved,
    AccountRejected,
    RegistrationEscalated,
    RegistrationSubmitted,
)
from sotay.kit.observability import gauges_text

UNSPECIFIED = "unspecified"

COUNTERS = ("members_total", "members_eligible", "eligible_not_installed", "registered", "accounts_web",
            "accounts_mobile", "accounts_pending", "accounts_approved", "accounts_rejected", "accounts_activated",
            "accounts_disabled", "articles_published", "feedback_posted", "trained_people", "training_sessions",
            "accounts_overdue", "requests_overdue")


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
    escalated: bool = False  # waited past the approval term: escalated to the unit above (issue 20)


NOT_ELIGIBLE = "not_eligible:"  # + the reason: members not eligible, by reason


def member_contribution(m: MemberState | None) -> dict[str, int]:
    """The counters a member adds to their unit (not-eligible reasons as `not_eligible:<reason>`)."""
    if m is None or m.status not in ACTIVE_STANDING:
        return {}
    if not m.eligible:
        return {"members_total": 1, NOT_ELIGIBLE + (m.reason or UNSPECIFIED): 1}
    if m.installed:
        return {"members_total": 1, "members_eligible": 1}
    return {"members_total": 1, "members_eligible": 1, "eligible_not_installed": 1}


def registration_contribution(r: RegistrationState | None) -> dict[str, int]:
    if r is None:
        return {}
    if r.status in ("pending", "approved"):
        # "installed" = registered accounts not rejected, pending included (and not disabled).
        counts = {"registered": 1, f"accounts_{r.platform}": 1, f"accounts_{r.status}": 1}
        if r.status == "approved" and r.activated:
            counts["accounts_activated"] = 1
        if r.status == "pending" and r.escalated:
            counts["accounts_overdue"] = 1
        return counts
    return {"registered": 1, f"accounts_{r.status}": 1}


def pct(part: int, whole: int) -> float:
    return round(part * 100 / whole, 2) if whole else 0.0


def figures(unit: dict[str, Any], sums: dict[str, int], *, readers_today: int, readers_7d: int,
            ineligible: dict[str, int], as_of: date) -> dict[str, Any]:
    """The contract's figures (and the funnel) for a unit from its subtree's sums
    (a counter `sums` lacks is 0)."""
    n = sums.get
    web, mobile, total, eligible = n("accounts_web", 0), n("accounts_mobile", 0), n("members_total", 0), \
        n("members_eligible", 0)
    pending, approved, rejected = n("accounts_pending", 0), n("accounts_approved", 0), n("accounts_rejected", 0)
    installed = web + mobile
    return {
        "unit_id": unit["unit_id"], "unit_code": unit["code"], "unit_name": unit["name"], "unit_kind": unit["kind"],
        "as_of": as_of.isoformat(),
        "members_total": total, "members_eligible": eligible,
        "accounts_installed": installed, "accounts_web": web, "accounts_mobile": mobile,
        "accounts_pending": pending, "accounts_approved": approved, "accounts_rejected": rejected,
        "accounts_overdue": n("accounts_overdue", 0), "requests_overdue": n("requests_overdue", 0),
        "installed_pct_total": pct(installed, total), "installed_pct_eligible": pct(installed, eligible),
        "readers_today": readers_today, "readers_7d": readers_7d,
        "trained_people": n("trained_people", 0), "training_sessions": n("training_sessions", 0),
        "articles_published": n("articles_published", 0), "feedback_posted": n("feedback_posted", 0),
        "funnel": {"registered": n("registered", 0), "pending": pending, "approved": approved,
                   "activated": n("accounts_activated", 0)},
        "without_account": {"not_eligible": dict(sorted(ineligible.items())),
                            "eligible_not_registered": n("eligible_not_installed", 0),
                            "rejected": rejected, "disabled": n("accounts_disabled", 0)},
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
    if event == RegistrationSubmitted.__name__:
        return None if old is not None else RegistrationState(data.get("unit") or city, data["platform"],
                                                              "pending", False)
    if event in (AccountApproved.__name__, AccountRejected.__name__):
        if old is not None and old.status != "pending":
            return None  # decided already
        base = old or RegistrationState(data.get("unit") or city, data["platform"], "pending", False)
        status = "approved" if event == AccountApproved.__name__ else "rejected"
        return RegistrationState(data.get("unit") or base.unit, base.platform, status, False)
    if old is None:
        return None  # a staff account (made from the command line) is no member's installation
    if event == RegistrationEscalated.__name__:
        return None if old.status != "pending" or old.escalated else replace(old, escalated=True)
    if event == AccountActivated.__name__:
        new = RegistrationState(old.unit, old.platform, old.status, True)
    elif event == AccountDisabled.__name__:
        new = RegistrationState(old.unit, old.platform, "disabled", old.activated)
    elif event == AccountMoved.__name__:
        new = RegistrationState(data["unit"], old.platform, old.status, old.activated)
    else:
        return None
    return None if new == old else new


class Deltas:
    """Counter changes per (unit, metric), added up over a batch: a state's change
    takes its old contribution from its old unit and adds its new one to its new
    unit (the same unit, most of the time, where they mostly cancel out)."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str, str], int] = {}

    def add(self, changes: dict[str, dict[str, int]]) -> None:
        for unit, delta in changes.items():
            for metric, n in delta.items():
                self._move(unit, metric, n)

    def _move(self, unit: str, metric: str, n: int) -> None:
        key = (unit, metric)
        self.changes[key] = self.changes.get(key, 0) + n

    def _replace(self, old_unit: str | None, old: dict[str, int], new_unit: str | None, new: dict[str, int]) -> None:
        if old_unit:
            for metric, n in old.items():
                self._move(old_unit, metric, -n)
        if new_unit:
            for metric, n in new.items():
                self._move(new_unit, metric, n)

    def member(self, old: MemberState | None, new: MemberState | None) -> None:
        self._replace(old and old.unit, member_contribution(old), new and new.unit, member_contribution(new))

    def registration(self, old: RegistrationState | None, new: RegistrationState | None) -> None:
        self._replace(old and old.unit, registration_contribution(old), new and new.unit,
                      registration_contribution(new))

    def rows(self) -> list[tuple[str, str, int]]:
        """(unit, metric, change) for every change that did not cancel out."""
        return [(unit, metric, n) for (unit, metric), n in self.changes.items() if n]


# The figures the Prometheus endpoint gives as gauges, each with its help text (DESIGN.md, "Metrics figures").
GAUGES = {
    "members_total": "Members in active standing (active, probationary, exempt) in the unit's whole subtree",
    "members_eligible": "Members in active standing not marked unable to use the app, in the unit's subtree",
    "accounts_installed": "Registered accounts not rejected (pending included) of the unit's subtree",
    "accounts_web": "Installed accounts registered on the web",
    "accounts_mobile": "Installed accounts registered from the mobile app",
    "accounts_pending": "Registrations waiting for approval",
    "accounts_approved": "Registrations approved",
    "accounts_rejected": "Registrations rejected",
    "installed_pct_total": "Installed accounts as a percentage of members_total (2 decimals)",
    "installed_pct_eligible": "Installed accounts as a percentage of members_eligible (2 decimals)",
    "readers_today": "Members who read an article today (Hanoi's day)",
    "trained_people": "People trained to install and use the handbook",
    "training_sessions": "Training sessions held",
}


def plan_expected(wave: dict, today: date) -> float:
    """Where a wave's units should be today: from 0 at its start to its target at its deadline."""
    if today <= wave["starts_on"]:
        return 0.0
    if today >= wave["deadline"]:
        return float(wave["target_pct"])
    share = (today - wave["starts_on"]).days / (wave["deadline"] - wave["starts_on"]).days
    return float(wave["target_pct"]) * share


def wave_progress(wave: dict[str, Any], committees: list[dict[str, Any]], current: dict[str, dict[str, Any]],
                  today: date) -> dict[str, Any]:
    """A wave of the plan as the plan shows it: its committees' progress against
    where they should be today, and who is behind."""
    expected = plan_expected(wave, today)
    units = []
    for c in (c for c in committees if c["wave"] == wave["number"]):
        f = current[c["code"]]
        units.append({"unit_code": c["code"], "unit_name": c["name"],
                      "installed_pct_eligible": f["installed_pct_eligible"],
                      "behind": f["installed_pct_eligible"] < expected})
    return {**{k: (v.isoformat() if isinstance(v, date) else float(v) if k == "target_pct" else v)
               for k, v in wave.items()},
            "expected_pct_today": round(expected, 2), "units": units,
            "behind": [u["unit_code"] for u in units if u["behind"]]}


def prometheus_text(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """The gauges of each (unit, figures), in Prometheus' text format, each with its help."""
    families = []
    for name, help_ in GAUGES.items():
        family = GaugeMetricFamily(f"sotay_rollout_{name}", f"{help_} (the rollout figure {name})", labels=["unit"])
        for unit, figs in rows:
            if name in figs:
                family.add_metric([unit], figs[name])
        families.append(family)
    return gauges_text(families)


def committee_of(u: dict[str, Any]) -> str:
    """The committee a unit's snapshots go out under (`city` for the city)."""
    return "city" if u["kind"] == "city" else u["committee"]


def highest(units: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The unit nearest the top of the tree (fewest steps in its path; by code between equals): where a
    person's dashboard opens, of the units their roles are granted on."""
    return min(units, key=lambda u: (u["path"].count("/"), u["code"]), default=None)


def wave_line(wave: dict[str, Any], today: date) -> dict[str, Any]:
    """A wave as a plan line: from 0 at its start to its target at its deadline, and where it is today."""
    return {"number": wave["number"], "name": wave["name"], "starts_on": wave["starts_on"].isoformat(),
            "target_pct": float(wave["target_pct"]), "deadline": wave["deadline"].isoformat(),
            "expected_pct_today": round(plan_expected(wave, today), 2)}


def weighted_expected(parts: list[tuple[float | None, int]]) -> float | None:
    """Where a unit made of parts (each: its expected figure, its eligible members) should be today;
    None when none of its parts has a wave."""
    planned = [(e, n) for e, n in parts if e is not None]
    if not planned:
        return None
    weight = sum(n for _, n in planned)
    if weight == 0:
        return round(sum(e for e, _ in planned) / len(planned), 2)
    return round(sum(e * n for e, n in planned) / weight, 2)
