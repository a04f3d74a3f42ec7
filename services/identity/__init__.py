"""Identity: registrations matched against a replica of the registry,
scoped approval, accounts, sign-in, tokens and signing keys.
Publishes `sotay.identity.*`; consumes `sotay.members.*`."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.identity.adapters import keys
from services.identity.adapters.passwords import PasswordPool
from services.identity.domain import Throttles
from services.identity.entrypoints.events import registry_consumer
from services.identity.entrypoints.http import build_root_router, build_router
from services.identity.handlers import escalation, retention, throttles
from services.identity.handlers.sign_in import TokenIssuer
from sotay.contracts.identity import CATALOGUE
from sotay.kit.keys import jwks_root_key, key_encryption_key
from sotay.kit.leader import Periodic
from sotay.kit.service import (
    ServiceContext,
    ServiceDefinition,
    revoked_ttl_s,
    stop_tasks,
)

log = logging.getLogger("sotay.identity")


class IdentityApp:
    """The composition root: what the routes and handlers share."""

    def __init__(self) -> None:
        self.ctx: ServiceContext | None = None
        self.passwords: PasswordPool | None = None
        self.issuer: TokenIssuer | None = None
        self.throttles: Throttles | None = None
        self._housekeeper: asyncio.Task | None = None
        self._retention: Periodic | None = None
        self._escalation: Periodic | None = None
        self.revoked = None  # the KV bucket of ended sessions, from start()
        self._kek = b""
        self._root = None

    def router(self, ctx: ServiceContext):
        self.ctx = ctx
        self.throttles = Throttles.from_settings(ctx.settings)
        return build_router(self)

    def root_router(self, ctx: ServiceContext):
        return build_root_router(self)

    async def start(self, ctx: ServiceContext) -> None:
        settings = ctx.settings
        self._kek, self._root = key_encryption_key(settings), jwks_root_key(settings)
        first = settings.signing_key() if settings.env == "development" else None
        signing = await keys.load_keys(ctx.engine, self._kek, first=first)
        self.issuer = TokenIssuer(signing, settings.access_token_ttl_s, timedelta(days=settings.refresh_token_ttl_days))
        await self._publish(ctx, signing)
        self.passwords = PasswordPool(settings.password_workers, settings.password_queue)
        self._probe_passwords(ctx)
        self.revoked = await keys.revocations(ctx.js, ttl_s=revoked_ttl_s(settings), replicas=settings.stream_replicas,
                                              update=settings.setup_on_start)
        self._housekeeper = asyncio.create_task(self._housekeeping(ctx))
        # Rejected registrations, expired sessions and codes deleted, on one replica (handlers/retention.py).
        self._retention = Periodic("retention:identity", ctx.engine.connect, settings.retention_interval_hours * 3600,
                                   lambda: retention.apply(ctx.engine, rejected_days=settings.retention_rejected_days,
                                                           expired_days=settings.retention_expired_days,
                                                           batch=settings.retention_batch))
        self._retention.start()
        # Registrations waiting past the approval term go up to the unit above (handlers/escalation.py).
        self._escalation = Periodic("escalation:identity", ctx.engine.connect, settings.escalation_interval_s,
                                    lambda: escalation.escalate(ctx, days=settings.approval_overdue_days))
        self._escalation.start()

    def _probe_passwords(self, ctx: ServiceContext) -> None:
        """The password pool as Prometheus sees it (sotay/kit/observability.py): past its queue,
        registrations and sign-ins get 503."""
        pool = self.passwords
        ctx.probes.gauge("sotay_password_pool_workers", "Threads hashing passwords (argon2id)", lambda: pool.workers)
        ctx.probes.gauge("sotay_password_pool_admitted", "Password hashes running or waiting for a thread",
                         lambda: pool.admitted)
        ctx.probes.gauge("sotay_password_pool_queue_depth", "Password hashes waiting for a thread (past "
                         "SOTAY_PASSWORD_QUEUE, sign-ins and registrations get 503)",
                         lambda: max(0, pool.admitted - pool.workers))
        ctx.probes.gauge("sotay_password_pool_queue_limit", "Password hashes that may wait (SOTAY_PASSWORD_QUEUE)",
                         lambda: pool.queue_limit)

    async def end_sessions(self, account_id: str) -> None:
        await self.revoked.put(account_id, str(time.time()).encode())

    def keyed(self, value: str) -> str:
        """What throttles keep of a card, phone or address: a keyed hash, never the value."""
        return self.ctx.pii_hash(value)[:32]

    def address_hash(self, address: str) -> str:
        return self.keyed(f"address:{address}")

    async def stop(self, ctx: ServiceContext) -> None:
        if self._housekeeper:
            await stop_tasks([self._housekeeper], "identity")
        if self._retention:
            await self._retention.stop()
        if self._escalation:
            await self._escalation.stop()
        if self.passwords:
            self.passwords.close()

    async def _publish(self, ctx: ServiceContext, signing: list[keys.SigningKey]) -> None:
        """Sign with the newest key; publish every key a live token may carry, signed by the
        root key; erase the keys whose tokens have all expired."""
        live = keys.in_service(signing, datetime.now(UTC), timedelta(seconds=ctx.settings.token_max_lifetime_s))
        signed = await keys.publish_jwks(ctx.js, self._root, live, replicas=ctx.settings.stream_replicas)
        ctx.verifier.trust_signed_jwks(signed)
        self.issuer.keys = live
        live_kids = {k.kid for k in live}
        await keys.erase(ctx.engine, [k.kid for k in signing if k.kid not in live_kids])

    async def _housekeeping(self, ctx: ServiceContext, interval: float = 5.0) -> None:
        """Pick up keys added by `sotay keys rotate` (or another replica) and retire the old
        ones; put the key set back should anything else have been written over it (services
        ignore such a value, and one starting would have no keys); hourly, forget throttle
        windows that have long ended."""
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            try:
                signing = await keys.load_keys(ctx.engine, self._kek)
                live = keys.in_service(signing, datetime.now(UTC),
                                       timedelta(seconds=ctx.settings.token_max_lifetime_s))
                if [k.kid for k in live] != [k.kid for k in self.issuer.keys] or \
                        not await keys.is_published(ctx.js, self._root.public_key()):
                    await self._publish(ctx, signing)
                if rounds % 720 == 0:
                    async with ctx.engine.begin() as db:
                        await throttles.forget_old(db, self.throttles)
            except Exception as exc:  # the database or NATS away: try again later
                log.warning("identity: housekeeping failed: %r", exc)


def definition() -> ServiceDefinition:
    app = IdentityApp()
    return ServiceDefinition(
        name="identity",
        migrations=Path(__file__).parent / "migrations",
        catalogue=CATALOGUE,
        build_router=app.router,
        build_root_router=app.root_router,
        build_consumers=lambda ctx: [registry_consumer(ctx, app.end_sessions)],
        on_start=app.start,
        on_stop=app.stop,
        hashes_personal_data=True,
        reads_member_keys=True,
        description="Identity (tài khoản): registration, matching against the registry, approval, sign-in, tokens.",
    )
