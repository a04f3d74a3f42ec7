"""SQL for the registry tables (SQLAlchemy Core on the service's schema)."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import sealed
from services.members.adapters.sealed import fill_member, member_values, vault
from sotay.kit.db import Where
from sotay.kit.text import FOLD_PARAMS, folded_sql, like_pattern

SCHEMA = "members"

UNIT_COLUMNS = "id, code, name, kind, parent_id, committee, path, wave, closed_at, version"
MEMBER_COLUMNS = (
    "m.id, m.party_card_no, m.full_name, m.sealed, m.gender, "
    "u.code AS unit, u.name AS unit_name, m.unit_path, u.committee, m.admitted_on, m.official_on, m.status, m.eligible, "
    "m.ineligible_reason, m.has_account, m.version, tu.code AS temporary_unit, m.temporary_until, m.created_at, "
    "m.updated_at, m.restricted_at"
)
MEMBER_FROM = ("members m JOIN org_units u ON u.id = m.unit_id "
               "LEFT JOIN org_units tu ON tu.id = m.temporary_unit_id")


async def unit_by_code(db: AsyncConnection, code: str, *, lock: bool = False) -> dict[str, Any] | None:
    sql = f"SELECT {UNIT_COLUMNS} FROM org_units WHERE code = :code" + (" FOR UPDATE" if lock else "")
    row = (await db.execute(text(sql), {"code": code})).mappings().first()
    return dict(row) if row else None


async def units_by_code(db: AsyncConnection, codes: list[str]) -> dict[str, dict[str, Any]]:
    """The org units (any kind, open or closed) of these codes."""
    rows = (await db.execute(text(f"SELECT {UNIT_COLUMNS} FROM org_units WHERE code = ANY(:codes)"),
                             {"codes": sorted(set(codes))})).mappings()
    return {r["code"]: dict(r) for r in rows}


async def all_cells(db: AsyncConnection) -> dict[str, dict[str, Any]]:
    rows = (await db.execute(text(
        f"SELECT {UNIT_COLUMNS} FROM org_units WHERE kind = 'cell' AND closed_at IS NULL"))).mappings()
    return {r["code"]: dict(r) for r in rows}


async def insert_unit(db: AsyncConnection, unit: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO org_units (id, code, name, kind, parent_id, committee, path, wave) "
        "VALUES (:id, :code, :name, :kind, :parent_id, :committee, :path, :wave)"), unit)


async def update_unit(db: AsyncConnection, unit_id: Any, *, name: str, wave: int | None, closed: bool) -> int:
    row = (await db.execute(text(
        "UPDATE org_units SET name = :name, wave = :wave, "
        "closed_at = CASE WHEN :closed THEN coalesce(closed_at, now()) END, "
        "version = version + 1, updated_at = now() WHERE id = :id RETURNING version"),
        {"id": unit_id, "name": name, "wave": wave, "closed": closed})).one()
    return row.version


FOLDED_NAME = folded_sql("name")


async def list_units(db: AsyncConnection, *, kind: str | None, parent_id: Any | None, limit: int,
                     after: str | None, name_words: list[str] | None = None) -> list[dict[str, Any]]:
    """Units in path order; `name_words` (folded) keeps those whose name (accents optional) or
    code contains every word."""
    where = (Where().add("kind = :kind", kind=kind or None).add("parent_id = :parent_id", parent_id=parent_id)
             .after("path", (after,) if after else None))
    for i, word in enumerate(name_words or []):
        where.add(f"({FOLDED_NAME} LIKE :word_{i} OR code LIKE :word_{i})", **{f"word_{i}": like_pattern(word)},
                  **FOLD_PARAMS)
    rows = (await db.execute(text(
        f"SELECT {UNIT_COLUMNS} FROM org_units WHERE {where} ORDER BY path LIMIT :limit"),
        where.params | {"limit": limit})).mappings()
    return [dict(r) for r in rows]


async def open_children(db: AsyncConnection, unit_id: Any) -> int:
    return (await db.execute(text(
        "SELECT count(*) FROM org_units WHERE parent_id = :id AND closed_at IS NULL"), {"id": unit_id})).scalar_one()


async def members_in_unit(db: AsyncConnection, unit_id: Any) -> int:
    return (await db.execute(text(
        "SELECT count(*) FROM members WHERE unit_id = :id AND status IN ('active', 'probationary', 'exempt')"),
        {"id": unit_id})).scalar_one()


async def opened_members(db: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Member rows with their sealed values (citizen ID, phone, date of birth) opened in place."""
    opened = await vault(db).open(db, [(f"members:{r['id']}", r["sealed"]) for r in rows])
    return [fill_member(r, values) for r, values in zip(rows, opened, strict=True)]


async def member_by_id(db: AsyncConnection, member_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    sql = f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.id = :id" + (" FOR UPDATE OF m" if lock else "")
    row = (await db.execute(text(sql), {"id": member_id})).mappings().first()
    return (await opened_members(db, [dict(row)]))[0] if row else None


async def member_id_by_card(db: AsyncConnection, card_no: str) -> Any | None:
    return (await db.execute(text("SELECT id FROM members WHERE party_card_no = :c"), {"c": card_no})).scalar()


async def set_has_account(db: AsyncConnection, member_id: Any, value: bool) -> None:
    await db.execute(text("UPDATE members SET has_account = :v WHERE id = :m"), {"v": value, "m": member_id})


async def conflicts(db: AsyncConnection, card_no: str, citizen_id: str | None,
                    exclude_id: Any = None) -> list[tuple[str, str]]:
    rows = (await db.execute(text(
        "SELECT party_card_no = :card AS card, citizen_id_hash = :cid AS cid FROM members "
        "WHERE (party_card_no = :card OR citizen_id_hash = :cid) AND id IS DISTINCT FROM :exclude"),
        {"card": card_no, "cid": vault(db).hash_or_none(citizen_id), "exclude": exclude_id})).all()
    found = []
    if any(r.card for r in rows):
        found.append(("party_card_no", "is already in the registry"))
    if any(r.cid for r in rows):
        found.append(("citizen_id", "belongs to another member"))
    return found


def _sealed_columns(db: AsyncConnection, key_id: int, member_id: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The members columns for `values` (a citizen ID, a phone, a date of birth): sealed, and the
    keyed hashes equality searches use."""
    v = vault(db)
    born = values["date_of_birth"]
    return {"sealed": v.seal_with(key_id, f"members:{member_id}", values),
            "citizen_id_hash": v.hash_or_none(values["citizen_id"]), "phone_hash": v.hash_or_none(values["phone"]),
            "date_of_birth_hash": v.hash_or_none(born.isoformat() if isinstance(born, date) else born)}


async def insert_member(db: AsyncConnection, member: dict[str, Any]) -> None:
    key_id = await vault(db).active_key(db)
    values = member_values(member["citizen_id"], member["phone"], member["date_of_birth"])
    await db.execute(text(
        "INSERT INTO members (id, party_card_no, full_name, name_folded, sealed, citizen_id_hash, phone_hash, "
        "date_of_birth_hash, gender, unit_id, unit_path, admitted_on, official_on, status, eligible, "
        "ineligible_reason) VALUES (:id, :party_card_no, :full_name, :name_folded, :sealed, :citizen_id_hash, "
        ":phone_hash, :date_of_birth_hash, :gender, :unit_id, :unit_path, :admitted_on, :official_on, :status, "
        ":eligible, :ineligible_reason)"),
        {**member, **_sealed_columns(db, key_id, member["id"], values)})


async def update_member(db: AsyncConnection, member_id: Any, fields: dict[str, Any]) -> int:
    """Change `fields` of a member (the caller holds the row); a sealed field seals the three again."""
    if any(f in sealed.SEALED_FIELDS for f in fields):
        blob = (await db.execute(text("SELECT sealed FROM members WHERE id = :id"), {"id": member_id})).scalar()
        current = (await vault(db).open(db, [(f"members:{member_id}", blob)]))[0]
        values = {**member_values(None, None, None), **current,
                  **{f: v for f, v in fields.items() if f in sealed.SEALED_FIELDS}}
        fields = {f: v for f, v in fields.items() if f not in sealed.SEALED_FIELDS}
        fields |= _sealed_columns(db, await vault(db).active_key(db), member_id, values)
    assignments = ", ".join(f"{name} = :{name}" for name in fields)
    row = (await db.execute(text(
        f"UPDATE members SET {assignments}, version = version + 1, updated_at = now() "
        "WHERE id = :member_id RETURNING version"), {**fields, "member_id": member_id})).one()
    return row.version


async def members_by_ids(db: AsyncConnection, member_ids: list[Any], *, lock: bool = False) -> dict[Any, dict[str, Any]]:
    """Members by id, their sealed values opened; with `lock`, their rows locked first, in id order
    (as any bulk lock takes them), then read with their units (as `member_by_id`)."""
    ids = list(member_ids)
    if lock:
        ids = list((await db.execute(text("SELECT id FROM members WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                                     {"ids": ids})).scalars())
    sql = f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.id = ANY(:ids) ORDER BY m.id"
    rows = [dict(r) for r in (await db.execute(text(sql), {"ids": ids})).mappings()]
    return {r["id"]: r for r in await opened_members(db, rows)}


async def update_members(db: AsyncConnection, changes: list[tuple[dict[str, Any], dict[str, Any], int]]) -> None:
    """Many members' `update_member` at once: each (row as read, the columns to set, the version it
    ends at), one statement for the members setting the same columns. The caller holds the rows;
    sealed columns are given in clear (the row's other sealed values are sealed with them)."""
    key_id = await vault(db).active_key(db) if any(
        f in sealed.SEALED_FIELDS for _, columns, _ in changes for f in columns) else None
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, columns, version in changes:
        if any(f in sealed.SEALED_FIELDS for f in columns):
            values = {**member_values(row["citizen_id"], row["phone"], row["date_of_birth"]),
                      **{f: v for f, v in columns.items() if f in sealed.SEALED_FIELDS}}
            columns = {f: v for f, v in columns.items() if f not in sealed.SEALED_FIELDS}
            columns |= _sealed_columns(db, key_id, row["id"], values)
        groups.setdefault(tuple(sorted(columns)), []).append({**columns, "member_id": row["id"], "version": version})
    for names, params in groups.items():
        assignments = ", ".join(f"{name} = :{name}" for name in names)
        await db.execute(text(f"UPDATE members SET {assignments}, version = :version, updated_at = now() "
                              "WHERE id = :member_id"), params)


async def add_histories(db: AsyncConnection, entries: list[tuple[Any, str, str, dict[str, Any], str | None]]) -> None:
    """Many `add_history` at once, in order: each (member id, actor, action, changes, reason)."""
    if not entries:
        return
    v = vault(db)
    key_id = await v.active_key(db)
    params = []
    for member_id, actor, action, changes, reason in entries:
        clear, secret = sealed.split(changes)
        params.append({"m": member_id, "actor": actor, "action": action, "changes": _json(clear), "reason": reason,
                       "sealed": v.seal_with(key_id, f"member_history:{member_id}", secret) if secret else None})
    await db.execute(text(
        "INSERT INTO member_history (member_id, actor, action, changes, sealed, reason) "
        "VALUES (:m, :actor, :action, CAST(:changes AS jsonb), :sealed, :reason)"), params)


async def insert_members(db: AsyncConnection, members: list[dict[str, Any]]) -> None:
    """Many `insert_member` at once."""
    if not members:
        return
    key_id = await vault(db).active_key(db)
    await db.execute(text(
        "INSERT INTO members (id, party_card_no, full_name, name_folded, sealed, citizen_id_hash, phone_hash, "
        "date_of_birth_hash, gender, unit_id, unit_path, admitted_on, official_on, status, eligible, "
        "ineligible_reason) VALUES (:id, :party_card_no, :full_name, :name_folded, :sealed, :citizen_id_hash, "
        ":phone_hash, :date_of_birth_hash, :gender, :unit_id, :unit_path, :admitted_on, :official_on, :status, "
        ":eligible, :ineligible_reason)"),
        [{**m, **_sealed_columns(db, key_id, m["id"], member_values(m["citizen_id"], m["phone"], m["date_of_birth"]))}
         for m in members])


async def taken_identifiers(db: AsyncConnection, card_nos: list[str],
                            citizen_ids: list[str]) -> tuple[set[str], dict[str, Any]]:
    """Of these card numbers and citizen IDs, those the registry holds: (the cards, each citizen
    ID's keyed hash with its member's id), for `conflicts` of many members at once."""
    hashes = [vault(db).pii_hash(c) for c in citizen_ids if c]
    rows = (await db.execute(text(
        "SELECT id, party_card_no, citizen_id_hash FROM members "
        "WHERE party_card_no = ANY(:cards) OR citizen_id_hash = ANY(:hashes)"),
        {"cards": list(card_nos), "hashes": hashes})).all()
    cards = set(card_nos)
    return ({r.party_card_no for r in rows if r.party_card_no in cards},
            {r.citizen_id_hash: r.id for r in rows if r.citizen_id_hash is not None})


async def add_history(db: AsyncConnection, member_id: Any, actor: str, action: str,
                      changes: dict[str, Any], reason: str | None = None) -> None:
    clear, secret = sealed.split(changes)
    blob = await vault(db).seal(db, f"member_history:{member_id}", secret) if secret else None
    await db.execute(text(
        "INSERT INTO member_history (member_id, actor, action, changes, sealed, reason) "
        "VALUES (:m, :actor, :action, CAST(:changes AS jsonb), :sealed, :reason)"),
        {"m": member_id, "actor": actor, "action": action, "changes": _json(clear), "sealed": blob,
         "reason": reason})


async def history(db: AsyncConnection, member_id: Any) -> list[dict[str, Any]]:
    rows = [dict(r) for r in (await db.execute(text(
        "SELECT at, actor, action, changes, sealed, reason FROM member_history WHERE member_id = :m ORDER BY id"),
        {"m": member_id})).mappings()]
    opened = await vault(db).open(db, [(f"member_history:{member_id}", r.pop("sealed")) for r in rows])
    return [{**r, "changes": _merged(r["changes"], values)} for r, values in zip(rows, opened, strict=True)]


def _merged(changes: dict[str, Any], opened: dict[str, Any]) -> dict[str, Any]:
    """A history entry's or a request's changes with their sealed values back, in the order jsonb
    keeps an object's keys (shorter first), as they were read before values were sealed."""
    if not opened:
        return changes
    return dict(sorted({**changes, **opened}.items(), key=lambda kv: (len(kv[0]), kv[0])))


async def search_members(db: AsyncConnection, *, scopes: list[str], q_folded: str | None, card_no: str | None,
                         phone: str | None, unit_path: str | None, limit: int,
                         after: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Members inside any of `scopes` (paths) matching any of the name, card number and phone
    asked for, ordered by (unit_path, id) for keyset pagination."""
    matches = {"q": "m.name_folded LIKE :q", "card": "m.party_card_no = :card", "phone": "m.phone_hash = :phone"}
    like = like_pattern(q_folded) if q_folded else None
    asked = {name: value for name, value in {"q": like, "card": card_no, "phone": phone}.items() if value}
    where = Where().within("m.unit_path", scopes)
    if "phone" in asked:
        asked["phone"] = vault(db).hash_or_none(asked["phone"])
    if asked:
        where.add("(" + " OR ".join(matches[name] for name in asked) + ")", **asked)
    where.add("m.unit_path LIKE :unit_path", unit_path=unit_path + "%" if unit_path else None)
    where.after("(m.unit_path, m.id)", after, "", "uuid")
    rows = (await db.execute(text(
        f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE {where} "
        "ORDER BY m.unit_path, m.id LIMIT :limit"), where.params | {"limit": limit})).mappings()
    return await opened_members(db, [dict(r) for r in rows])


async def insert_correction(db: AsyncConnection, request: dict[str, Any]) -> None:
    clear, secret = sealed.split(request["changes"])
    blob = await vault(db).seal(db, f"correction_requests:{request['id']}", secret) if secret else None
    await db.execute(text(
        "INSERT INTO correction_requests (id, member_id, requested_by, changes, sealed, note) "
        "VALUES (:id, :member_id, :requested_by, CAST(:changes AS jsonb), :sealed, :note)"),
        {**request, "changes": _json(clear), "sealed": blob})


async def _opened_corrections(db: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    opened = await vault(db).open(db, [(f"correction_requests:{r['id']}", r.pop("sealed")) for r in rows])
    for r, values in zip(rows, opened, strict=True):
        r["changes"] = _merged(r["changes"], values)
    return rows


async def correction_by_id(db: AsyncConnection, request_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM correction_requests WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = (await db.execute(text(sql), {"id": request_id})).mappings().first()
    return (await _opened_corrections(db, [dict(row)]))[0] if row else None


async def list_corrections(db: AsyncConnection, *, scopes: list[str], status: str | None,
                           member_id: Any | None) -> list[dict[str, Any]]:
    where = (Where().within("m.unit_path", scopes).add("c.status = :status", status=status or None)
             .add("c.member_id = :member_id", member_id=member_id or None))
    rows = (await db.execute(text(
        "SELECT c.*, m.party_card_no, m.full_name, m.unit_path, m.sealed AS member_sealed, m.gender "
        "FROM correction_requests c "
        "JOIN members m ON m.id = c.member_id "
        f"WHERE {where} ORDER BY c.created_at LIMIT 500"), where.params)).mappings()
    items = await _opened_corrections(db, [dict(r) for r in rows])
    current = await vault(db).open(db, [(f"members:{r['member_id']}", r.pop("member_sealed")) for r in items])
    return [fill_member(r, values) for r, values in zip(items, current, strict=True)]


async def decide_correction(db: AsyncConnection, request_id: Any, *, status: str, actor: str,
                            reason: str | None) -> None:
    await db.execute(text(
        "UPDATE correction_requests SET status = :s, decided_by = :a, decided_at = now(), decision_reason = :r "
        "WHERE id = :id"), {"s": status, "a": actor, "r": reason, "id": request_id})


def _json(value: Any) -> str:
    return orjson.dumps(value, default=_default).decode()


def _default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


async def set_restricted(db: AsyncConnection, member_id: Any, restricted: bool) -> None:
    """Restrict processing of the member's data (now), or lift it; the version moves on, so the
    event that says so supersedes every earlier one in the replicas."""
    await db.execute(text(
        "UPDATE members SET restricted_at = CASE WHEN :r THEN coalesce(restricted_at, now()) END, "
        "version = version + 1, updated_at = now() WHERE id = :id"), {"r": restricted, "id": member_id})


async def temporary_stays_ended(db: AsyncConnection, today: Any, batch: int) -> list[Any]:
    """Members whose temporary transfer ends on or before `today`, at most `batch`, locked for this
    transaction (those another holds: next round)."""
    return list((await db.execute(text(
        "SELECT id FROM members WHERE temporary_until <= :today ORDER BY temporary_until, id LIMIT :n "
        "FOR UPDATE SKIP LOCKED"), {"today": today, "n": batch})).scalars())
