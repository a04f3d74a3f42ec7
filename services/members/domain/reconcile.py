"""Reconciliation with the national member database (Cơ sở dữ liệu đảng viên 3.0): the pure rules.

The national database is the source of truth. An export of it is compared with the registry,
member by member on the card number; each difference becomes an item (handlers/reconcile.py):

- new: a card the registry does not hold (applied as a registration, MemberRegistered);
- changed: fields that differ, applied through the registry's own use cases: a cell that differs
  is an official transfer (MemberTransferred), a standing or eligibility that differs a status
  change (MemberStatusChanged), any other field an edit (MemberUpdated);
- missing: a member in active standing the export does not hold: reported, never deleted or
  changed (the organisation board finds out why: a transfer not yet recorded nationally, a
  typing error in the card number…);
- outside: a member moved between the units the reconciler administers and others: reported,
  applied by whoever administers both (the city for a move between committees).

A field that a pending correction request of the member also proposes to change is held back:
neither the request nor the field is touched, the writer decides the request as usual, and the
next reconciliation shows what still differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sotay.contracts.fields import ACTIVE_STANDING
from sotay.kit.db import path_codes

# The fields compared (the card number is the key).
COMPARED_FIELDS = ("full_name", "date_of_birth", "gender", "citizen_id", "phone", "unit", "admitted_on",
                   "official_on", "status", "eligible", "ineligible_reason")
STANDING_FIELDS = ("status", "eligible", "ineligible_reason")
KINDS = ("new", "changed", "missing", "outside")

KIND_LABELS = {
    "vi": {"new": "Mới (chưa có trong hồ sơ)", "changed": "Thay đổi", "missing": "Không có trong tệp xuất",
           "outside": "Chuyển giữa đơn vị mình quản lý và đơn vị khác"},
    "en": {"new": "New (not in the registry)", "changed": "Changed", "missing": "Not in the export",
           "outside": "Moved between your units and others"},
}


def steps(fields: Iterable[str], *, current_status: str, new_status: str) -> list[tuple[str, list[str]]]:
    """The use cases that apply a changed member's `fields`, in an order the registry's rules allow:
    ("status", standing fields), ("transfer", ["unit"]), ("update", other fields). Only a member in
    active standing is transferred, so a member coming back into it changes standing first, and one
    leaving it is transferred first."""
    fields = set(fields)
    standing = [f for f in STANDING_FIELDS if f in fields]
    others = [f for f in COMPARED_FIELDS if f in fields and f not in STANDING_FIELDS and f != "unit"]
    order: list[tuple[str, list[str]]] = []
    status_step = [("status", standing)] if standing else []
    transfer_step = [("transfer", ["unit"])] if "unit" in fields else []
    if new_status in ACTIVE_STANDING or current_status not in ACTIVE_STANDING:
        order += status_step + transfer_step
    else:
        order += transfer_step + status_step
    if others:
        order.append(("update", others))
    return order


def summary_unit(path: str, scope: Sequence[str]) -> str:
    """The unit a difference at `path` is counted under in the summary: the unit just below the
    nearest scope root covering it (the committees for the city, the grassroots organisations for
    a committee, …), the root itself for a difference at it."""
    codes = path_codes(path)
    roots = [r for r in scope if path.startswith(r)]
    depth = len(path_codes(max(roots, key=len))) if roots else 1
    return codes[min(depth, len(codes) - 1)] if codes else ""


def held_fields(fields: Iterable[str], pending: Iterable[Iterable[str]]) -> list[str]:
    """The item's fields a pending correction request also proposes to change (held back)."""
    proposed = {f for request in pending for f in request}
    return [f for f in fields if f in proposed]
