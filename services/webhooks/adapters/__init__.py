"""Webhooks' adapters: the SQL of its endpoints, deliveries and committees (store.py), and
the HTTP sender through the egress guard (sender.py)."""

from pathlib import Path

MIGRATIONS = Path(__file__).parents[1] / "migrations"  # the service's room of its own
