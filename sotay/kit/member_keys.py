"""Per-member keys: what member events carry of a person can be destroyed (crypto-shredding).

Streams cannot be edited, and every subscriber and backup keeps its copy of them. So the personal
part of a member event (the card number, the name, keyed hashes of what identity matches on) is
sealed under a key of that member's own (AES-256-GCM, the member's id bound to it), and only the
key can be taken back: destroying it leaves every copy of that part, in every stream and backup,
unreadable for good.

The keys live in the JetStream key-value bucket `sotay_member_keys`, one entry a member: the
current key's id and the key, wrapped by the event key-encryption key (SOTAY_EVENTS_KEK,
sotay/kit/keys.py), which only the services that read that part hold (members, which makes and
destroys the keys, identity and content), and the ids of the member's keys destroyed before. A
district system without the KEK reads an event's ids, unit and standing, nothing of the person.

Members destroys a member's key when retention minimises them (their citizen ID, phone and date of
birth go, and so must those values' keyed hashes in every event sent before); what it sends after
is sealed under a new key. A sealed part names its key's id, so a reader tells a part sealed under
a destroyed key (it opens to None: that data is gone) from one sealed under a key the member never
had (forged, or moved from another member's event: refused). The bucket keeps one revision per
member (history 1): a key overwritten by its destruction is not kept in the bucket's history.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from sotay.kit.consumer import PermanentError
from sotay.kit.keys import MissingKey, seal, unseal
from sotay.kit.streams import MEMBER_KEYS_BUCKET, member_keys_bucket

_V1 = b"\x01"
_KID = 8  # bytes of a key's id


@dataclass(frozen=True)
class MemberKey:
    kid: bytes
    key: bytes


@dataclass
class _Entry:
    """A member's entry in the bucket, as read: the current key (None once destroyed), the ids of
    the keys destroyed before, and the entry's revision (to write it back only if unchanged)."""

    current: MemberKey | None
    destroyed: frozenset[bytes] = field(default_factory=frozenset)
    revision: int = 0


def seal_personal(key: MemberKey, member_id: str, personal: dict[str, Any]) -> str:
    """The personal part of a member event, sealed under the member's key (base64url text)."""
    nonce = secrets.token_bytes(12)
    blob = _V1 + key.kid + nonce + AESGCM(key.key).encrypt(nonce, orjson.dumps(personal), member_id.encode())
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


def _parts(sealed: str) -> tuple[bytes, bytes, bytes]:
    blob = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    if blob[:1] != _V1 or len(blob) < 1 + _KID + 12 + 16:
        raise ValueError("not a member event's sealed part")
    return blob[1:1 + _KID], blob[1 + _KID:1 + _KID + 12], blob[1 + _KID + 12:]


def key_id_of(sealed: str) -> bytes:
    return _parts(sealed)[0]


def open_personal(key: MemberKey, member_id: str, sealed: str) -> dict[str, Any]:
    """What `seal_personal` sealed; ValueError when it is not the member's (another key or member)."""
    kid, nonce, ciphertext = _parts(sealed)
    if kid != key.kid:
        raise ValueError("the sealed part names another key")
    try:
        return orjson.loads(AESGCM(key.key).decrypt(nonce, ciphertext, member_id.encode()))
    except InvalidTag:
        raise ValueError("the sealed part does not open with this member's key") from None


class MemberKeys:
    """The bucket's keys, as one process uses them: members makes (`key_for`, `make`) and destroys
    them, readers open parts with them (`open_events`). Entries read are kept in memory (an LRU of
    `cache` entries); a part naming a key the kept entry does not know is looked up again."""

    def __init__(self, js, kek: bytes, *, replicas: int = 1, cache: int = 50_000) -> None:
        self._js, self._kek, self._replicas, self._size = js, kek, replicas, cache
        self._kv = None
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._made: dict[str, MemberKey] = {}

    async def bucket(self):
        if self._kv is None:
            try:
                self._kv = await self._js.key_value(MEMBER_KEYS_BUCKET)
            except BucketNotFoundError:
                self._kv = await self._js.create_key_value(member_keys_bucket(self._replicas))
        return self._kv

    # --- the entry, as stored: JSON of the key's id, the wrapped key and the destroyed ids ---------

    def _value(self, member_id: str, entry: _Entry) -> bytes:
        key = entry.current
        return orjson.dumps({
            "kid": key.kid.hex() if key else None,
            "key": base64.b64encode(seal(self._kek, key.key, context=f"member key {member_id} {key.kid.hex()}")).decode()
            if key else None,
            "destroyed": sorted(k.hex() for k in entry.destroyed)})

    def _entry(self, member_id: str, value: bytes, revision: int) -> _Entry:
        raw = orjson.loads(value)
        current = None
        if raw.get("key"):
            kid = bytes.fromhex(raw["kid"])
            try:
                key = unseal(self._kek, base64.b64decode(raw["key"]), context=f"member key {member_id} {raw['kid']}")
            except MissingKey:
                raise MissingKey(f"member {member_id}'s event key does not open with SOTAY_EVENTS_KEK") from None
            current = MemberKey(kid, key)
        return _Entry(current, frozenset(bytes.fromhex(k) for k in raw.get("destroyed", [])), revision)

    def _keep(self, member_id: str, entry: _Entry) -> _Entry:
        self._cache[member_id] = entry
        self._cache.move_to_end(member_id)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return entry

    async def _read(self, member_id: str) -> _Entry | None:
        try:
            got = await (await self.bucket()).get(member_id)
        except KeyNotFoundError:
            return None
        return self._keep(member_id, self._entry(member_id, got.value, got.revision))

    async def _entry_of(self, member_id: str, *, fresh: bool = False) -> _Entry | None:
        if not fresh and (entry := self._cache.get(member_id)) is not None:
            return entry
        return await self._read(member_id)

    # --- members: making and destroying -----------------------------------------------------------

    async def key_for(self, member_id: str) -> MemberKey:
        """The member's current key, made on first use or after the last was destroyed (members
        only). Two makers at once keep the first one's."""
        entry = await self._entry_of(member_id)
        while entry is None or entry.current is None:
            made = _Entry(MemberKey(secrets.token_bytes(_KID), secrets.token_bytes(32)),
                          entry.destroyed if entry else frozenset())
            kv = await self.bucket()
            try:
                if entry is None:
                    made.revision = await kv.create(member_id, self._value(member_id, made))
                else:
                    made.revision = await kv.update(member_id, self._value(member_id, made), last=entry.revision)
                entry = self._keep(member_id, made)
            except KeyWrongLastSequenceError:  # another writer was first: theirs is read
                entry = await self._read(member_id)
        return entry.current

    async def destroy(self, member_id: str) -> None:
        """Crypto-shredding: the member's current key is overwritten by the note that it was
        destroyed (its id only); every part sealed under it opens no more, anywhere."""
        while True:
            entry = await self._read(member_id)
            if entry is None or entry.current is None:
                return
            gone = _Entry(None, entry.destroyed | {entry.current.kid})
            try:
                gone.revision = await (await self.bucket()).update(member_id, self._value(member_id, gone),
                                                                   last=entry.revision)
            except KeyWrongLastSequenceError:
                continue
            self._keep(member_id, gone)
            return

    def make(self, member_id: str) -> MemberKey:
        """A key for a member who is new (an import's row: no entry can exist yet), kept until
        `put_made` puts it in the bucket."""
        key = MemberKey(secrets.token_bytes(_KID), secrets.token_bytes(32))
        self._made[member_id] = key
        return key

    async def put_made(self, member_ids: list[str]) -> None:
        """The keys `make` made for these members, put in the bucket together (the puts pipelined)."""
        kv = await self.bucket()
        entries = [(m, _Entry(self._made.pop(m))) for m in member_ids]
        revisions = await asyncio.gather(*(kv.create(m, self._value(m, e)) for m, e in entries))
        for (m, e), revision in zip(entries, revisions, strict=True):
            e.revision = revision
            self._keep(m, e)

    # --- readers -------------------------------------------------------------------------------------

    async def open(self, member_id: str, sealed: str) -> dict[str, Any] | None:
        """The part opened; None when the key it names was destroyed. ValueError when the member
        never had that key (forged, or moved from another member's event) or the part was changed."""
        kid = key_id_of(sealed)
        for fresh in (False, True):
            entry = await self._entry_of(member_id, fresh=fresh)
            if entry is None:
                continue
            if entry.current is not None and entry.current.kid == kid:
                return open_personal(entry.current, member_id, sealed)
            if kid in entry.destroyed:
                return None
        raise ValueError("the sealed part names a key this member never had")


async def open_events(keys: MemberKeys, envelopes: list[dict[str, Any]]) -> None:
    """Each member event's `personal` opened in place (MemberPersonal as a dict), or None when the
    key it was sealed under is destroyed (retention minimised the member since: what the event said
    of them is gone). The entries not in memory are read together first. A part that opens with no
    key the member had (forged, or moved from another member's event) is a PermanentError: the
    message is dead-lettered."""
    sealed = [e for e in envelopes if isinstance(e.get("data", {}).get("personal"), str)]
    await asyncio.gather(*(keys._entry_of(m) for m in {e["data"]["member_id"] for e in sealed}))
    for envelope in sealed:
        data = envelope["data"]
        try:
            data["personal"] = await keys.open(data["member_id"], data["personal"])
        except ValueError as exc:  # binascii.Error too: not base64
            raise PermanentError(f"member {data['member_id']}: {exc}") from None
