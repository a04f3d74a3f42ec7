"""The floor of the suite's registration evening (issue 22): a bare Starlette app that does
identity's essential work for a registration and for a password sign-in, at identity's own
paths, so the very request bytes sent to identity can be sent to it. Raw asyncpg on one pool,
identity's argon2id pool (services/identity/adapters/passwords.py, the same parameters, workers
and queue) and its EdDSA signing (sotay.kit.auth.mint_token with the development signing key).

What it does:

- `POST /api/identity/v1/registrations` (JSON): the body parsed; the address's registrations
  window read, checked against its budget (429 past it) and an event added to it; the
  password hashed on the pool; then in one transaction the registry lookup by the card's keyed
  hash with the has-an-account and has-a-pending-match checks (identity's very query, on the
  registry replica `identity.registry_members`, read only), the match (identity's domain
  function, on keyed hashes of name, birth date and phone), the registration row, its consent
  rows (one per purpose) and the two event rows (registration submitted, consent given) in an
  outbox of its own, with the NOTIFY. 202 and the registration's id.
- `POST /api/identity/v1/token` (form: grant_type=password, username, password): the account
  by card number or phone (identity's query), whether this address is known to it, the
  throttle windows of the attempt (account, account at this address, address) read and
  checked (429 while it must wait); the password verified on the pool (against a dummy hash
  when there is no account), no connection held meanwhile (identity verifies inside the
  sign-in's transaction); a wrong one adds an event to each window and answers 400
  invalid_grant. A right one, in one transaction:
  the account activated on its first sign-in (with its event row), the address remembered,
  the account's grants read and a refresh token's digest inserted; then the access token signed
  (EdDSA). 200 with the tokens.
- `GET /healthz`.

What it does not do: validate or normalise anything beyond parsing (no card, name, phone,
password or consent checks; a malformed body is a 500), answer problem+json (a refusal is a
bare status: 400 invalid_grant, 429, 503), clear a sign-in's failures after a success, honour
Idempotency-Key, run any middleware (no tracing, metrics, request ids, security headers, body limits), log, publish its
outbox (no relay reads it: it reaches no service), or take the refresh_token grant or a
refresh cookie. Its tables are its own (`public.bench_bare_*`), made `LIKE` identity's
(columns, defaults, checks, indexes and unique checks; no foreign keys, no triggers), so the
statements cost what identity's do.

Run as `uvicorn sotay.system.bench_bare_identity:app` with SOTAY_BENCH_DSN set to the database
and SOTAY_DATA_DIR to the system's (its development signing and hash keys); identity's schema
must be migrated there.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.identity import domain
from services.identity.adapters.passwords import PasswordPool, PoolBusy
from sotay.kit.auth import Grant, mint_token
from sotay.kit.db import plain_url
from sotay.kit.events import uuid7
from sotay.kit.keys import HmacSha256, pii_hmac_key
from sotay.kit.settings import Settings
from sotay.system.bench import SERVICE_ENV

PREFIX = "/api/identity/v1"
TABLES = {"registrations": "registrations", "consents": "consents", "accounts": "accounts", "grants": "grants",
          "known_addresses": "known_addresses", "throttle": "throttle_windows", "refresh": "refresh_tokens"}
SETUP = [f"CREATE TABLE IF NOT EXISTS public.bench_bare_{ours} (LIKE identity.{theirs} INCLUDING ALL)"
         for ours, theirs in TABLES.items()] + [
    "CREATE TABLE IF NOT EXISTS public.bench_bare_outbox (id bigserial PRIMARY KEY, event_id uuid, subject text, "
    "body bytea, headers jsonb)"]

# Identity's statements (services/identity/adapters/store.py, consents.py), on the bare tables.
WINDOWS_SQL = ("SELECT key, ARRAY(SELECT extract(epoch FROM now() - t)::float8 FROM unnest(at) t) AS ages "
               "FROM bench_bare_throttle WHERE key = ANY($1::text[])")
RECORD_SQL = ("INSERT INTO bench_bare_throttle (key, at) SELECT k, ARRAY[now()] FROM unnest($1::text[]) k "
              "ON CONFLICT (key) DO UPDATE SET at = ARRAY(SELECT t FROM unnest(bench_bare_throttle.at || now()) t "
              "WHERE t > now() - make_interval(secs => $2) ORDER BY t DESC LIMIT $3)")
CONTEXT_SQL = ("SELECT r.member_id, r.card_hash, r.name_hash, r.dob_hash, r.unit, r.unit_path, r.committee, "
               "r.status, r.eligible, r.phone_hash, "
               "EXISTS (SELECT 1 FROM bench_bare_accounts WHERE party_card_no = c.card) AS has_account, "
               "EXISTS (SELECT 1 FROM bench_bare_registrations WHERE party_card_no = c.card AND status = 'pending' "
               "AND match_result = 'matched') AS has_pending "
               "FROM (SELECT $1::text AS card) c LEFT JOIN identity.registry_members r ON r.card_hash = $2")
REGISTRATION_SQL = (
    "INSERT INTO bench_bare_registrations (id, party_card_no, full_name, date_of_birth, phone, password_hash, "
    "platform, match_result, match_reasons, member_id, unit, unit_path, committee, status) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, 'pending')")
CONSENT_SQL = ("INSERT INTO bench_bare_consents (id, purpose, registration_id, account_id, notice_version, action, "
               "method, client, address_hash) SELECT $1, p, $2, NULL, $3, 'given', $4, $5, $6 "
               "FROM unnest($7::text[]) p RETURNING at")
# As sotay.kit.outbox.add_events: the event rows and the relay's wake-up in one statement.
OUTBOX_SQL = ("WITH inserted AS (INSERT INTO bench_bare_outbox (event_id, subject, body, headers) "
              "SELECT unnest($1::uuid[]), unnest($2::text[]), unnest($3::bytea[]), '{}') "
              "SELECT pg_notify('bench_bare', '')")
ACCOUNT_SQL = ("SELECT * FROM bench_bare_accounts WHERE party_card_no = $1 OR phone = $2 "
               "ORDER BY party_card_no = $1 DESC, created_at LIMIT 1")
KNOWN_SQL = ("SELECT last_ok_at FROM bench_bare_known_addresses WHERE account_id = $1 AND address_hash = $2 "
             "AND last_ok_at > now() - make_interval(days => $3)")
REMEMBER_SQL = ("INSERT INTO bench_bare_known_addresses (account_id, address_hash) VALUES ($1, $2) "
                "ON CONFLICT (account_id, address_hash) DO UPDATE SET last_ok_at = now()")
ACTIVATE_SQL = "UPDATE bench_bare_accounts SET activated_at = now() WHERE id = $1"
GRANTS_SQL = "SELECT role, unit FROM bench_bare_grants WHERE account_id = $1 ORDER BY role, unit"
REFRESH_SQL = "INSERT INTO bench_bare_refresh (token_hash, family_id, account_id, expires_at) VALUES ($1, $2, $3, $4)"

settings: Settings | None = None  # SOTAY_* as identity reads them: its windows, pool, token lifetimes
throttles: domain.Throttles | None = None
pool: asyncpg.Pool | None = None
passwords: PasswordPool | None = None
signing = None
hmac = None


def keyed(value: str) -> str:
    """As IdentityApp.keyed: the keyed hash throttles keep of a card, phone or address."""
    return hmac.hexdigest(value.encode())[:32]


@asynccontextmanager
async def lifespan(app):
    global settings, throttles, pool, passwords, signing, hmac
    settings = Settings()
    throttles = domain.Throttles.from_settings(settings)
    signing, hmac = settings.signing_key(), HmacSha256(pii_hmac_key(settings))
    passwords = PasswordPool(settings.password_workers, settings.password_queue)
    pool = await asyncpg.create_pool(os.environ["SOTAY_BENCH_DSN"], min_size=10, max_size=10,
                                     server_settings={"search_path": "public"})
    for statement in SETUP:
        await pool.execute(statement)
    yield
    await pool.close()
    passwords.close()


def _json(value, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def _event(kind: str, committee: str, data: dict) -> tuple[uuid.UUID, str, bytes]:
    event_id = uuid7()
    return event_id, f"bench.bare.identity.{committee}.{kind}", orjson.dumps(
        {"id": str(event_id), "type": kind, "data": data})


async def _outbox(db: asyncpg.Connection, events: list[tuple[uuid.UUID, str, bytes]]) -> None:
    ids, subjects, bodies = zip(*events, strict=True)
    await db.execute(OUTBOX_SQL, list(ids), list(subjects), list(bodies))


def _busy(exc: PoolBusy) -> Response:
    return Response(status_code=503, headers={"Retry-After": str(exc.retry_after)})


def _too_many(wait: float) -> Response:
    return Response(status_code=429, headers={"Retry-After": str(domain.ceil_seconds(wait))})


async def register(request: Request) -> Response:
    body = orjson.loads(await request.body())
    address = keyed(f"address:{request.client.host if request.client else 'unknown'}")
    window = domain.registration_key(address)
    async with pool.acquire() as db, db.transaction():
        ages = {r["key"]: r["ages"] for r in await db.fetch(WINDOWS_SQL, [window])}
        if (wait := throttles.registration_wait(address, ages)) > 0:
            return _too_many(wait)
        await db.execute(RECORD_SQL, [window], throttles.horizon_s, throttles.keep)
    try:
        password_hash = await passwords.hash(body["password"])
    except PoolBusy as exc:
        return _busy(exc)

    card, born = body["party_card_no"], date.fromisoformat(body["date_of_birth"])
    async with pool.acquire() as db, db.transaction():
        row = dict(await db.fetchrow(CONTEXT_SQL, card, hmac.hexdigest(card.encode())))
        has_account, has_pending = row.pop("has_account"), row.pop("has_pending")
        entry = (domain.RegistryEntry(**{**row, "member_id": str(row["member_id"])})
                 if row["member_id"] is not None else None)
        match = domain.match_registration(
            given=domain.given(body["full_name"], born, body["phone"], lambda v: hmac.hexdigest(v.encode())),
            entry=entry, has_account=has_account, has_pending=has_pending)
        reg_id = uuid7()
        unit, committee = (entry.unit, entry.committee) if entry else (None, "city")
        await db.execute(REGISTRATION_SQL, reg_id, card, body["full_name"], born, body["phone"], password_hash,
                         body["platform"], match.result, orjson.dumps(list(match.reasons)).decode(),
                         entry and uuid.UUID(entry.member_id), unit, entry.unit_path if entry else "/city/",
                         committee)
        events = [_event("RegistrationSubmitted", committee, {
            "registration_id": str(reg_id), "platform": body["platform"], "match_result": match.result,
            "match_reasons": domain.public_reasons(match), "member_id": entry and entry.member_id, "unit": unit})]
        consent = body.get("consent")
        if consent:
            purposes = list(dict.fromkeys(consent["purposes"]))
            at = await db.fetchval(CONSENT_SQL, uuid7(), reg_id, consent["notice_version"], body["platform"],
                                   request.headers.get("user-agent", "")[:60], address, purposes)
            events.append(_event("ConsentGiven", committee, {
                "registration_id": str(reg_id), "member_id": entry and entry.member_id,
                "notice_version": consent["notice_version"], "purposes": purposes, "method": body["platform"],
                "at": at.isoformat()}))
        await _outbox(db, events)
    return _json({"status": "received", "id": str(reg_id)}, 202)


async def sign_in(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    username, password = form["username"], form["password"]
    address = keyed(f"address:{request.client.host if request.client else 'unknown'}")
    async with pool.acquire() as db:
        account = await db.fetchrow(ACCOUNT_SQL, username, username)
        known = account is not None and await db.fetchval(
            KNOWN_SQL, account["id"], address, domain.KNOWN_ADDRESS_DAYS) is not None
        at = domain.attempt(f"account:{account['id']}" if account else f"name:{keyed(username)}", address,
                            known=known)
        ages = {r["key"]: r["ages"] for r in await db.fetch(WINDOWS_SQL, at.failure_keys)}
    if (wait := throttles.wait(at, ages)) > 0:
        return _too_many(wait)
    try:
        ok = await passwords.verify(account["password_hash"] if account else None, password)
    except PoolBusy as exc:
        return _busy(exc)
    if not ok or account["status"] != "active":
        await pool.execute(RECORD_SQL, at.failure_keys, throttles.horizon_s, throttles.keep)
        return _json({"error": "invalid_grant"}, 400)

    refresh = secrets.token_urlsafe(32)
    async with pool.acquire() as db, db.transaction():
        if account["activated_at"] is None:
            await db.execute(ACTIVATE_SQL, account["id"])
            await _outbox(db, [_event("AccountActivated", account["committee"], {
                "account_id": str(account["id"]), "member_id": str(account["member_id"]), "unit": account["unit"],
                "platform": account["platform"]})])
        if not known:
            await db.execute(REMEMBER_SQL, account["id"], address)
        grants = [Grant(r["role"], r["unit"]) for r in await db.fetch(GRANTS_SQL, account["id"])]
        await db.execute(REFRESH_SQL, domain.token_digest(refresh), uuid7(), account["id"],
                         datetime.now(UTC) + timedelta(days=settings.refresh_token_ttl_days))
    access = mint_token(signing, str(account["id"]), grants, ttl_s=settings.access_token_ttl_s,
                        member_card_no=account["party_card_no"], unit=account["unit"])
    return _json({"access_token": access, "token_type": "Bearer", "expires_in": settings.access_token_ttl_s,
                  "refresh_token": refresh})


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(lifespan=lifespan, routes=[
    Route(f"{PREFIX}/registrations", register, methods=["POST"]),
    Route(f"{PREFIX}/token", sign_in, methods=["POST"]),
    Route("/healthz", healthz),
])


def start(db_url: str, port: int, data_dir) -> subprocess.Popen:
    """The app in a uvicorn process of its own, as `sotay serve` runs identity: one process,
    uvicorn's default loop and HTTP parser, warnings only; the same SOTAY_* variables as
    sotay.system.bench.start_service gives identity (the load generator's address budgets)."""
    env = {**os.environ, "SOTAY_BENCH_DSN": plain_url(db_url), "SOTAY_DATA_DIR": str(data_dir),
           **SERVICE_ENV}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "sotay.system.bench_bare_identity:app", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"], env=env, stdout=subprocess.DEVNULL)
