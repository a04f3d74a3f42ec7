"""A probe service for plumbing tests: it consumes the members stream and
records each applied event, and its handler can be told to fail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.contracts.members import MemberRegistered
from sotay.kit.consumer import Consumer
from sotay.kit.events import Catalogue
from sotay.kit.member_keys import open_events
from sotay.kit.service import ServiceContext, ServiceDefinition


@dataclass
class Faults:
    """Failures to inject, by the member's full name in the event."""

    fail_times: dict[str, int] = field(default_factory=dict)  # name -> how many deliveries fail
    calls: Counter = field(default_factory=Counter)

    def maybe_fail(self, name: str) -> None:
        self.calls[name] += 1
        if self.calls[name] <= self.fail_times.get(name, 0):
            raise RuntimeError(f"injected failure {self.calls[name]} for {name}")


def probe_definition(faults: Faults, name: str = "probe") -> ServiceDefinition:
    def consumers(ctx: ServiceContext) -> list[Consumer]:
        consumer = Consumer(name=f"{name}-members", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")

        @consumer.on(MemberRegistered.event_type())
        async def record(db: AsyncConnection, envelope: dict) -> None:
            # A member's name: sealed in a real event (opened with the member's key, as identity
            # and content do), in clear in the tests' own synthetic ones (probe_event).
            await open_events(ctx.member_keys, [envelope])
            data = envelope["data"]
            faults.maybe_fail((data.get("personal") or {}).get("full_name") or data.get("full_name", ""))
            await db.execute(text(
                "INSERT INTO effects (event_id, type, subject) VALUES (:id, :type, :subject) "
                "ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1"),
                {"id": envelope["id"], "type": envelope["type"], "subject": envelope["subject"]})

        return [consumer]

    return ServiceDefinition(name=name, migrations=Path(__file__).parent / "probe_migrations",
                             catalogue=Catalogue(), build_router=lambda ctx: APIRouter(),
                             build_consumers=consumers, reads_member_keys=True)
