"""The soak's verdict compares the first and the last third of its samples (the first sample is
warm-up): what grows beyond its limit fails it, noise does not."""

from __future__ import annotations

from sotay.system.bench_soak import verdict
from sotay.system.soak_plot import soak_svg

RUN = {"minutes": 10, "interval_s": 60, "members": 1000, "acknowledged": {}, "failed": [], "failures": 0,
       "dashboard_exact": {}, "exact": True}


def samples(n: int = 10, *, memory=lambda i: 100.0, lag=lambda i: 10, p99=lambda i: 50.0) -> list[dict]:
    return [{"minute": i + 1, "rss_mb": {"members": memory(i), "identity": 90.0},
             "descriptors": {"members": 40, "identity": 38}, "pg_connections": 20, "lag": lag(i),
             "outbox_backlog": 0, "p50_ms": 10.0, "p99_ms": p99(i)} for i in range(n)]


def test_a_steady_run_is_flat_and_its_warm_up_does_not_count():
    # The warm-up sample is far off; the others vary a little.
    report = verdict(samples(memory=lambda i: 40.0 if i == 0 else 100.0 + i % 3), RUN)
    assert report["met"], report["checks"]
    assert report["checks"]["members memory"]["growth"] <= 1.05


def test_memory_that_keeps_growing_fails_it():
    report = verdict(samples(memory=lambda i: 100.0 + 15 * i), RUN)
    assert not report["checks"]["members memory"]["met"] and not report["met"]
    assert report["checks"]["identity memory"]["met"]


def test_lag_that_keeps_growing_fails_it_and_small_lag_is_noise():
    assert not verdict(samples(lag=lambda i: 100 * i), RUN)["checks"]["consumer lag"]["met"]
    assert verdict(samples(lag=lambda i: 0 if i < 5 else 150), RUN)["checks"]["consumer lag"]["met"]


def test_latency_twice_as_slow_at_the_end_fails_it():
    assert not verdict(samples(p99=lambda i: 50.0 if i < 5 else 120.0), RUN)["met"]


def test_a_failed_request_or_an_inexact_dashboard_fails_a_flat_run():
    assert not verdict(samples(), RUN | {"failures": 1})["met"]
    assert not verdict(samples(), RUN | {"exact": False})["met"]


def test_the_plot_draws_a_line_per_series():
    svg = soak_svg(verdict(samples(), RUN))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    # memory 2 + descriptors 2 + connections 1 + lag and backlog 2 + p50 and p99 2
    assert svg.count("<polyline") == 9 and "flat" in svg
