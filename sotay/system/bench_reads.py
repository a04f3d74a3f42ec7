"""`sotay bench reads`: what the unusual-read check adds to the opening of a member's record.

On real servers (an embedded PostgreSQL in a temporary directory unless SOTAY_DATABASE_URL is
set) it migrates the registry, loads 1,000 members in one cell and, in the counter table, the
last hour of 5,000 other staff accounts (a city's organisation boards all reading at once).
Then a registry writer opens records in clear through the use case itself, as the route runs
it (services/members/handlers/members.read_member, one transaction a read), one way after the
other read by read (so that what else the machine does falls on all three alike), after a
warm-up, the same number of times each way:

- floor: the read audited as it was before the check (its audit row alone);
- check: the read audited and counted (the audit row and the account's minute counter, summed
  over the hour, in one statement: adapters/audit.py);
- past the threshold: an account over it, whose alert was raised already (each further read
  takes the account's lock and finds the alert there).

It prints the median and the mean time a read of each, and what the check adds to the floor's
median (a median, as the machine may be shared: a pause of its own weighs on a mean).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import date
from pathlib import Path

from sqlalchemy import text

from services.members import definition as members_definition
from services.members.adapters import audit, registry
from services.members.handlers.breach import UnusualReads
from services.members.handlers.members import read_member
from sotay.kit.auth import Grant, Principal
from sotay.kit.events import uuid7
from sotay.kit.service import ServiceRuntime
from sotay.kit.settings import Settings
from sotay.system.bench import scratch_system

MEMBERS = 1_000
OTHER_ACCOUNTS = 5_000
WARM_UP = 100


class AuditOnly(UnusualReads):
    """The floor: a full read audited as before the check, not counted."""

    async def full_read(self, db, reader, member_id) -> None:
        await audit.audit_read(db, reader, "record", [member_id], masked=False, purpose="registry")


async def run_reads_benchmark(settings: Settings, *, reads: int, json_file: Path | None = None) -> int:
    async with scratch_system(settings, ["members"]) as (settings, infra, db_url):
        runtime = ServiceRuntime(members_definition(), settings, infra.nats_url, db_url)
        await runtime.migrate()
        engine = runtime.context.engine
        try:
            member_ids = await _load(engine)
            ways = {"floor": (AuditOnly(10**9), "bench-floor"), "check": (UnusualReads(10**9), "bench-check"),
                    "past the threshold": (UnusualReads(1), "bench-over")}
            actors = {way: Principal(subject=account, grants=(Grant("unit_admin", "bench-committee"),))
                      for way, (_, account) in ways.items()}
            times: dict[str, list[float]] = {way: [] for way in ways}
            for i in range(-WARM_UP, reads):
                for way, (unusual, _) in ways.items():
                    started = time.perf_counter()
                    async with engine.begin() as db:
                        await read_member(db, actors[way], member_ids[i % MEMBERS], unusual)
                    if i >= 0:
                        times[way].append(time.perf_counter() - started)
        finally:
            await engine.dispose()
    return _report(times, reads, json_file)


async def _load(engine) -> list:
    async with engine.begin() as db:
        parent = None
        path = "/"
        for code, kind in (("city", "city"), ("bench-committee", "committee"), ("bench-g1", "grassroots"),
                           ("bench-g1-c1", "cell")):
            path += code + "/"
            unit_id = uuid7()
            await registry.insert_unit(db, {"id": unit_id, "code": code, "name": code, "kind": kind,
                                            "parent_id": parent, "committee": "bench-committee", "path": path,
                                            "wave": None})
            parent = unit_id
        member_ids = [uuid7() for _ in range(MEMBERS)]
        for n, member_id in enumerate(member_ids):
            await registry.insert_member(db, {
                "id": member_id, "party_card_no": f"09{n:08d}", "full_name": f"Đảng viên {n}",
                "name_folded": f"dang vien {n}", "date_of_birth": date(1970, 1, 1), "gender": None,
                "citizen_id": f"001070{n:06d}", "phone": f"+8491{n:07d}", "unit_id": parent, "unit_path": path,
                "admitted_on": None, "official_on": None, "status": "active", "eligible": True,
                "ineligible_reason": None})
        await db.execute(text(
            "INSERT INTO record_read_counts (actor, minute, reads) SELECT 'staff-' || a, "
            "date_trunc('minute', now()) - make_interval(mins => m), 3 "
            "FROM generate_series(1, :accounts) a, generate_series(0, 59) m"), {"accounts": OTHER_ACCOUNTS})
    async with engine.connect() as db:
        await db.execute(text("ANALYZE"))
    return member_ids


def _report(times: dict[str, list[float]], reads: int, json_file: Path | None) -> int:
    figures = {way: {"median_ms": round(statistics.median(t) * 1000, 3), "mean_ms": round(statistics.fmean(t) * 1000, 3)}
               for way, t in times.items()}
    floor, check = figures["floor"], figures["check"]
    added = round(check["median_ms"] - floor["median_ms"], 3)
    print(f"sotay bench reads: a registry writer opens a member's record in clear, {reads:,} times each way "
          f"(the use case in a transaction of its own; {OTHER_ACCOUNTS:,} other accounts counted)")
    for way, label in (("floor", "floor (same run): audited, not counted"),
                       ("check", "the check: audited and counted"),
                       ("past the threshold", "past the threshold, alert raised already")):
        f = figures[way]
        print(f"  {label:<44} median {f['median_ms']:7.3f} ms   mean {f['mean_ms']:7.3f} ms")
    print(f"  the check adds {added:+.3f} ms a read to the floor's median ({added / floor['median_ms'] * 100:+.1f}%)")
    if json_file:
        result = {"name": "reads", "data": {"reads": reads, "members": MEMBERS, "other_accounts": OTHER_ACCOUNTS},
                  "floor": figures["floor"], "figures": {"check": check, "past_threshold": figures["past the threshold"]},
                  "added_ms": added, "added_pct": round(added / floor["median_ms"] * 100, 1)}
        json_file.write_text(json.dumps({"scenarios": [result]}, indent=2))
    return 0
