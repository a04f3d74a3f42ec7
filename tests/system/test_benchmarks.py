"""The benchmark commands still run end to end (at a tiny size): each
prints its figures next to its same-run baseline and writes them as JSON.
Whether a target is met is the benchmark's business, not the test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def bench(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=str(tmp_path / "data"), SOTAY_LOG_LEVEL="WARNING")
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "sotay.cli", "bench", *args, "--json", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: target not met
    return done, json.loads(out.read_text())["scenarios"][0]


def test_feed_benchmark_runs_against_its_bare_baseline(tmp_path):
    done, figures = bench(tmp_path, "feed", "--members", "2000", "--articles", "300", "--requests", "300")
    assert "bare FastAPI + asyncpg requests/s" in done.stdout and "ratio (feed / bare)" in done.stdout
    assert figures["floor"]["bare_requests_per_s"] > 0 and figures["figures"]["feed_requests_per_s"] > 0
    assert figures["met"] == (figures["ratio"] >= 0.5)


def test_identity_benchmark_reports_its_ceiling(tmp_path):
    done, figures = bench(tmp_path, "identity", "--registrations", "40")
    assert "ratio ceiling on this machine" in done.stdout
    assert figures["floor"]["cpu_ms_per_hash"] > 0
    assert 0 < figures["figures"]["ratio_ceiling_here"] <= 1.5


def test_metrics_benchmark_measures_absorb_latency_and_replay(tmp_path):
    done, figures = bench(tmp_path, "metrics", "--population", "300", "--seconds", "2", "--rate", "300")
    assert "raw nats-py consume (floor)" in done.stdout and "event → snapshot p50 / p99" in done.stdout
    f = figures["figures"]
    assert f["absorb_events_per_s"] > 0 and f["replay_events"] >= f["backlog_events"]
    assert f["probes"] >= 4 and figures["floor"]["raw_consume_events_per_s"] > 0
