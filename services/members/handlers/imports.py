"""Bulk imports: a CSV or XLSX file of members, read row by row and written in chunks by
adapters/bulk.py. An import outlives the request that started it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncEngine

from services.members.adapters import bulk
from services.members.adapters.import_files import read_member_rows, template_xlsx
from services.members.handlers.access import ORG, REGISTRY_WRITERS, not_found
from sotay.kit.auth import Principal
from sotay.kit.http import invalid
from sotay.kit.service import ServiceContext


async def importable_paths(engine: AsyncEngine, actor: Principal) -> list[str]:
    """The subtrees the actor may import members into (403 when none)."""
    async with engine.connect() as db:
        return await ORG.scoped(db, actor, REGISTRY_WRITERS)


def template() -> bytes:
    """The workbook a clerk fills in: the Vietnamese column headers and one example row."""
    return template_xlsx()


class Imports:
    """The imports this replica runs, each in a task of its own."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.running: set[asyncio.Task] = set()

    async def start(self, actor: Principal, filename: str, spooled: BinaryIO,
                    allowed_paths: list[str]) -> tuple[uuid.UUID, asyncio.Task]:
        """Start importing `spooled` (a copy of the upload of its own, closed once read); a file
        that cannot be read as a member sheet is a 422 on field `file`."""
        try:
            rows = await asyncio.to_thread(read_member_rows, spooled, filename)
        except ValueError as exc:
            spooled.close()
            raise invalid([("file", str(exc))]) from None
        except BaseException:
            spooled.close()
            raise
        report = bulk.ImportReport(import_id=uuid.uuid4(), labels=dict(rows.labels))
        await bulk.record_import_start(self.ctx.engine, report, filename, actor.subject)
        task = asyncio.create_task(self._run(report, rows, actor.subject, allowed_paths, spooled))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return report.import_id, task

    async def _run(self, report: bulk.ImportReport, rows: Iterator[tuple[int, dict[str, Any]]], actor: str,
                   allowed_paths: list[str], spooled: BinaryIO) -> None:
        engine = self.ctx.engine
        importer = bulk.MemberImporter(engine, self.ctx, actor=actor)
        try:
            await importer.run(rows, report, allowed_paths=allowed_paths,
                               progress=lambda r: bulk.record_import_progress(engine, r))
            await bulk.record_import_progress(engine, report, "done")
        except Exception:
            await bulk.record_import_progress(engine, report, "failed")
            raise
        finally:
            spooled.close()


async def read_import(engine: AsyncEngine, actor: Principal, import_id: Any) -> dict[str, Any]:
    """An import's progress and errors, for the account that started it or a city admin."""
    found = await bulk.import_status(engine, import_id)
    if found is None or (found["created_by"] != actor.subject and "city" not in actor.units_for("city_admin")):
        raise not_found("import")
    return found
