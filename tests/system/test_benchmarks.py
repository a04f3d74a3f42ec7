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
    try:
        done = subprocess.run([sys.executable, "-m", "sotay", "bench", *args, "--json", str(out)], env=env,
                              capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as stuck:  # say how far it got
        said = (stuck.stdout or b"").decode(errors="replace"), (stuck.stderr or b"").decode(errors="replace")
        raise AssertionError(f"sotay bench {args[0]} did not end in 300 s:\n{said[0]}\n{said[1][-4000:]}") from None
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


def test_reads_benchmark_prints_the_check_beside_its_floor(tmp_path):
    done, figures = bench(tmp_path, "reads", "--reads", "50")
    assert "floor (same run): audited, not counted" in done.stdout and "the check adds" in done.stdout
    assert figures["floor"]["median_ms"] > 0 and figures["figures"]["check"]["median_ms"] > 0
    assert figures["figures"]["past_threshold"]["median_ms"] > 0


def test_reconcile_benchmark_prints_its_time_floor_and_ratio(tmp_path):
    done, figures = bench(tmp_path, "reconcile", "--rows", "2000")
    assert "floor: parse alone s" in done.stdout and "ratio to floor" in done.stdout
    f = figures["figures"]
    assert (f["found_new"], f["found_changed"], f["found_missing"]) == (
        f["expected_new"], f["expected_changed"], f["expected_missing"]) == (2, 16, 2)
    assert f["events"] == 18 and f["second_run_new_or_changed"] == 0
    assert figures["floor"]["parse_alone_s"] > 0 and figures["ratio"] > 0


def test_the_suite_runs_every_scenario_end_to_end(tmp_path):
    """`sotay bench` (the suite) at a tiny size: every scenario, its floor, the
    services' CPU and memory, and the figures the dashboard ends with exactly
    the ones driven."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}
    env.update(SOTAY_DATA_DIR=str(tmp_path / "data"), SOTAY_LOG_LEVEL="WARNING")
    out = tmp_path / "suite.json"
    done = subprocess.run([sys.executable, "-m", "sotay", "bench", "--quick", "--members", "2000",
                           "--registrations", "50", "--readers", "100", "--tree-scale", "0.05", "--freshness-seconds", "3",
                           "--identity-replicas", "2", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert done.returncode == (0 if report["met"] else 1), done.stdout + done.stderr
    assert "CPU s / peak MB" in done.stdout and "every target" in done.stdout

    scenarios = {s["name"]: s for s in report["scenarios"]}
    assert list(scenarios) == ["1. registry load", "2. registration evening", "3. morning reading",
                               "6. dashboard freshness", "4. replay", "5. reconciliation", "resident memory"]
    for s in report["scenarios"]:
        assert {"name", "figures", "floor", "ratio", "target", "met"} <= set(s) and isinstance(s["met"], bool)
        assert s["size"] == "custom" and s["ratio"] > 0
    for s in list(scenarios.values())[:5]:
        # Identity in two processes: the registrations and sign-ins spread over both.
        assert set(s["services"]) == {"members", "identity", "identity-2", "content", "metrics", "bench process"}
        assert all(u["peak_mb"] > 0 for u in s["services"].values())
        # The embedded servers' CPU too (PostgreSQL with its backends).
        assert set(s["servers"]) == {"PostgreSQL", "nats-server"}
        assert all(u["cpu_s"] >= 0 for u in s["servers"].values()), s["servers"]

    load = scenarios["1. registry load"]
    assert load["figures"]["imported"] == 2000 and load["floor"]["raw_copy_s"] > 0
    assert load["servers"]["PostgreSQL"]["cpu_s"] > 0 and load["servers"]["nats-server"]["cpu_s"] > 0
    assert scenarios["2. registration evening"]["services"]["identity-2"]["cpu_s"] > 0
    evening = scenarios["2. registration evening"]["figures"]
    assert evening["match_results"] == {"matched": 45, "details_differ": 3, "not_in_registry": 2}
    assert evening["approvals"] == 45 and scenarios["2. registration evening"]["exact"]
    assert evening["dashboard"] | {"accounts_web": 0, "accounts_mobile": 0} == {
        "accounts_installed": 50, "accounts_pending": 5, "accounts_approved": 45, "accounts_rejected": 0,
        "accounts_web": 0, "accounts_mobile": 0}
    assert evening["dashboard"]["accounts_web"] + evening["dashboard"]["accounts_mobile"] == 50
    # Issue 22's floors, in the same run: the bare registration and sign-in app, and argon2id alone.
    floor = scenarios["2. registration evening"]["floor"]
    assert floor["bare_registrations_per_s"] > 0 and floor["bare_sign_in_per_s"] > 0
    assert floor["argon2id_hashes_per_s"] > 0
    # Where a registration's CPU went, process by process, beside the bare app's.
    split, bare_split = evening["saturation_cpu_ms_per_registration"], floor["bare_cpu_ms_per_registration"]
    assert split["identity"] > 0 and split["machine"] >= split["identity"] + split["PostgreSQL"], split
    assert bare_split["bare app"] > 0 and bare_split["machine"] >= bare_split["bare app"], bare_split
    assert evening["sign_ins"] == 45 and evening["sign_in_per_s"] > 0 and evening["sign_in_ratio"] > 0
    assert abs(evening["offered_per_s"] - floor["bare_registrations_per_s"] / 2) <= 0.1
    reading = scenarios["3. morning reading"]
    assert reading["figures"]["readers_today"] == 100 and reading["figures"]["requests"] == 300
    assert reading["figures"]["paced_requests"] == 150 and reading["figures"]["paced_p99_ms"] > 0
    assert reading["floor"]["bare_requests_per_s"] > 0
    replay = scenarios["4. replay"]
    assert replay["figures"]["city_figures_differing"] == []
    assert replay["figures"]["events"] == replay["floor"]["raw_consume_events"] > 2000
    assert replay["services"]["metrics"]["stopped"]
    fresh = scenarios["6. dashboard freshness"]["figures"]
    # Every probe counted by a snapshot, the load's changes undone: the city as it was.
    # A probe every 0.25 s for 3 s, each a transaction: fewer when the machine is busy (other tests running).
    assert fresh["probes"] >= 3 and fresh["probes_unanswered"] == 0 and fresh["commit_to_snapshot_p99_ms"] > 0
    assert fresh["load_events"] > 0 and fresh["city_figures_differing_after"] == []
    assert load["figures"]["machine_cpu_us_per_member"] > 0
    reconciled = scenarios["5. reconciliation"]["figures"]
    assert reconciled["found_changed"] == reconciled["expected_changed"] == 16
    assert reconciled["second_run_new_or_changed"] == 0


def test_soak_samples_the_system_under_steady_load_and_plots_it(tmp_path):
    svg = tmp_path / "soak.svg"
    done, report = bench(tmp_path, "soak", "--minutes", "0.25", "--interval", "2.5", "--members", "2000",
                         "--tree-scale", "0.05", "--registrations-per-s", "2", "--svg", str(svg))
    assert "soak: 0.25 min" in done.stdout and "p99 latency" in done.stdout
    assert len(report["samples"]) == 6
    sample = report["samples"][-1]
    assert set(sample["rss_mb"]) == {"members", "identity", "content", "metrics"}
    assert all(v > 0 for v in sample["rss_mb"].values()) and sample["pg_connections"] > 0
    acknowledged = report["acknowledged"]
    assert acknowledged["registrations"] > 15 and acknowledged["reads"] > 100 and acknowledged["transfers"] > 0
    assert acknowledged["approvals"] > 0 and report["failures"] == 0, report["failed"]
    assert report["exact"], report["dashboard_exact"]
    assert {"members memory", "PostgreSQL connections", "p99 latency", "consumer lag"} <= set(report["checks"])
    assert svg.read_text().count("<polyline") >= 4 + 5 + 2 + 2
