"""What the fault tests measured, for the summary table at the end of the run (conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FaultResult:
    fault: str
    workload: int  # commands acknowledged during the test
    faults: int  # faults injected
    recovery_s: float  # from the end of the (last) fault to everything settled
    checks: int  # checks passed
    events: int  # events checked (outbox rows compared with the projections)
    notes: dict = field(default_factory=dict)


RESULTS: list[FaultResult] = []


def table() -> str:
    header = ("fault", "workload", "faults", "recovery s", "checks", "events", "notes")
    rows = [(r.fault, str(r.workload), str(r.faults), f"{r.recovery_s:.1f}", str(r.checks), str(r.events),
             ", ".join(f"{k}={v}" for k, v in r.notes.items())) for r in RESULTS]
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(x[:-1], widths, strict=True)) + "  " + x[-1]
             for x in [header, *rows]]
    lines.append(f"faults injected: {sum(r.faults for r in RESULTS)}; events checked: "
                 f"{sum(r.events for r in RESULTS)}; commands acknowledged: {sum(r.workload for r in RESULTS)}")
    return "\n".join(lines)
