"""Identity: registrations matched against a replica of the registry,
scoped approval, accounts, sign-in, tokens and signing keys.
Publishes `sotay.identity.*`; consumes `sotay.members.*`."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.identity.adapters import keys, store
from services.identity.adapters.passwords import PasswordPool
from services.identity.domain import ThrottlePolicy, ceil_seconds
from services.identity.entrypoints.events import registry_consumer
from services.identity.entrypoints.http import build_router
from services.identity.events import CATALOGUE
from services.identity.handlers import TokenIssuer
from sotay.auth import key_id
from sotay.http import Problem
from sotay.service import ServiceContext, ServiceDefinition, stop_tasks

log = logging.getLogger("sotay.identity")


class IdentityApp:
    """The composition root: what the routes and handlers share."""

    def __init__(self) -> None:
        self.ctx: ServiceContext | None = None
        self.passwords: PasswordPool | None = None
        self.issuer: TokenIssuer | None = None
        self.account_policy = ThrottlePolicy()
        # An address gets more room than an account: many members share a unit's network.
        self.address_policy = ThrottlePolicy(free_failures=50)
        self._housekeeper: asyncio.Task | None = None
        self.revoked = None  # the KV bucket of disabled accounts, from start()

    def router(self, ctx: ServiceContext):
        self.ctx = ctx
        return build_router(self)

    async def start(self, ctx: ServiceContext) -> None:
        local = ctx.settings.signing_key()
        signing = await keys.load_keys(ctx.engine, local)
        for key in signing:
            ctx.verifier.add_key(key.public_key())
        await keys.publish_jwks(ctx.js, signing, replicas=ctx.settings.stream_replicas)
        self.issuer = TokenIssuer(signing, ctx.settings.access_token_ttl_s,
                                  timedelta(days=ctx.settings.refresh_token_ttl_days))
        self.passwords = PasswordPool()
        self.revoked = await keys.revocations(ctx.js, ttl_s=ctx.settings.access_token_ttl_s + 60,
                                              replicas=ctx.settings.stream_replicas)
        self._housekeeper = asyncio.create_task(self._housekeeping(ctx, local))

    async def end_sessions(self, account_id: str) -> None:
        await self.revoked.put(account_id, str(time.time()).encode())

    async def stop(self, ctx: ServiceContext) -> None:
        if self._housekeeper:
            await stop_tasks([self._housekeeper], "identity")
        if self.passwords:
            self.passwords.close()

    async def _housekeeping(self, ctx: ServiceContext, local: Ed25519PrivateKey, interval: float = 5.0) -> None:
        """Pick up keys added by `sotay keys rotate` (or another replica): sign
        with the newest, publish them all, so older tokens stay valid. Hourly,
        forget sign-in failures a day old: their waits ended long ago."""
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            try:
                signing = await keys.load_keys(ctx.engine, local)
                if [key_id(k.public_key()) for k in signing] != [key_id(k.public_key()) for k in self.issuer.keys]:
                    for key in signing:
                        ctx.verifier.add_key(key.public_key())
                    await keys.publish_jwks(ctx.js, signing, replicas=ctx.settings.stream_replicas)
                    self.issuer.keys = signing
                if rounds % 720 == 0:
                    async with ctx.engine.begin() as db:
                        await store.forget_old_failures(db)
            except Exception as exc:  # the database or NATS away: try again later
                log.warning("identity: housekeeping failed: %r", exc)

    async def refuse_if_throttled(self, key: str, address: str) -> bool:
        """Raise 429 while `key` or `address` must wait; else say whether `key` has failures on record."""
        async with self.ctx.engine.connect() as db:
            seen = await store.sign_in_failures(db, [key, f"ip:{address}"])
        wait = max(self.account_policy.wait(*seen.get(key, (0, 0.0))),
                   self.address_policy.wait(*seen.get(f"ip:{address}", (0, 0.0))))
        if wait > 0:
            raise Problem(429, "Too many attempts", f"Try again in {ceil_seconds(wait)} seconds.",
                          retry_after=ceil_seconds(wait))
        return key in seen

    async def failed(self, key: str, address: str) -> None:
        async with self.ctx.engine.begin() as db:
            await store.record_failure(db, [key, f"ip:{address}"])

    async def succeeded(self, key: str) -> None:
        async with self.ctx.engine.begin() as db:
            await store.clear_failures(db, key)


def definition() -> ServiceDefinition:
    app = IdentityApp()
    return ServiceDefinition(
        name="identity",
        migrations=Path(__file__).parent / "adapters" / "migrations",
        catalogue=CATALOGUE,
        build_router=app.router,
        build_consumers=lambda ctx: [registry_consumer(app.end_sessions)],
        on_start=app.start,
        on_stop=app.stop,
        description="Identity (tài khoản): registration, matching against the registry, approval, sign-in, tokens.",
    )
