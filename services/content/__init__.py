"""Content: articles and their editorial workflow, the targeted feed, reads,
feedback, the documents library, cell meetings and feed import.
Publishes `sotay.content.*`; consumes `sotay.members.*` (the org tree for
audiences, where each member sits for the feed and meeting rolls), and, for the
members' notifications, its own articles and meetings and identity's decisions.

The composition root: domain (pure rules) ← adapters (SQL, feeds over HTTP) ←
handlers (use cases, the scheduler) ← entrypoints (HTTP routes, the consumers);
migrations/ holds the schema."""

from __future__ import annotations

from pathlib import Path

from services.content.entrypoints.events import notice_consumers, registry_consumer
from services.content.entrypoints.http import build_router
from services.content.handlers.scheduler import Scheduler
from sotay.contracts.content import CATALOGUE
from sotay.kit.service import ServiceDefinition


def definition() -> ServiceDefinition:
    scheduler = Scheduler()
    return ServiceDefinition(
        name="content",
        migrations=Path(__file__).parent / "migrations",
        catalogue=CATALOGUE,
        build_router=build_router,
        reads_member_keys=True,
        build_consumers=lambda ctx: [registry_consumer(ctx), *notice_consumers()],
        on_start=scheduler.start,
        on_stop=scheduler.stop,
        description="Content (tin bài): editorial workflow, targeted feed, reads, feedback, documents, meetings, "
                    "feed import.",
    )
