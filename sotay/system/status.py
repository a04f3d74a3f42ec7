"""`sotay status`: a running deployment at a glance, read from its processes' /readyz and
/metrics (docs/operations.md, "Observability").

    sotay status                                   # sotay up on http://127.0.0.1:8000
    sotay status --url http://10.0.0.5:8000        # one process (all four services, or one)
    sotay status --url members=http://members-1:8000 --url members=http://members-2:8000 \\
                 --url identity=http://identity:8000 ...   # split mode: a URL per replica

Per service: the processes that answered (a replica is a process: give each replica's URL to
count them; behind a load balancer one URL reaches one replica at a time), readiness (its
checks from /readyz), whether one of them relays the outbox, the outbox backlog and its oldest
row. Per durable consumer: its lag (not yet delivered), what is in flight (delivered, not
acknowledged) and its dead letters in SOTAY_DLQ. Then when the rollout figures were last
published. /metrics wants the scrape token (SOTAY_METRICS_TOKEN; in development the data dir's).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sotay.kit.clock import HANOI

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass
class Target:
    url: str
    only: str | None = None  # the service this URL was given for (split mode), None: all it runs
    ready: dict[str, dict[str, bool]] = field(default_factory=dict)
    samples: list = field(default_factory=list)
    error: str | None = None


def targets_from(urls: list[str]) -> list[Target]:
    """`--url` values: a URL, or service=URL."""
    found = []
    for given in urls or [DEFAULT_URL]:
        service, sep, url = given.partition("=")
        if sep and "://" not in service:
            found.append(Target(url.rstrip("/"), service))
        else:
            found.append(Target(given.rstrip("/")))
    return found


def read(target: Target, token: str | None, client: httpx.Client) -> None:
    try:
        ready = client.get(f"{target.url}/readyz")
        target.ready = ready.json().get("checks", {})
        if not token:
            target.error = "no scrape token: set SOTAY_METRICS_TOKEN"
            return
        metrics = client.get(f"{target.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    except (httpx.HTTPError, ValueError) as exc:
        target.error = f"unreachable ({type(exc).__name__})"
        return
    if metrics.status_code != 200:
        target.error = f"/metrics answered {metrics.status_code}: is SOTAY_METRICS_TOKEN the deployment's?"
        return
    target.samples = [s for family in text_string_to_metric_families(metrics.text) for s in family.samples]


def status(urls: list[str], token: str | None, *, timeout: float = 5.0, now: float | None = None) -> tuple[str, bool]:
    """The report and whether everything answered and is ready."""
    targets = targets_from(urls)
    with httpx.Client(timeout=timeout) as client:
        for target in targets:
            read(target, token, client)

    services: dict[str, dict] = {}
    consumers: dict[str, dict[str, float]] = defaultdict(dict)
    snapshot: float | None = None
    problems: list[str] = []

    def service(name: str) -> dict:
        return services.setdefault(name, {"processes": set(), "checks": {}, "leader": None, "backlog": None,
                                          "oldest": None, "seen": False})

    def most(old: float | None, new: float) -> float:
        return new if old is None else max(old, new)

    for target in targets:
        if target.error:
            problems.append(f"{target.url}: {target.error}")
        names = [target.only] if target.only else list(target.ready)
        for name in names:
            s = service(name)
            s["seen"] = True
            s["checks"].update({k: v and s["checks"].get(k, True) for k, v in target.ready.get(name, {}).items()})
            if target.only and name not in target.ready and not target.error:
                s["checks"]["served here"] = False
        for sample in target.samples:
            name = sample.labels.get("service")
            if name not in names:
                continue
            s = service(name)
            if sample.name == "sotay_service_info":
                s["processes"].add(sample.labels.get("process"))
            elif sample.name == "sotay_leader" and sample.labels.get("role") == "relay":
                s["leader"] = bool(s["leader"]) or sample.value == 1
            elif sample.name == "sotay_outbox_backlog_rows":
                s["backlog"] = most(s["backlog"], sample.value)
            elif sample.name == "sotay_outbox_oldest_unpublished_age_seconds":
                s["oldest"] = most(s["oldest"], sample.value)
            elif sample.name in ("sotay_consumer_pending_messages", "sotay_consumer_ack_pending_messages",
                                 "sotay_dead_letters"):
                figures = consumers[sample.labels["consumer"]]
                figures[sample.name] = most(figures.get(sample.name), sample.value)
            elif sample.name == "sotay_rollout_last_snapshot_timestamp_seconds":
                snapshot = most(snapshot, sample.value)

    healthy = not problems
    lines = [f"{'service':<10} {'processes':>9}  {'readiness':<28} {'relay':<6} {'outbox backlog':>14} "
             f"{'oldest unpublished':>18}"]
    for name in sorted(services, key=_order):
        s = services[name]
        failing = [k for k, ok in s["checks"].items() if not ok]
        if not s["checks"] and not s["processes"]:
            readiness = "unreachable"
        elif failing:
            readiness = "NOT READY: " + ", ".join(failing)
        else:
            readiness = "ready"
        healthy = healthy and readiness == "ready"
        lines.append(f"{name:<10} {len(s['processes']):>9}  {readiness:<28} {'-' if s['leader'] is None else 'yes' if s['leader'] else 'no':<6} "
                     f"{_count(s['backlog']):>14} {_age(s['oldest']):>18}")
    lines += ["", f"{'consumer':<24} {'lag':>8} {'in flight':>10} {'dead letters':>13}"]
    for name in sorted(consumers):
        figures = consumers[name]
        lines.append(f"{name:<24} {_count(figures.get('sotay_consumer_pending_messages')):>8} "
                     f"{_count(figures.get('sotay_consumer_ack_pending_messages')):>10} "
                     f"{_count(figures.get('sotay_dead_letters')):>13}")
    lines.append("")
    if snapshot:
        at = datetime.fromtimestamp(snapshot, HANOI)
        ago = (now or time.time()) - snapshot
        lines.append(f"last rollout snapshot  {at:%d/%m/%Y %H:%M:%S} (Hanoi time, {_age(ago)} ago)")
    else:
        lines.append("last rollout snapshot  none seen")
    if problems:
        lines += ["", *problems]
    return "\n".join(lines), healthy


def _order(name: str) -> tuple[int, str]:
    order = ("members", "identity", "content", "metrics")
    return (order.index(name) if name in order else len(order), name)


def _count(value: float | None) -> str:
    return "?" if value is None else f"{int(value)}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return "-" if seconds == 0 else "<1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
