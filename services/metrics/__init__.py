"""Metrics: rollout projections rolled up the org tree, training records and
the metrics stream. Consumes `sotay.members.*`, `sotay.identity.*` and
`sotay.content.*`; publishes `sotay.metrics.*` (`RolloutSnapshot` on
`sotay.metrics.rollout.<committee>`, the latest per unit also in the
key-value bucket `sotay_rollout`).

The composition root: domain/ (the rules), adapters/ (SQL, the bucket,
locks), handlers/ (the use cases: projections, snapshots, rebuild, reads),
entrypoints/ (HTTP routes, consumers)."""

from __future__ import annotations

from services.metrics.adapters import MIGRATIONS
from services.metrics.entrypoints.events import consumers
from services.metrics.entrypoints.http import build_router
from services.metrics.handlers.snapshots import SnapshotPublisher
from sotay.contracts.metrics import CATALOGUE
from sotay.kit.service import ServiceDefinition


def definition() -> ServiceDefinition:
    publisher = SnapshotPublisher()
    return ServiceDefinition(
        name="metrics",
        migrations=MIGRATIONS,
        catalogue=CATALOGUE,
        build_router=build_router,
        build_consumers=lambda ctx: consumers(),
        on_start=publisher.start,
        on_stop=publisher.stop,
        description="Metrics (số liệu triển khai): rollout figures per unit rolled up the org tree, training, "
                    "the metrics stream.",
    )
