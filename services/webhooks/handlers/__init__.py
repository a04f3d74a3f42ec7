"""Webhooks' use cases: fanning events out to endpoints (fanout.py), the operator's endpoints
and deliveries (endpoints.py), and sending them (dispatcher.py)."""
