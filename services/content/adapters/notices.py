"""The SQL of notifications: notices, each account's choices and how far it has seen, the
registrations waiting for a decision, and the browsers' push subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.replica import READER
from services.content.domain.notices import CHOICE_OF, CHOICES, INBOX_DAYS, STALE

# A kind is shown (and pushed) unless the account's choice governing it is off.
_CHOSEN = " AND ".join(
    f"(n.kind NOT IN ({', '.join(repr(k) for k, c in CHOICE_OF.items() if c == choice)}) "
    f"OR coalesce(s.{choice}, true))" for choice in CHOICES)


# --- written from events and by the scheduler -------------------------------------------------

async def add(db: AsyncConnection, kind: str, ref: str, at: datetime, *, audience_paths: list[str] | None = None,
              account_id: str | None = None, registration_id: str | None = None, title: str | None = None,
              details: dict[str, Any] | None = None) -> None:
    """A notice, once per kind and ref (an event applied again adds nothing)."""
    await db.execute(text(
        "INSERT INTO notices (kind, ref, audience_paths, account_id, registration_id, title, details, at) "
        "VALUES (:kind, :ref, :paths, :account, CAST(:reg AS uuid), :title, CAST(:details AS jsonb), :at) "
        "ON CONFLICT (kind, ref) DO NOTHING"),
        {"kind": kind, "ref": ref, "paths": audience_paths or [], "account": account_id, "reg": registration_id,
         "title": title, "details": orjson.dumps(details or {}).decode(), "at": at})


async def withdraw(db: AsyncConnection, kind: str, ref: str) -> None:
    """A retracted article is no longer news: its notice goes (pushes already sent stay sent)."""
    await db.execute(text("DELETE FROM notices WHERE kind = :kind AND ref = :ref"), {"kind": kind, "ref": ref})


async def remind_meetings(db: AsyncConnection, hours: int) -> int:
    """A reminder for each meeting starting within `hours` that was called earlier than that
    (one called at shorter notice had its call just now). Returns how many were added."""
    rows = await db.execute(text(
        "INSERT INTO notices (kind, ref, audience_paths, details, at) "
        "SELECT 'meeting_reminder', CAST(m.id AS text), ARRAY[m.cell_path], "
        "jsonb_build_object('starts_at', m.starts_at, 'place', m.place), now() FROM meetings m "
        "WHERE m.starts_at > now() AND m.starts_at <= now() + make_interval(hours => :h) "
        "AND m.created_at < m.starts_at - make_interval(hours => :h) "
        "ON CONFLICT (kind, ref) DO NOTHING RETURNING id"), {"h": hours})
    return len(rows.all())


async def registration_waits(db: AsyncConnection, registration_id: str) -> None:
    await db.execute(text("INSERT INTO pending_registrations (registration_id) VALUES (CAST(:r AS uuid)) "
                          "ON CONFLICT DO NOTHING"), {"r": registration_id})


async def registration_decided(db: AsyncConnection, registration_id: str, account_id: str | None,
                               member_id: str | None) -> None:
    """The registration is decided: approved, its registrant's devices become the account's."""
    await db.execute(text("DELETE FROM pending_registrations WHERE registration_id = CAST(:r AS uuid)"),
                     {"r": registration_id})
    if account_id:
        await db.execute(text(
            "UPDATE push_subscriptions SET account_id = :a, "
            "party_card_no = (SELECT party_card_no FROM readers WHERE member_id = CAST(:m AS uuid)) "
            "WHERE registration_id = CAST(:r AS uuid) AND account_id IS NULL"),
            {"a": account_id, "m": member_id, "r": registration_id})


async def is_waiting(db: AsyncConnection, registration_id: Any) -> bool:
    return bool((await db.execute(text(
        "SELECT 1 FROM pending_registrations WHERE registration_id = :r"), {"r": registration_id})).first())


# --- the member's inbox ---------------------------------------------------------------------------

_MINE = (f"n.at <= now() AND n.at > now() - interval '{INBOX_DAYS} days' AND {_CHOSEN} AND "
         "(n.account_id = :account OR (cardinality(n.audience_paths) > 0 "
         "AND n.audience_paths && (SELECT anc FROM me)))")


async def inbox(db: AsyncConnection, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    """The account's notices, newest first, and how many it has not seen. `params` are READER's
    (replica.reader_params): where the member sits now, as the feed has it."""
    rows = await db.execute(text(
        f"WITH me AS ({READER}) SELECT n.id, n.kind, n.ref, n.title, n.details, n.at, "
        "n.id > coalesce(s.seen_through, 0) AS unread FROM notices n "
        "LEFT JOIN notice_settings s ON s.account_id = :account "
        f"WHERE {_MINE} ORDER BY n.at DESC, n.id DESC LIMIT :n"), params | {"n": limit})
    unseen = (await db.execute(text(
        f"WITH me AS ({READER}) SELECT count(*) FROM (SELECT 1 FROM notices n "
        "LEFT JOIN notice_settings s ON s.account_id = :account "
        f"WHERE {_MINE} AND n.id > coalesce(s.seen_through, 0) LIMIT 100) x"), params)).scalar()
    return [dict(r._mapping) for r in rows], unseen


async def seen(db: AsyncConnection, account_id: str, through: int) -> None:
    await db.execute(text(
        "INSERT INTO notice_settings (account_id, seen_through) VALUES (:a, :t) ON CONFLICT (account_id) "
        "DO UPDATE SET seen_through = greatest(notice_settings.seen_through, EXCLUDED.seen_through)"),
        {"a": account_id, "t": through})


async def choices(db: AsyncConnection, account_id: str) -> dict[str, bool]:
    row = (await db.execute(text(f"SELECT {', '.join(CHOICES)} FROM notice_settings WHERE account_id = :a"),
                            {"a": account_id})).mappings().first()
    return dict(row) if row else {c: True for c in CHOICES}


async def choose(db: AsyncConnection, account_id: str, chosen: dict[str, bool]) -> None:
    columns = ", ".join(CHOICES)
    await db.execute(text(
        f"INSERT INTO notice_settings (account_id, {columns}) VALUES (:a, {', '.join(':' + c for c in CHOICES)}) "
        f"ON CONFLICT (account_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in CHOICES)}, "
        "updated_at = now()"), {"a": account_id, **chosen})


# --- push subscriptions ------------------------------------------------------------------------

MAX_PER_ACCOUNT = 10  # devices; the oldest goes when an eleventh subscribes
MAX_PER_REGISTRATION = 3
MAX_FAILURES = 10  # pushes failed in a row: the subscription is dropped


async def subscribe(db: AsyncConnection, endpoint: str, p256dh: str, auth: str, *, account_id: str | None = None,
                    card: str | None = None, registration_id: Any = None) -> int | None:
    """The browser's subscription, for the account or the registration; the oldest beyond the
    limit go. A browser subscribed before belongs to whoever subscribes it now (another member
    signed in on it) if they hand the same keys; other keys for a known endpoint are refused
    (None): only the browser holds its keys."""
    subscription_id = (await db.execute(text(
        "INSERT INTO push_subscriptions (endpoint, p256dh, auth, account_id, party_card_no, registration_id) "
        "VALUES (:e, :p, :k, :a, :c, :r) ON CONFLICT (endpoint) DO UPDATE SET "
        "account_id = EXCLUDED.account_id, party_card_no = EXCLUDED.party_card_no, "
        "registration_id = EXCLUDED.registration_id, failures = 0, last_error = NULL, created_at = now() "
        "WHERE push_subscriptions.p256dh = EXCLUDED.p256dh AND push_subscriptions.auth = EXCLUDED.auth "
        "RETURNING id"),
        {"e": endpoint, "p": p256dh, "k": auth, "a": account_id, "c": card, "r": registration_id})).scalar()
    if subscription_id is None:
        return None
    owner, limit = (("account_id", MAX_PER_ACCOUNT) if account_id else ("registration_id", MAX_PER_REGISTRATION))
    await db.execute(text(
        f"DELETE FROM push_subscriptions WHERE {owner} = :o AND id NOT IN "
        f"(SELECT id FROM push_subscriptions WHERE {owner} = :o ORDER BY created_at DESC, id DESC LIMIT :n)"),
        {"o": account_id or registration_id, "n": limit})
    return subscription_id


async def unsubscribe(db: AsyncConnection, subscription_id: int, account_id: str) -> bool:
    return bool((await db.execute(text(
        "DELETE FROM push_subscriptions WHERE id = :id AND account_id = :a RETURNING 1"),
        {"id": subscription_id, "a": account_id})).first())


# --- pushing --------------------------------------------------------------------------------------

async def due(db: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Notices whose time has come and that are not pushed yet, oldest first. Those more than a
    day late (push was off, or down) are marked done instead: a push is news or nothing."""
    await db.execute(text("UPDATE notices SET push_state = 'done' WHERE push_state = 'due' AND at < :stale"),
                     {"stale": datetime.now().astimezone() - STALE})
    rows = await db.execute(text(
        "SELECT id, kind, ref, title, details, at, audience_paths, account_id, registration_id, pushed_through "
        "FROM notices WHERE push_state = 'due' AND at <= now() ORDER BY at, id LIMIT :n"), {"n": limit})
    return [dict(r._mapping) for r in rows]


# Statuses of the registry under which a member is no longer told anything.
_GONE = "('transferred_out', 'deceased', 'removed')"


async def recipients(db: AsyncConnection, notice: dict[str, Any], after: int, limit: int) -> list[Any]:
    """The subscriptions a notice reaches, after subscription `after`, in id order: the named
    account's or registrant's, or those of the members (by the registry replica: where they sit
    now) in its audience. Each account's choices apply."""
    choice = CHOICE_OF[notice["kind"]]
    if notice["registration_id"] is not None and notice["account_id"] is None:
        who, params = "p.registration_id = :r AND p.account_id IS NULL", {"r": notice["registration_id"]}
    elif notice["account_id"] is not None:
        who, params = "p.account_id = :a", {"a": notice["account_id"]}
    else:
        who = (f"EXISTS (SELECT 1 FROM readers r WHERE r.party_card_no = p.party_card_no "
               f"AND (r.ancestors && :paths OR r.temporary_unit IN (SELECT code FROM org_units WHERE path = ANY(:paths))) "
               f"AND r.status NOT IN {_GONE})")
        params = {"paths": list(notice["audience_paths"])}
    rows = await db.execute(text(
        "SELECT p.id, p.endpoint, p.p256dh, p.auth FROM push_subscriptions p "
        "LEFT JOIN notice_settings s ON s.account_id = p.account_id "
        f"WHERE p.id > :after AND {who} AND coalesce(s.{choice}, true) ORDER BY p.id LIMIT :n"),
        params | {"after": after, "n": limit})
    return rows.all()


async def pushed(db: AsyncConnection, notice_id: int, through: int, done: bool, gone: list[int],
                 failed: list[tuple[int, str]], sent: list[int]) -> None:
    """A chunk of a notice's subscriptions was sent to: how far, and how each went."""
    await db.execute(text("UPDATE notices SET pushed_through = :t, push_state = :s WHERE id = :id"),
                     {"t": through, "s": "done" if done else "due", "id": notice_id})
    if gone:
        await db.execute(text("DELETE FROM push_subscriptions WHERE id = ANY(:ids)"), {"ids": gone})
    if sent:
        await db.execute(text("UPDATE push_subscriptions SET failures = 0, last_error = NULL "
                              "WHERE id = ANY(:ids) AND failures > 0"), {"ids": sent})
    if failed:
        await db.execute(text("UPDATE push_subscriptions SET failures = failures + 1, last_error = :e WHERE id = :id"),
                         [{"id": i, "e": e} for i, e in failed])
        await db.execute(text("DELETE FROM push_subscriptions WHERE id = ANY(:ids) AND failures >= :n"),
                         {"ids": [i for i, _ in failed], "n": MAX_FAILURES})


async def forget_account_devices(db: AsyncConnection, account_id: str) -> None:
    await db.execute(text("DELETE FROM push_subscriptions WHERE account_id = :a"), {"a": account_id})


async def forget_registrants(db: AsyncConnection, registration_id: Any) -> None:
    """A rejected registrant's devices, once told: there is no account for them to follow."""
    await db.execute(text("DELETE FROM push_subscriptions WHERE registration_id = :r AND account_id IS NULL"),
                     {"r": registration_id})
