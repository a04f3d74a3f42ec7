"""Sealed columns: envelope encryption of citizen IDs, phones and dates of birth at rest.

Each value is sealed with AES-256-GCM under a data key; the data keys live in `data_keys`,
wrapped by the members key-encryption key (SOTAY_MEMBERS_KEK, sotay/kit/keys.py), which only the
process holds. A sealed blob is version 1 (one byte), the data key's id (4 bytes), a nonce (12)
and the ciphertext of a JSON object of the sealed fields; its associated data names its table and
row, so a blob copied onto another row does not open. Plaintext exists only in memory.

The process keeps each data key it has unwrapped; a key it has not seen (made by a rotation
alongside) is read from the table on first use, so reads never fail during a rotation.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sotay.kit.db import lock_key
from sotay.kit.keys import MissingKey, members_kek, members_kek_previous, seal, unseal
from sotay.kit.settings import Settings

log = logging.getLogger("sotay.members.sealed")

# The fields sealed wherever members keeps them.
SEALED_FIELDS = ("citizen_id", "phone", "date_of_birth")
_V1 = b"\x01"
_HEADER = 1 + 4 + 12


class SealedValueError(RuntimeError):
    """A sealed value that does not open (changed, moved from another row, or a key not given to
    this process). Its message names the row and the key, never a value."""


def kek_id(kek: bytes) -> str:
    """A fingerprint of a key-encryption key, stored beside what it wrapped."""
    return hashlib.sha256(b"sotay members kek id:" + kek).hexdigest()[:16]


def key_id_of(blob: bytes) -> int:
    if blob[:1] != _V1 or len(blob) < _HEADER:
        raise SealedValueError("not a value sealed by members")
    return int.from_bytes(blob[1:5], "big")


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class Vault:
    """The members process's sealing: its key-encryption key (read on first use, or at start),
    the data keys it has unwrapped, and the keyed hash of the values searched by equality."""

    def __init__(self, settings: Settings, pii_hash: Callable[[str], str]) -> None:
        self.settings = settings
        self.pii_hash = pii_hash
        self._kek: bytes | None = None
        self._keks: dict[str, bytes] = {}
        self._keys: dict[int, AESGCM] = {}

    def load_kek(self) -> None:
        """Read the key-encryption key(s): MissingKey names the variable when one is not set."""
        if self._kek is None:
            current = members_kek(self.settings)
            keks = {kek_id(current): current}
            if previous := members_kek_previous(self.settings):
                keks.setdefault(kek_id(previous), previous)
            self._kek, self._keks = current, keks

    @property
    def kek(self) -> bytes:
        self.load_kek()
        return self._kek

    # --- data keys ---------------------------------------------------------------------------

    def _unwrap(self, key_id: int, wrapped: bytes, wrapped_by: str) -> AESGCM:
        self.load_kek()
        kek = self._keks.get(wrapped_by)
        if kek is None:
            raise SealedValueError(
                f"members data key {key_id} was wrapped by key-encryption key {wrapped_by}, and this process "
                f"has {', '.join(self._keks)}: give it that key as SOTAY_MEMBERS_KEK (or SOTAY_MEMBERS_KEK_PREVIOUS "
                "while `sotay keys rotate-members` re-wraps)")
        try:
            raw = unseal(kek, wrapped, context=f"members.data_keys:{key_id}")
        except MissingKey:
            raise SealedValueError(f"members data key {key_id} does not open with key-encryption key "
                                   f"{wrapped_by}: the wrapped key was changed") from None
        aead = AESGCM(raw)
        self._keys[key_id] = aead
        return aead

    async def _load(self, db: AsyncConnection, key_ids: Iterable[int]) -> None:
        missing = sorted(set(key_ids) - self._keys.keys())
        if not missing:
            return
        rows = (await db.execute(text("SELECT id, wrapped, kek_id FROM data_keys WHERE id = ANY(:ids)"),
                                 {"ids": missing})).all()
        for row in rows:
            self._unwrap(row.id, row.wrapped, row.kek_id)
        if unknown := set(missing) - self._keys.keys():
            raise SealedValueError(f"members data key(s) {sorted(unknown)} are not in members.data_keys")

    async def active_key(self, db: AsyncConnection) -> int:
        """The data key this transaction seals with, held FOR SHARE until it ends (a rotation's
        switch waits for it); the first one is made here."""
        for _ in range(2):
            row = (await db.execute(text(
                "SELECT id, wrapped, kek_id FROM data_keys WHERE active FOR SHARE"))).first()
            if row is not None:
                if row.id not in self._keys:
                    self._unwrap(row.id, row.wrapped, row.kek_id)
                return row.id
            await new_data_key(db, self.kek, active=True, if_none=True)
        raise SealedValueError("members has no active data key")

    # --- values ------------------------------------------------------------------------------

    def seal_with(self, key_id: int, where: str, values: Mapping[str, Any]) -> bytes | None:
        """`values` (JSON-ready, dates allowed) sealed under data key `key_id` for the row
        `where` names ('members:<id>'); None when there is nothing to seal."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return None
        nonce = secrets.token_bytes(12)
        body = self._keys[key_id].encrypt(nonce, orjson.dumps(values, default=_json_default), where.encode())
        return _V1 + key_id.to_bytes(4, "big") + nonce + body

    async def seal(self, db: AsyncConnection, where: str, values: Mapping[str, Any]) -> bytes | None:
        return self.seal_with(await self.active_key(db), where, values)

    def open_loaded(self, where: str, blob: bytes | None) -> dict[str, Any]:
        """What `blob` seals (its data key already loaded); {} for None."""
        if blob is None:
            return {}
        key_id = key_id_of(blob)
        try:
            return orjson.loads(self._keys[key_id].decrypt(blob[5:17], blob[17:], where.encode()))
        except InvalidTag:
            log.error("sealed value of %s does not open with data key %d: changed, or moved from another row",
                      where, key_id)
            raise SealedValueError(f"the sealed value of {where} does not open with data key {key_id}: it was "
                                   "changed, or moved from another row") from None

    async def load_all_keys(self, db: AsyncConnection) -> None:
        """Read every data key, so that `open_loaded` opens any value (in a worker thread, say, for
        many values)."""
        await self._load(db, (await db.execute(text("SELECT id FROM data_keys"))).scalars().all())

    async def open(self, db: AsyncConnection, sealed: list[tuple[str, bytes | None]]) -> list[dict[str, Any]]:
        """Each (where, blob) opened, the data keys they need read first."""
        await self._load(db, (key_id_of(blob) for _, blob in sealed if blob is not None))
        return [self.open_loaded(where, blob) for where, blob in sealed]

    def hash_or_none(self, value: str | None) -> str | None:
        return self.pii_hash(value) if value else None


async def new_data_key(db: AsyncConnection, kek: bytes, *, active: bool, if_none: bool = False) -> int | None:
    """A fresh data key, wrapped by `kek` (its id, None when `if_none` and another is active)."""
    key_id = (await db.execute(text(
        "SELECT nextval(pg_get_serial_sequence('data_keys', 'id'))"))).scalar_one()
    wrapped = seal(kek, AESGCM.generate_key(bit_length=256), context=f"members.data_keys:{key_id}")
    conflict = " ON CONFLICT (active) WHERE active DO NOTHING" if if_none else ""
    return (await db.execute(text(
        "INSERT INTO data_keys (id, wrapped, kek_id, active) VALUES (:id, :w, :k, :a)" + conflict + " RETURNING id"),
        {"id": key_id, "w": wrapped, "k": kek_id(kek), "a": active})).scalar()


# --- one vault per members engine ----------------------------------------------------------------

_VAULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def register(engine: AsyncEngine, vault: Vault) -> None:
    """`vault` seals and opens for every connection of `engine`'s pool (its read-only twin's too)."""
    _VAULTS[engine.sync_engine.pool] = vault


def vault(db: AsyncConnection) -> Vault:
    """The vault of the members engine `db` is a connection of."""
    return vault_of(db)


def vault_of(engine: AsyncEngine | AsyncConnection) -> Vault:
    try:
        return _VAULTS[engine.sync_engine.pool]
    except KeyError:
        raise RuntimeError("this engine is not a members service's: no vault registered") from None


# --- what a row seals --------------------------------------------------------------------------


def split(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A history entry's or a request's changes: (what stays in clear, what is sealed)."""
    clear = {k: v for k, v in changes.items() if k not in SEALED_FIELDS}
    return clear, {k: v for k, v in changes.items() if k in SEALED_FIELDS}


def member_values(citizen_id: str | None, phone: str | None, date_of_birth: date | None) -> dict[str, Any]:
    return {"citizen_id": citizen_id, "phone": phone, "date_of_birth": date_of_birth}


def fill_member(row: dict[str, Any], opened: Mapping[str, Any]) -> dict[str, Any]:
    """A member row with its sealed values in place of `sealed`."""
    row.pop("sealed", None)
    born = opened.get("date_of_birth")
    row.update(citizen_id=opened.get("citizen_id"), phone=opened.get("phone"),
               date_of_birth=date.fromisoformat(born) if born else None)
    return row


# --- rows written before the columns were sealed -----------------------------------------------

BATCH = 1_000
_CLEAR = {
    "members": "citizen_id IS NOT NULL OR phone IS NOT NULL OR date_of_birth IS NOT NULL",
    "member_history": "changes ?| array['citizen_id', 'phone', 'date_of_birth']",
    "correction_requests": "changes ?| array['citizen_id', 'phone', 'date_of_birth']",
}


async def seal_clear_rows(engine: AsyncEngine, vault_: Vault) -> dict[str, int]:
    """Seal what was written in clear before 004_sealed.sql and empty the clear columns, in batches,
    one replica at a time (an advisory lock); nothing to do reads no key. Run after the migrations
    by the owner role: history rows are an audit trail, whose trigger is lifted for its batch alone."""
    sealed = {table: 0 for table in _CLEAR}
    async with engine.connect() as probe:
        if not any([(await probe.execute(text(f"SELECT EXISTS (SELECT FROM {t} WHERE {w})"))).scalar()
                    for t, w in _CLEAR.items()]):
            return sealed
    vault_.load_kek()
    async with engine.connect() as lock:
        await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("members:seal-clear-rows")})
        try:
            for table in _CLEAR:
                while n := await _seal_batch(engine, vault_, table):
                    sealed[table] += n
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("members:seal-clear-rows")})
            await lock.commit()
    log.info("members: sealed the values written in clear before: %s", sealed)
    return sealed


async def _seal_batch(engine: AsyncEngine, vault_: Vault, table: str) -> int:
    async with engine.begin() as db:
        key_id = await vault_.active_key(db)
        if table == "members":
            rows = (await db.execute(text(
                f"SELECT id, citizen_id, phone, date_of_birth FROM members WHERE {_CLEAR[table]} "
                "LIMIT :n FOR UPDATE"), {"n": BATCH})).all()
            await db.execute(text(
                "UPDATE members m SET sealed = v.sealed, citizen_id_hash = v.cid, phone_hash = v.ph, "
                "date_of_birth_hash = v.dh, citizen_id = NULL, phone = NULL, date_of_birth = NULL "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:sealed AS bytea[]), CAST(:cid AS text[]), "
                "CAST(:ph AS text[]), CAST(:dh AS text[])) AS v(id, sealed, cid, ph, dh) WHERE m.id = v.id"),
                {"ids": [r.id for r in rows],
                 "sealed": [vault_.seal_with(key_id, f"members:{r.id}",
                                             member_values(r.citizen_id, r.phone, r.date_of_birth)) for r in rows],
                 "cid": [vault_.hash_or_none(r.citizen_id) for r in rows],
                 "ph": [vault_.hash_or_none(r.phone) for r in rows],
                 "dh": [vault_.hash_or_none(r.date_of_birth.isoformat() if r.date_of_birth else None) for r in rows]})
            return len(rows)
        by = "member_id" if table == "member_history" else "id"
        rows = (await db.execute(text(
            f"SELECT id, {by} AS bound, changes FROM {table} WHERE {_CLEAR[table]} LIMIT :n FOR UPDATE"),
            {"n": BATCH})).all()
        if not rows:
            return 0
        if table == "member_history":
            await db.execute(text("ALTER TABLE member_history DISABLE TRIGGER member_history_append_only"))
        clear, blobs = [], []
        for r in rows:
            kept, secret = split(r.changes)
            clear.append(orjson.dumps(kept).decode())
            blobs.append(vault_.seal_with(key_id, f"{table}:{r.bound}", secret))
        await db.execute(text(
            f"UPDATE {table} t SET changes = CAST(v.changes AS jsonb), sealed = v.sealed "
            f"FROM unnest(CAST(:ids AS {'bigint' if table == 'member_history' else 'uuid'}[]), "
            "CAST(:changes AS text[]), CAST(:sealed AS bytea[])) AS v(id, changes, sealed) WHERE t.id = v.id"),
            {"ids": [r.id for r in rows], "changes": clear, "sealed": blobs})
        if table == "member_history":
            await db.execute(text("ALTER TABLE member_history ENABLE TRIGGER member_history_append_only"))
        return len(rows)


# --- rotation ----------------------------------------------------------------------------------

# The tables whose sealed values a rotation seals again under the new data key. member_history is
# an audit trail (append-only): its values stay under the data key that sealed them, which the
# rotation re-wraps like every other.
RESEALED = {"members": "members:{id}", "correction_requests": "correction_requests:{id}"}


async def rotate(engine: AsyncEngine, vault_: Vault, *, batch: int = 500,
                 progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Rotate while the service runs: a new active data key (the switch waits for the writers
    holding the old one, so none writes with it after); the members and correction requests sealed
    with an older key sealed again under it, `batch` rows a transaction; then every data key not
    wrapped by the current key-encryption key re-wrapped by it. Reads never stop: a replica meets
    the new key on its first value sealed with it and reads it from the table."""
    kek = vault_.kek
    async with engine.begin() as db:
        await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("members:rotate")})
        await db.execute(text("UPDATE data_keys SET active = false WHERE active"))
        new_id = await new_data_key(db, kek, active=True)
    resealed = {}
    for table, where in RESEALED.items():
        resealed[table] = 0
        after = None
        while True:
            async with engine.begin() as db:
                rows = (await db.execute(text(
                    f"SELECT id, sealed FROM {table} WHERE sealed IS NOT NULL "
                    "AND substring(sealed from 2 for 4) <> :kid AND (CAST(:after AS uuid) IS NULL OR id > :after) "
                    "ORDER BY id LIMIT :n FOR UPDATE"),
                    {"kid": new_id.to_bytes(4, "big"), "after": after, "n": batch})).all()
                if not rows:
                    break
                opened = await vault_.open(db, [(where.format(id=r.id), r.sealed) for r in rows])
                await vault_._load(db, [new_id])
                await db.execute(text(
                    f"UPDATE {table} t SET sealed = v.sealed FROM unnest(CAST(:ids AS uuid[]), "
                    "CAST(:sealed AS bytea[])) AS v(id, sealed) WHERE t.id = v.id"),
                    {"ids": [r.id for r in rows],
                     "sealed": [vault_.seal_with(new_id, where.format(id=r.id), values)
                                for r, values in zip(rows, opened, strict=True)]})
                after = rows[-1].id
                resealed[table] += len(rows)
            if progress:
                progress(table, resealed[table])
    rewrapped = await rewrap(engine, vault_)
    return {"data_key": new_id, "resealed": resealed, "rewrapped": rewrapped}


async def rewrap(engine: AsyncEngine, vault_: Vault) -> list[int]:
    """Every data key wrapped by another key-encryption key (SOTAY_MEMBERS_KEK_PREVIOUS) wrapped
    again by SOTAY_MEMBERS_KEK. The data keys themselves do not change, nor what they sealed."""
    current = kek_id(vault_.kek)
    done = []
    async with engine.begin() as db:
        rows = (await db.execute(text(
            "SELECT id, wrapped, kek_id FROM data_keys WHERE kek_id <> :k ORDER BY id FOR UPDATE"),
            {"k": current})).all()
        for row in rows:
            vault_.load_kek()
            if row.kek_id not in vault_._keks:
                vault_._unwrap(row.id, row.wrapped, row.kek_id)  # raises, naming the key it lacks
            raw = unseal(vault_._keks[row.kek_id], row.wrapped, context=f"members.data_keys:{row.id}")
            await db.execute(text(
                "UPDATE data_keys SET wrapped = :w, kek_id = :k, rewrapped_at = now() WHERE id = :id"),
                {"w": seal(vault_.kek, raw, context=f"members.data_keys:{row.id}"), "k": current, "id": row.id})
            done.append(row.id)
    return done


async def key_usage(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Each data key, whether active, and how many values of each table it seals."""
    async with engine.connect() as db:
        keys = [dict(r) for r in (await db.execute(text(
            "SELECT id, kek_id, active, created_at, rewrapped_at FROM data_keys ORDER BY id"))).mappings()]
        for key in keys:
            key["uses"] = {}
        for table in ("members", "member_history", "correction_requests"):
            for row in (await db.execute(text(
                    f"SELECT get_byte(sealed, 1) * 16777216 + get_byte(sealed, 2) * 65536 + get_byte(sealed, 3) * 256 "
                    f"+ get_byte(sealed, 4) AS key_id, count(*) AS n FROM {table} WHERE sealed IS NOT NULL "
                    "GROUP BY 1"))).all():
                for key in keys:
                    if key["id"] == row.key_id:
                        key["uses"][table] = row.n
    return keys
