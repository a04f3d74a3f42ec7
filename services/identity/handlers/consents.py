"""The privacy notice and the consent ledger (Law 91/2025/QH15, issue 19).

A registrant is shown the current notice and ticks its purposes (none is ticked beforehand);
the registration is refused without the required ones, or when the notice they read is no
longer the current one. Each giving or withdrawal is recorded with the notice's version, the
purposes, the method (web or mobile), the time and the client (a summary of the user agent and
the keyed hash of the address, never the address), and published as ConsentGiven or
ConsentWithdrawn with ids only. A member sees their consents on their page, withdraws an
optional purpose and gives it again; withdrawing the required one is asking for the account to
be closed (their cell contacts them; the account is not deleted here). Cell secretaries and unit
admins see, per unit of theirs, who stands at which version with which optional purposes (a
read of names: audited)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import consents, notices, store
from services.identity.adapters.store import ORG, Db
from services.identity.handlers import SCHEMA
from sotay.contracts.identity import ConsentGiven, ConsentWithdrawn
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, decode_cursor, encode_cursor, invalid
from sotay.kit.outbox import emit


@dataclass(frozen=True)
class Client:
    """What is kept of the client a consent came from."""

    summary: str       # domain.client_summary of the user agent
    address_hash: str  # IdentityApp.address_hash of the client's address


@dataclass(frozen=True)
class Consent:
    """The notice version a registrant read and the purposes they ticked."""

    notice_version: int
    purposes: tuple[str, ...]


def notice_json(version: int | None) -> dict[str, Any]:
    """A version of the notice (the current one by default): its purposes and both texts; 404 for no such version."""
    shown = domain.notice(version) if version is not None else domain.CURRENT_NOTICE
    if shown is None:
        raise Problem(404, "Not found", "No privacy notice has this version.")
    return {"version": shown.version, "published_on": shown.published_on.isoformat(),
            "current": shown is domain.CURRENT_NOTICE,
            "purposes": [{"code": p.code, "required": p.required, "name": {"vi": p.name_vi, "en": p.name_en},
                          "label": {"vi": p.vi, "en": p.en}}
                         for p in shown.purposes],
            "text": {language: notices.text(shown.version, language) for language in notices.LANGUAGES}}


def _event(kind: type, *, registration_id: Any, account_id: Any, member_id: Any, version: int, purposes: list[str],
           method: str, at: datetime):
    return kind(registration_id=str(registration_id), account_id=str(account_id) if account_id else None,
                member_id=str(member_id) if member_id else None, notice_version=version, purposes=purposes,
                method=method, at=at)


async def record_registration(db: Db, reg: dict[str, Any], consent: Consent, client: Client) -> None:
    """The registrant's consent, in the registration's transaction (parse_registration checked it)."""
    purposes = list(dict.fromkeys(consent.purposes))
    at = await consents.record(db, consent_id=uuid7(), registration_id=reg["id"], account_id=None,
                               version=consent.notice_version, purposes=purposes, action="given",
                               method=reg["platform"], client=client.summary, address_hash=client.address_hash)
    await emit(db, SCHEMA, _event(ConsentGiven, registration_id=reg["id"], account_id=None, member_id=reg["member_id"],
                                  version=consent.notice_version, purposes=purposes, method=reg["platform"], at=at),
               aggregate_id=reg["id"], committee=reg["committee"], unit=reg["unit"])


# --- the member's own --------------------------------------------------------------------------


def no_record() -> Problem:
    return Problem(404, "Not found", "This account has no consent record: it was not made from a registration.",
                   code="no_consent_record")


async def _own_account(db: AsyncConnection, actor: Principal, *, lock: bool = False) -> dict[str, Any]:
    """The caller's account, made from a registration (a member's); 404 for any other caller."""
    try:
        account_id = uuid.UUID(actor.subject)
    except ValueError:
        raise no_record() from None
    account = await store.account(db, account_id, lock=lock)
    if account is None or account["registration_id"] is None or account["status"] != "active":
        raise no_record()
    return account


def standing(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A member's consents as their page shows them: each purpose of the current notice with its
    latest giving or withdrawal, every change (newest first), and whether they asked to close the account."""
    latest = {row["purpose"]: row for row in rows}
    history: dict[Any, dict[str, Any]] = {}
    for row in rows:
        entry = history.setdefault(row["id"], {
            "action": row["action"], "purposes": [], "notice_version": row["notice_version"],
            "method": row["method"], "client": row["client"], "at": row["at"].isoformat()})
        entry["purposes"].append(row["purpose"])
    purposes = []
    for p in domain.CURRENT_NOTICE.purposes:
        row = latest.get(p.code)
        purposes.append({"code": p.code, "required": p.required, "given": bool(row) and row["action"] == "given",
                         "notice_version": row["notice_version"] if row else None,
                         "at": row["at"].isoformat() if row else None, "method": row["method"] if row else None})
    account = latest.get(domain.ACCOUNT_PURPOSE)
    return {"notice_version": domain.CURRENT_NOTICE.version, "purposes": purposes,
            "history": list(reversed(history.values())),
            "closure_requested": bool(account) and account["action"] == "withdrawn"}


async def own(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    account = await _own_account(db, actor)
    return standing(await consents.ledger(db, account["registration_id"]))


async def _change(db: AsyncConnection, actor: Principal, *, action: str, version: int, purposes: list[str],
                  method: str, client: Client, problems) -> dict[str, Any]:
    """Record a giving or a withdrawal of the caller's, once `problems(latest)` finds nothing wrong
    with it (latest: each purpose's latest row); publish it."""
    account = await _own_account(db, actor, lock=True)
    rows = await consents.ledger(db, account["registration_id"])
    purposes = list(dict.fromkeys(purposes))
    if found := problems({row["purpose"]: row for row in rows}, purposes):
        raise invalid(found)
    at = await consents.record(db, consent_id=uuid7(), registration_id=account["registration_id"],
                               account_id=account["id"], version=version, purposes=purposes, action=action,
                               method=method, client=client.summary, address_hash=client.address_hash)
    kind = ConsentGiven if action == "given" else ConsentWithdrawn
    await emit(db, SCHEMA, _event(kind, registration_id=account["registration_id"], account_id=account["id"],
                                  member_id=account["member_id"], version=version, purposes=purposes, method=method,
                                  at=at),
               aggregate_id=account["registration_id"], committee=account["committee"], unit=account["unit"])
    return standing(await consents.ledger(db, account["registration_id"]))


async def give(db: AsyncConnection, actor: Principal, *, version: int, purposes: list[str], method: str,
               client: Client) -> dict[str, Any]:
    """The member agrees to purposes of the current notice (an optional one again, or the notice's
    new version); one that stands at that version already is refused."""
    def problems(latest, wanted):
        if version != domain.CURRENT_NOTICE.version:
            return domain.consent_problems(version, wanted)[:1]
        found = [("purposes", f"is not a purpose of the notice: {p}") for p in wanted
                 if p not in domain.CURRENT_NOTICE.codes]
        return found + [("purposes", f"is already given: {p}") for p in wanted if p in latest
                        and latest[p]["action"] == "given" and latest[p]["notice_version"] == version]
    return await _change(db, actor, action="given", version=version, purposes=purposes, method=method,
                         client=client, problems=problems)


async def withdraw(db: AsyncConnection, actor: Principal, *, purposes: list[str], method: str,
                   client: Client) -> dict[str, Any]:
    """The member withdraws purposes they agreed to (the required one: asking to close the account)."""
    def problems(latest, wanted):
        return [("purposes", f"was not given: {p}") for p in wanted
                if p not in latest or latest[p]["action"] != "given"]
    return await _change(db, actor, action="withdrawn", version=domain.CURRENT_NOTICE.version, purposes=purposes,
                         method=method, client=client, problems=problems)


# --- the staff's view, per unit ------------------------------------------------------------------


async def by_unit(db: AsyncConnection, actor: Principal, unit: str, *, limit: int,
                  cursor: str | None) -> dict[str, Any]:
    """Under one unit of the actor's (422 for no such unit, 403 outside theirs): per unit below it,
    how many member accounts stand at the current version, an older one, none, or asked to close,
    and how many hold each optional purpose; and a page of the members, by unit, with their
    version, when and how they agreed, and their optional purposes. Audited: it shows names."""
    path = await store.unit_path(db, unit)
    if path is None:
        raise invalid([("unit", "is not a unit of the registry")])
    await ORG.require(db, actor, path, domain.APPROVERS)
    optional = [p.code for p in domain.CURRENT_NOTICE.purposes if not p.required]
    counts = await consents.unit_counts(db, base_path=path, account_purpose=domain.ACCOUNT_PURPOSE,
                                        current=domain.CURRENT_NOTICE.version, optional=optional)
    after = tuple(decode_cursor(cursor, 2)) if cursor else None
    if after:
        try:
            uuid.UUID(after[1])
        except ValueError:
            raise invalid([("cursor", "is not a cursor this service issued")]) from None
    rows = await consents.unit_members(db, base_path=path, account_purpose=domain.ACCOUNT_PURPOSE, limit=limit + 1,
                                       after=after)
    page, more = rows[:limit], len(rows) > limit
    await store.audit(db, actor.subject, "read_consents", unit,
                      details={"accounts": [str(r["account_id"]) for r in page]})
    return {"unit": unit, "notice_version": domain.CURRENT_NOTICE.version,
            "units": [{"unit": c["child"] or unit, **{k: c[k] for k in ("accounts", "current", "older", "none",
                                                                         "closing", "purposes")}} for c in counts],
            "items": [{"account_id": str(r["account_id"]), "member_id": str(r["member_id"]),
                       "full_name": r["full_name"], "unit": r["unit"],
                       "notice_version": r["notice_version"] if r["account_action"] == "given" else None,
                       "given_at": r["at"].isoformat() if r["account_action"] == "given" else None,
                       "method": r["method"] if r["account_action"] == "given" else None,
                       "purposes": list(r["held"]), "closure_requested": r["account_action"] == "withdrawn"}
                      for r in page],
            "next_cursor": encode_cursor(page[-1]["unit"], str(page[-1]["account_id"])) if more else None}
