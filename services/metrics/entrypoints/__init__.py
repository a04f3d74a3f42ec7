"""Metrics' entrypoints: the HTTP API (http.py, models.py) and the consumers (events.py)."""
