"""The soak's samples as one SVG (`sotay bench soak --svg FILE`): four panels over the minutes of
the run (memory, descriptors and connections, lag and backlog, latency), one line per series.
Plain SVG, so the docs show it without a plotting library."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, PANEL_H, MARGIN_L, MARGIN_R, TOP = 760, 170, 60, 170, 30
COLOURS = ["#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50"]


def soak_svg(report: dict[str, Any]) -> str:
    samples = report["samples"]
    minutes = [s["minute"] for s in samples]
    services = list(samples[0]["rss_mb"]) if samples else []
    panels = [
        ("Resident memory (MB)", {n: [s["rss_mb"][n] for s in samples] for n in services}),
        ("Open descriptors; PostgreSQL connections",
         {**{n: [s["descriptors"][n] for s in samples] for n in services},
          "PostgreSQL connections": [s["pg_connections"] for s in samples]}),
        ("Consumer lag and outbox backlog (messages)",
         {"consumer lag": [s["lag"] for s in samples], "outbox backlog": [s["outbox_backlog"] for s in samples]}),
        ("Latency (ms, from when each request was due)",
         {"p50": [s["p50_ms"] for s in samples], "p99": [s["p99_ms"] for s in samples]}),
    ]
    height = TOP + len(panels) * (PANEL_H + 40) + 20
    title = (f"sotay bench soak: {report['minutes']:g} min, {report['members']:,} members, "
             f"{'flat' if report['met'] else 'NOT flat'}")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
             f'<text x="{MARGIN_L}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (name, series) in enumerate(panels):
        parts += _panel(TOP + i * (PANEL_H + 40), name, minutes, series)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(top: float, name: str, xs: list[float], series: dict[str, list[float]]) -> list[str]:
    plot_w = WIDTH - MARGIN_L - MARGIN_R
    x_max = max(xs, default=1) or 1
    y_max = max((v for values in series.values() for v in values), default=1) or 1
    y_max *= 1.1

    def at(x: float, y: float) -> str:
        return f"{MARGIN_L + x / x_max * plot_w:.1f},{top + 16 + PANEL_H - y / y_max * PANEL_H:.1f}"

    out = [f'<text x="{MARGIN_L}" y="{top + 10}" font-weight="bold">{escape(name)}</text>',
           f'<rect x="{MARGIN_L}" y="{top + 16}" width="{plot_w}" height="{PANEL_H}" fill="none" stroke="#999"/>']
    for frac in (0, 0.5, 1):
        y = y_max / 1.1 * frac
        pos = at(0, y).split(",")[1]
        out.append(f'<text x="{MARGIN_L - 4}" y="{pos}" text-anchor="end">{y:,.0f}</text>')
    out.append(f'<text x="{MARGIN_L + plot_w}" y="{top + PANEL_H + 30}" text-anchor="end">{x_max:g} min</text>')
    out.append(f'<text x="{MARGIN_L}" y="{top + PANEL_H + 30}">0</text>')
    for k, (label, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(at(x, y) for x, y in zip(xs, values, strict=True))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        ly = top + 26 + k * 14
        out.append(f'<line x1="{WIDTH - MARGIN_R + 10}" y1="{ly - 4}" x2="{WIDTH - MARGIN_R + 24}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{WIDTH - MARGIN_R + 28}" y="{ly}">{escape(label)}</text>')
    return out
