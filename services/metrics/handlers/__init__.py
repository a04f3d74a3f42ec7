"""Metrics' use cases: the projections' batch handlers and their consumers,
the snapshot publisher, the rebuild, and what the HTTP API reads and records."""
