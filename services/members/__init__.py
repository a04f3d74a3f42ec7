"""The member registry: org tree, member records, transfers, status,
correction requests and bulk imports. Publishes `sotay.members.*`;
consumes `sotay.identity.*` for whether a member has an account."""

import logging
from pathlib import Path

from services.members.adapters import sealed
from services.members.entrypoints.events import accounts_consumer
from services.members.entrypoints.http import build_router
from services.members.handlers import members, retention, subject_requests
from sotay.contracts.members import CATALOGUE
from sotay.kit.keys import MissingKey
from sotay.kit.leader import Periodic
from sotay.kit.service import ServiceContext, ServiceDefinition

log = logging.getLogger("sotay.members")


def prepare(ctx: ServiceContext) -> None:
    """The vault that seals citizen IDs, phones and dates of birth (adapters/sealed.py), for the
    service's connections, and the key of the answers kept for retries; keys are read on first
    use, or as the service starts."""
    vault = sealed.Vault(ctx.settings, ctx.pii_hash)
    sealed.register(ctx.engine, vault)
    # The answers kept for retried requests hold records (citizen ID, phone): sealed too, with the
    # key the vault read once.
    ctx.idempotency.answer_key = lambda: vault.kek


async def start(ctx: ServiceContext) -> None:
    """A members process without its key-encryption key stops as it starts, naming the variable;
    then the retention job (handlers/retention.py) runs on one replica, daily by default."""
    sealed.vault_of(ctx.engine).load_kek()
    settings = ctx.settings
    job = Periodic("retention:members", ctx.engine.connect, settings.retention_interval_hours * 3600,
                   lambda: retention.minimise(ctx, years=settings.retention_left_years,
                                              batch=settings.retention_batch))
    job.start()
    # Temporary transfers ending today bring their members home (handlers/members.py, return_due).
    returns = Periodic("temporary-transfers:members", ctx.engine.connect, settings.escalation_interval_s,
                       lambda: members.return_due(ctx))
    returns.start()
    # Data-subject requests overdue at their unit go up to the unit above (handlers/subject_requests.py).
    escalation = Periodic("escalation:members", ctx.engine.connect, settings.escalation_interval_s,
                          lambda: subject_requests.escalate(ctx))
    escalation.start()
    _JOBS[id(ctx)] = [job, returns, escalation]


async def stop(ctx: ServiceContext) -> None:
    for job in _JOBS.pop(id(ctx), []):
        await job.stop()


_JOBS: dict[int, list[Periodic]] = {}


async def seal_clear_rows(ctx: ServiceContext) -> None:
    """After the migrations, what was written in clear before is sealed. `sotay migrate` in
    production holds no key: it says what is left, for `sotay keys seal-members`."""
    try:
        await sealed.seal_clear_rows(ctx.engine, sealed.vault_of(ctx.engine))
    except MissingKey as exc:
        log.warning("members: rows written in clear before are not sealed yet (%s): run `sotay keys "
                    "seal-members` as the owner role with SOTAY_MEMBERS_KEK and SOTAY_PII_HMAC_KEY", exc)


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="members",
        migrations=Path(__file__).parent / "migrations",
        catalogue=CATALOGUE,
        build_router=build_router,
        build_consumers=lambda ctx: [accounts_consumer()],
        hashes_personal_data=True,
        reads_member_keys=True,
        prepare=prepare,
        on_start=start,
        on_stop=stop,
        after_migrate=seal_clear_rows,
        description="Member registry (quản lý đảng viên): org tree, members, transfers, status, corrections.",
    )
