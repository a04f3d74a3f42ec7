"""Reports of a unit's rollout: the table of the unit and the units directly
under it (CSV or XLSX), and the one-paragraph summary (domain/reports.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import figures
from services.metrics.domain import reports
from services.metrics.handlers.scope import scoped_unit
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


async def table(reader: AsyncEngine, user: Principal, unit: str, fmt: str, lang: str = "vi") -> tuple[str, bytes]:
    """The report's file name (the unit and the day in it) and body, headed in `lang`."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        today = hanoi_day()
        items = list((await figures.of_units(db, [u, *await figures.children(db, u)], today)).values())
    write = reports.as_csv if fmt == "csv" else reports.as_xlsx
    return reports.file_name(u, today, fmt, lang), write(u, items, today, lang)


async def summary(reader: AsyncEngine, user: Principal, unit: str, lang: str) -> dict[str, Any]:
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        today = hanoi_day()
        f = await figures.of_unit(db, u, today)
        # "9 committees have installed for …": the units below that have accounts at all.
        below = sum(1 for c in (await figures.of_units(db, await figures.children(db, u), today)).values()
                    if c["accounts_installed"] > 0) if u["kind"] != "cell" else 0
    return {"unit": u["code"], "lang": lang, "as_of": today.isoformat(),
            "text": reports.summary(u, f, below, today, lang)}
