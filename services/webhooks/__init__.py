"""Webhooks: a bridge for outside systems that cannot speak NATS. A committee's events (members'
and content's streams) are sent to the HTTPS endpoints set up for that committee as CloudEvents
over HTTP, signed with the endpoint's secret, retried with backoff and dead-lettered to SOTAY_DLQ
after a bound (docs/webhooks.md). Publishes nothing; consumes `sotay.members.>` and
`sotay.content.>`.

The composition root: domain (signature, retry schedule, content modes), adapters/ (SQL, the
HTTP sender behind the egress guard), handlers/ (fan-out, the operator's endpoints and
deliveries, the dispatcher), entrypoints/ (HTTP routes, consumers)."""

from __future__ import annotations

from services.webhooks.adapters import MIGRATIONS
from services.webhooks.entrypoints.events import consumers
from services.webhooks.entrypoints.http import build_router
from services.webhooks.handlers.dispatcher import Dispatcher
from sotay.kit.events import Catalogue
from sotay.kit.service import ServiceDefinition


def definition() -> ServiceDefinition:
    dispatcher = Dispatcher()
    return ServiceDefinition(
        name="webhooks",
        migrations=MIGRATIONS,
        catalogue=Catalogue(),
        build_router=build_router,
        build_consumers=lambda ctx: consumers(),
        on_start=dispatcher.start,
        on_stop=dispatcher.stop,
        description="Webhooks (cầu nối webhook): a committee's events sent to its outside systems as signed "
                    "CloudEvents over HTTPS, retried, dead-lettered, with their delivery status.",
    )
