"""Metrics' rules, free of I/O: the rollout's arithmetic (rollout.py), the
counters' folding and reader rules (counters.py), and the reports (reports.py)."""
