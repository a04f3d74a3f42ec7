"""Metrics' consumers, as the service runs them: one per stream it projects
(handlers/consumers.py)."""

from services.metrics.handlers.consumers import consumers

__all__ = ["consumers"]
