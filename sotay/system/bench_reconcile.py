"""`sotay bench reconcile`: reconciling the registry with an export of the national database.

On a registry of `rows` members (imported first, not measured), an export of the same members with
1% of them different (renamed, another phone, another date of birth, moved to another cell, died;
and as many new members as that again a tenth, a few left out), in the same run:

- floor: parsing the export alone: the CSV read and every row validated (`read_member_rows` and
  `domain.parse_member`, what any reading of the file must do);
- the reconciliation: the same file read and checked, the rows COPYed into a temporary table, the one
  diff query, the differences stored (`compare_s`); then applied by the registry's rules, a chunk
  of members written together, each event written to the outbox (`apply_s`); then the same file
  once more, which must find nothing new or changed.

Target: compare and apply together within 3x the floor. `measure` is also the suite's scenario.
"""

from __future__ import annotations

import json
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

from services.members import domain
from services.members.adapters.bulk import ImportReport, MemberImporter
from services.members.adapters.import_files import read_member_rows, write_csv
from services.members.handlers import reconcile
from sotay.kit.auth import Grant, Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.events import uuid7
from sotay.kit.service import ServiceRuntime
from sotay.kit.settings import Settings
from sotay.system.bench import members_definition, scratch_system
from sotay.system.demo.load_registry import insert_units
from sotay.system.demo.registry import build_org_tree, generate_members

TARGET_RATIO = 3.0
CHANGED_SHARE = 0.01
CITY_ADMIN = Principal("bench-reconcile", (Grant("city_admin", "city"),))


def national_export(rows: list[dict[str, str]], cells: list[str], seed: int = 21) -> tuple[list[dict[str, str]],
                                                                                            dict[str, int]]:
    """The registry's rows as the national database would export them with 1% of the members
    different, and how many of each kind."""
    rng = random.Random(seed)
    export = [dict(r) for r in rows]
    picked = rng.sample(range(len(export)), max(10, int(len(export) * CHANGED_SHARE)))
    kinds = ("name", "name", "name", "phone", "phone", "born", "unit", "died", "new", "missing")
    expected = {"new": 0, "changed": 0, "missing": 0}
    dropped = []
    for n, i in enumerate(picked):
        row, kind = export[i], kinds[n % len(kinds)]
        if kind == "name":
            row["full_name"] += " Minh"
        elif kind == "phone":
            row["phone"] = f"09{rng.randrange(10**8):08d}"
        elif kind == "born":
            born = date.fromisoformat(row["date_of_birth"])
            row["date_of_birth"] = born.replace(day=1 if born.day != 1 else 2).isoformat()
        elif kind == "unit":
            row["unit"] = next(c for c in (rng.choice(cells) for _ in range(10)) if c != row["unit"])
        elif kind == "died":
            row.update(status="deceased", eligible="false", ineligible_reason="từ trần")
        if kind == "new":
            export.append({**row, "party_card_no": f"09{9_000_000 + n:08d}", "citizen_id": "",
                           "phone": "", "full_name": row["full_name"] + " Mới"})
            expected["new"] += 1
        elif kind == "missing":
            dropped.append(i)
            expected["missing"] += 1
        else:
            expected["changed"] += 1
    for i in sorted(dropped, reverse=True):
        del export[i]
    return export, expected


def parse_alone(csv_bytes: bytes, today: date) -> int:
    """The floor: the file read and every row validated; how many rows were good."""
    good = 0
    for _, raw in read_member_rows(csv_bytes, "csdl.csv"):
        domain.parse_member(raw, today=today)
        good += 1
    return good


async def measure(ctx, rows: list[dict[str, str]], cells: list[str]) -> dict[str, Any]:
    """The scenario on a registry holding `rows` (members' own context, its member keys open)."""
    import asyncio

    today = hanoi_day()
    export, expected = national_export(rows, cells)
    csv_bytes = write_csv(export)
    started = time.perf_counter()
    parsed = await asyncio.to_thread(parse_alone, csv_bytes, today)
    floor_s = time.perf_counter() - started

    started = time.perf_counter()
    rec = await reconcile.reconcile_file(ctx, CITY_ADMIN, csv_bytes, "csdl.csv", today=today)
    compare_s = time.perf_counter() - started
    found = reconcile.summary_json(rec)
    started = time.perf_counter()
    applied = await reconcile.apply(ctx, CITY_ADMIN, rec["id"], today=today)
    apply_s = time.perf_counter() - started
    started = time.perf_counter()
    again = reconcile.summary_json(await reconcile.reconcile_file(ctx, CITY_ADMIN, csv_bytes, "csdl.csv",
                                                                  today=today))
    second_s = time.perf_counter() - started
    total_s = compare_s + apply_s
    ratio = total_s / floor_s
    outcome = applied["outcome"] or {}
    got = {k: found["totals"][k] for k in expected}
    met = (got == expected and ratio <= TARGET_RATIO and again["totals"]["new"] == 0
           and again["totals"]["changed"] == 0)
    return {
        "name": "reconciliation", "unit": "row", "work": len(export), "seconds": round(total_s, 2),
        "figures": {"rows": len(export), "rows_parsed": parsed, "differences": found["differences"],
                    **{f"found_{k}": v for k, v in got.items()}, **{f"expected_{k}": v for k, v in expected.items()},
                    "identical": found["identical"], "compare_s": round(compare_s, 2), "apply_s": round(apply_s, 2),
                    "events": outcome.get("events", 0), "skipped": outcome.get("skipped", 0),
                    "second_run_s": round(second_s, 2),
                    "second_run_new_or_changed": again["totals"]["new"] + again["totals"]["changed"],
                    "compare_ratio": round(compare_s / floor_s, 2)},
        "floor": {"parse_alone_s": round(floor_s, 2)},
        "ratio": round(ratio, 2), "target": "compare + apply within 3x parsing the file alone; "
                                           "a second run finds nothing new or changed",
        "met": met}


async def run_reconcile_benchmark(settings: Settings, *, rows: int, json_file: Path | None = None) -> int:
    async with scratch_system(settings, ["members"]) as (settings, infra, db_url):
        runtime = ServiceRuntime(members_definition(), settings, infra.nats_url, db_url)
        await runtime.migrate()
        units = build_org_tree(2023)
        await insert_units(runtime.context, units)
        print(f"preparing a registry of {rows:,} members …", flush=True)
        generated = list(generate_members(units, rows, 2023, pilot_only=False, today=date.today()))
        cells = [u.code for u in units if u.kind == "cell"]
        try:
            async with runtime.member_keys():
                await MemberImporter(runtime.context.engine, runtime.context, actor="bench", chunk_size=5_000).run(
                    iter(read_member_rows(write_csv(generated), "bench.csv")), ImportReport(import_id=uuid7()))
                print("reconciling …", flush=True)
                result = await measure(runtime.context, generated, cells)
        finally:
            await runtime.context.engine.dispose()
    print_result(result)
    if json_file:
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0 if result["met"] else 1


def print_result(result: dict[str, Any]) -> None:
    print(f"{'scenario':<18}{'figure':<30}{'value':>14}")
    for k, v in result["figures"].items():
        print(f"{result['name']:<18}{k:<30}{v:>14}")
    print(f"{result['name']:<18}{'time (compare + apply) s':<30}{result['seconds']:>14}")
    print(f"{result['name']:<18}{'floor: parse alone s':<30}{result['floor']['parse_alone_s']:>14}")
    print(f"{result['name']:<18}{'ratio to floor':<30}{result['ratio']:>13}x")
    print(f"target: {result['target']}: {'met' if result['met'] else 'NOT met'}")
