"""What an operator sees (docs/operations.md, "Observability"): each process's /metrics for the
scrape token alone, every service's own series told apart by a `service` label, the rollout
gauges clean for promtool, the Grafana dashboard and the alert rules naming only series the
services serve, `sotay status`, and lag and backlog moving during an import.

All four services in one process, as `sotay up` runs them, on real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import services.content
import services.identity
import services.members
import services.metrics
from sotay.kit.http import Problem
from sotay.kit.keys import metrics_token
from sotay.kit.observability import scrape_guard
from sotay.kit.settings import Settings
from sotay.system.cli import main as sotay_main
from tests.attacks.problems import assert_problem
from tests.support.system import (
    create_org_tree,
    eventually,
    import_registry,
    make_settings,
    real_server,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sotay.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMTOOL = shutil.which("promtool")
SERVICES = ("members", "identity", "content", "metrics")
COMMITTEES = ("ba-dinh", "tay-ho")


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        await create_org_tree(system.client, COMMITTEES, system.auth("city_admin"))
        await import_registry(system.client, [registry_row(f"0100000{n:02d}", person(n), "ba-dinh-g1-c1")
                                              for n in range(10)], system.auth("city_admin"))
        yield system


def person(n: int) -> str:
    """A name without digits (the registry refuses them) for member n."""
    letters = ""
    while True:
        n, r = divmod(n, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[r]
        if not n:
            return f"Nguyễn Văn {letters.capitalize()}"


def scraper(system) -> dict[str, str]:
    return {"Authorization": f"Bearer {metrics_token(system.settings)}"}


async def scrape(system, path: str = "/metrics") -> str:
    answer = await system.client.get(path, headers=scraper(system))
    assert answer.status_code == 200, answer.text
    return answer.text


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    found = [s.value for s in samples(text) if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found) if found else None


# --- 1. the endpoints: internal, for the scrape token alone ---------------------------------------


@pytest.mark.parametrize("path", ["/metrics", "/api/metrics/v1/prometheus"])
async def test_metrics_answer_the_scrape_token_alone(system, path):
    c = system.client
    token = metrics_token(system.settings)
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer not-the-token"},
                    {"Authorization": f"Bearer {token}x"}, {"Authorization": f"Basic {token}"},
                    # A signed-in city admin is not the scraper either.
                    system.auth("city_admin")):
        refused = await c.get(path, headers=headers)
        assert refused.status_code == 401, (headers, refused.status_code, refused.text[:200])
        assert_problem(401, refused.headers, refused.content, where=f"{path} {headers}")
        assert "sotay_" not in refused.text
    answer = await c.get(path, headers=scraper(system))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "sotay_" in answer.text


def test_without_a_configured_token_production_serves_no_metrics(tmp_path):
    guard = scrape_guard(Settings(env="production", data_dir=tmp_path))
    with pytest.raises(Problem) as refused:
        guard("Bearer anything")
    assert refused.value.status == 404
    assert not (tmp_path / "keys" / "metrics.token").exists(), "nothing secret made up in production"
    configured = scrape_guard(Settings(env="production", data_dir=tmp_path, metrics_token="a-long-scrape-token"))
    configured("Bearer a-long-scrape-token")
    with pytest.raises(Problem):
        configured(None)


def test_the_public_proxy_never_routes_metrics():
    """nginx: /metrics and each service's metrics paths end at the proxy (404), whatever
    the location order (a regular expression location wins over the /api/<service>/ prefixes)."""
    conf = (ROOT / "deploy" / "proxy" / "nginx.conf").read_text()
    blocked = re.search(r"location ~ (\S+) \{\s*(?:#[^\n]*\n\s*)*(?:include [^;]+;\s*)?(?:default_type [^;]+;\s*)?"
                        r"return 404", conf)
    assert blocked, "a regular-expression location answering 404 for the metrics paths"
    pattern = re.compile(blocked.group(1).strip('"'))
    for path in ("/metrics", "/api/members/v1/metrics", "/api/identity/v1/metrics", "/api/content/v1/metrics",
                 "/api/metrics/v1/metrics", "/api/metrics/v1/prometheus"):
        assert pattern.search(path), path
    for path in ("/api/metrics/v1/rollout", "/api/members/v1/members", "/dashboard"):
        assert not pattern.search(path), path


# --- 1. what each service tells ---------------------------------------------------------------------


async def test_each_service_tells_its_lag_backlog_leaders_and_pools(system):
    c = system.client
    assert (await c.get("/api/members/v1/org-units/ba-dinh")).status_code == 200
    assert (await c.get("/api/members/v1/org-units/no-such-unit")).status_code == 404
    assert (await c.get("/no/such/page")).status_code == 404

    async def all_leading():
        text = await scrape(system)
        leaders = {(s.labels["service"], s.labels["role"]) for s in samples(text)
                   if s.name == "sotay_leader" and s.value == 1}
        # The last snapshot's time is read from what the publisher records every 2 s.
        snapshot = value(text, "sotay_rollout_last_snapshot_timestamp_seconds", service="metrics")
        return text if {(s, "relay") for s in SERVICES} | {("metrics", "snapshots"), ("content", "scheduler")} \
            <= leaders and snapshot else None
    text = await eventually(all_leading, timeout=20, interval=0.3)

    for runtime in system.runtimes.values():
        for consumer in runtime.consumers:
            labels = {"service": runtime.name, "consumer": consumer.name}
            assert value(text, "sotay_consumer_pending_messages", **labels) is not None, consumer.name
            assert value(text, "sotay_consumer_ack_pending_messages", **labels) is not None, consumer.name
            assert value(text, "sotay_dead_letters", **labels) == 0, consumer.name
        assert value(text, "sotay_outbox_backlog_rows", service=runtime.name) is not None
        assert value(text, "sotay_outbox_oldest_unpublished_age_seconds", service=runtime.name) is not None
        assert value(text, "sotay_db_pool_size", service=runtime.name) >= 1
        assert value(text, "sotay_db_pool_checked_out", service=runtime.name) is not None
        assert value(text, "sotay_service_info", service=runtime.name) == 1
    assert value(text, "sotay_password_pool_workers", service="identity") >= 1
    assert value(text, "sotay_password_pool_queue_depth", service="identity") == 0
    assert value(text, "sotay_rollout_last_snapshot_timestamp_seconds", service="metrics") > 0
    # The members' import was applied by the other services' consumers, batch by batch.
    assert value(text, "sotay_consumer_batch_messages_count", service="identity",
                 consumer="identity-registry") >= 1
    assert value(text, "sotay_consumer_messages_total", consumer="identity-registry", outcome="acked") >= 10

    # Requests by route template and status, never by raw path: no unit codes or ids in the labels.
    assert value(text, "sotay_http_requests_total", service="members", method="GET",
                 route="/api/members/v1/org-units/{code}", status="200") >= 1
    assert value(text, "sotay_http_requests_total", service="members", method="GET",
                 route="/api/members/v1/org-units/{code}", status="404") >= 1
    assert value(text, "sotay_http_requests_total", route="unmatched", status="404") >= 1
    assert value(text, "sotay_http_request_duration_seconds_count", service="members",
                 route="/api/members/v1/org-units/{code}") >= 2
    assert "no-such-unit" not in text and "/no/such/page" not in text and 'route="/api/members/v1/org-units/ba-dinh"' \
        not in text


# --- 2. promtool ---------------------------------------------------------------------------------------


def promtool_problems(text: str) -> list[str]:
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


# The rollout figures' names are fixed by the contract (DESIGN.md, "Metrics figures"): members_total is a
# gauge, and promtool's lint takes a _total name for a counter's.
CONTRACT_NAMES = re.compile(r"^sotay_rollout_(members|installed_pct)_total non-counter metrics should not have \"_total\" suffix$")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed")
async def test_promtool_finds_nothing_to_fix(system):
    assert promtool_problems(await scrape(system)) == []
    gauges = await scrape(system, "/api/metrics/v1/prometheus")
    assert [p for p in promtool_problems(gauges) if not CONTRACT_NAMES.match(p)] == []


async def test_every_rollout_gauge_has_help_and_parses(system):
    async def settled():
        gauges = await scrape(system, "/api/metrics/v1/prometheus")
        return gauges if value(gauges, "sotay_rollout_members_total", unit="ba-dinh") == 10 else None
    gauges = await eventually(settled, timeout=20, interval=0.3)
    families = {f.name: f for f in text_string_to_metric_families(gauges)}
    assert families, gauges
    for family in families.values():
        assert family.type == "gauge" and len(family.documentation) > 20, family.name
        assert {s.labels["unit"] for s in family.samples} == {"city", *COMMITTEES}, family.name


# --- 3. the dashboard and the alerts use only what the services serve ------------------------------

SUFFIXES = ("_bucket", "_count", "_sum")
PROMQL_WORDS = {"sum", "rate", "irate", "increase", "max", "min", "avg", "by", "without", "histogram_quantile",
                "delta", "deriv", "absent", "on", "ignoring", "group_left", "time", "clamp_min", "count", "and",
                "or", "unless", "le", "max_over_time", "min_over_time", "avg_over_time", "topk", "sort_desc", "bool",
                "offset", "vector", "scalar", "label_replace", "changes", "resets", "timestamp", "abs"}


def metric_names(expression: str) -> set[str]:
    """The series names an expression reads (the sotay_ ones; `up` and the like are Prometheus' own)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    names = set(re.findall(r"\b(sotay_[a-z0-9_]+)\b", without_ranges))
    return names


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
    walk(board)
    return found


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def _none(check) -> bool:
    return not await check()


def served(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


async def test_the_dashboard_and_the_alerts_read_only_series_the_services_serve(system):
    expressions = dashboard_expressions()
    rules = alert_expressions()
    assert len(expressions) >= 10 and len(rules) >= 5
    used = set().union(*(metric_names(e) for e in expressions + rules))
    assert used

    async def missing():  # the last snapshot's time is read from what the publisher records every 2 s
        have = served(await scrape(system)) | served(await scrape(system, "/api/metrics/v1/prometheus"))
        return sorted(n for n in used if n not in have)
    try:
        await eventually(lambda: _none(missing), timeout=15, interval=0.5)
    except AssertionError:
        raise AssertionError(f"the dashboard or the alerts read series no service serves: {await missing()}") \
            from None
    # What the issue asks the alerts to watch.
    alert_names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}
    assert {"SotayConsumerLagGrowing", "SotayDeadLetters", "SotayOutboxStuck", "SotayNoRelayLeader",
            "SotayHttpErrors"} <= alert_names
    scrape_config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert scrape_config["rule_files"] and all(job["authorization"]["credentials_file"]
                                               for job in scrape_config["scrape_configs"])


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus package) is not installed")
def test_promtool_accepts_the_rules_and_the_scrape_config(tmp_path):
    done = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    # The scrape configuration names its token file and rules by path: check a copy beside them.
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text())
    for job in config["scrape_configs"]:
        (tmp_path / "token").write_text("x")
        job["authorization"]["credentials_file"] = str(tmp_path / "token")
    config["rule_files"] = [str(tmp_path / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# --- 4. sotay status --------------------------------------------------------------------------------


async def test_sotay_status_tells_each_service_and_consumer(system, capsys, monkeypatch):
    monkeypatch.setenv("SOTAY_METRICS_TOKEN", metrics_token(system.settings))
    async with real_server(system) as base:
        code = await asyncio.to_thread(sotay_main, ["status", "--url", base])
        out = capsys.readouterr().out
        assert code == 0, out
        for service in SERVICES:
            assert re.search(rf"^{service}\s+1\s+ready\b", out, re.M), out
        for runtime in system.runtimes.values():
            for consumer in runtime.consumers:
                assert re.search(rf"^{consumer.name}\s+\d+\s+\d+\s+0\s*$", out, re.M), out
        assert re.search(r"last rollout snapshot\s+\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", out), out

        # Split mode: a URL per service; a service that does not answer is said so, and the exit code is 1.
        urls = [arg for s in ("members", "identity") for arg in ("--url", f"{s}={base}")]
        code = await asyncio.to_thread(sotay_main, ["status", *urls, "--url", "content=http://127.0.0.1:9"])
        out = capsys.readouterr().out
        assert code == 1 and re.search(r"^content\s+0\s+unreachable", out, re.M), out

    monkeypatch.setenv("SOTAY_METRICS_TOKEN", "not-the-token")
    async with real_server(system) as base:
        code = await asyncio.to_thread(sotay_main, ["status", "--url", base])
    out = capsys.readouterr().out
    assert code == 1 and "401" in out and "SOTAY_METRICS_TOKEN" in out, out


# --- 5. lag and backlog move during an import, and settle ----------------------------------------------


async def test_lag_and_backlog_rise_during_an_import_and_return_to_zero(system):
    rows = [registry_row(f"02{n:08d}", person(n), f"{COMMITTEES[n % 2]}-g1-c{1 + n % 2}")
            for n in range(3000)]
    seen: list[tuple[float, float]] = []
    done = asyncio.Event()

    def waiting(text: str) -> tuple[float, float]:
        backlog = value(text, "sotay_outbox_backlog_rows", service="members") or 0
        lag = sum(s.value for s in samples(text) if s.name in ("sotay_consumer_pending_messages",
                                                               "sotay_consumer_ack_pending_messages"))
        return backlog, lag

    async def watch():
        while not done.is_set():
            seen.append(waiting(await scrape(system)))
            await asyncio.sleep(0.05)
    watcher = asyncio.create_task(watch())
    try:
        await import_registry(system.client, rows, system.auth("city_admin"))

        last = {}

        async def settled():
            last["text"] = await scrape(system)
            return waiting(last["text"]) == (0, 0)
        try:
            # Generous: 3,000 members reach three services; a loaded CI machine takes its time.
            await eventually(settled, timeout=180, interval=0.5)
        except AssertionError:
            behind = [line for line in last.get("text", "").splitlines()
                      if line.startswith(("sotay_outbox_backlog_rows", "sotay_consumer_pending_messages",
                                          "sotay_consumer_ack_pending_messages")) and not line.endswith(" 0.0")]
            raise AssertionError(f"still behind after 180 s: {behind}") from None
    finally:
        done.set()
        await watcher
    assert max(b for b, _ in seen) > 0 or max(lag for _, lag in seen) > 0, seen
    assert max(lag for _, lag in seen) > 0, "the consumers of members' events were seen behind"
