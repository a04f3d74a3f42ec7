"""Metrics' adapters: the SQL of its projections, counters, figures, history,
published snapshots, training and plan, its advisory locks, and the bucket."""

from pathlib import Path

MIGRATIONS = Path(__file__).parents[1] / "migrations"  # the service's room of its own
