"""The member registry: org tree, member records, transfers, status,
correction requests and bulk imports. Publishes `sotay.members.*`;
consumes `sotay.identity.*` for whether a member has an account."""

from pathlib import Path

from services.members.entrypoints.events import accounts_consumer
from services.members.entrypoints.http import build_router
from sotay.contracts.members import CATALOGUE
from sotay.kit.service import ServiceDefinition


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="members",
        migrations=Path(__file__).parent / "migrations",
        catalogue=CATALOGUE,
        build_router=build_router,
        build_consumers=lambda ctx: [accounts_consumer()],
        hashes_personal_data=True,
        description="Member registry (quản lý đảng viên): org tree, members, transfers, status, corrections.",
    )
