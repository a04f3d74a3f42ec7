"""Reconciliation with the national member database (issue 21): an export compared with the
registry (new, changed, missing, conflicts with pending correction requests), applied as exactly
the events of its differences, once; a second run finds nothing to do. Real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import io
import re

import orjson
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

import services.members
from services.members.adapters.import_files import write_csv, write_xlsx
from sotay.kit.clock import hanoi_day
from sotay.system.cli import main as sotay_main
from tests.support.system import create_org_tree, import_registry, make_settings, registry_row, running_system

pytestmark = pytest.mark.integration

RECONCILE = "/api/members/v1/reconciliations"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def registry() -> list[dict[str, str]]:
    rows = [registry_row(f"07000000{i:02d}", f"Nguyễn Văn {chr(65 + i)}", f"ba-dinh-g1-c{1 + i % 2}",
                         born=f"1960-01-{1 + i:02d}") for i in range(10)]
    rows += [registry_row(f"07100000{i:02d}", f"Trần Thị {chr(65 + i)}", "hoan-kiem-g1-c1") for i in range(3)]
    return rows


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh", "hoan-kiem"], admin)
        await import_registry(system.client, registry(), admin)
        yield system


async def scalar(system, sql: str, **params):
    async with system.runtimes["members"].context.engine.connect() as db:
        return (await db.execute(text(sql), params)).scalar_one()


async def outbox_types(system, since: int) -> list[str]:
    async with system.runtimes["members"].context.engine.connect() as db:
        bodies = (await db.execute(text("SELECT body FROM outbox WHERE position > :n ORDER BY position"), {"n": since})).scalars()
        return sorted(orjson.loads(b)["type"].split(".")[2] for b in bodies)


async def outbox_top(system) -> int:
    return await scalar(system, "SELECT coalesce(max(position), 0) FROM outbox")


async def upload(system, data: bytes, name: str, headers: dict):
    kind = XLSX if name.endswith(".xlsx") else "text/csv"
    return await system.client.post(RECONCILE, files={"file": (name, data, kind)}, headers=headers)


def national_export() -> list[dict[str, str]]:
    """What the national database says of Ba Đình: one member renamed, one with another phone, one
    another date of birth, one moved to the other cell, one who died, one not there (card 0700000009),
    two new ones; the rest identical."""
    rows = {r["party_card_no"]: dict(r) for r in registry() if r["unit"].startswith("ba-dinh")}
    rows["0700000000"]["full_name"] = "Nguyễn Văn Ân"
    rows["0700000001"]["phone"] = "0988777666"
    rows["0700000002"]["date_of_birth"] = "1961-02-03"
    rows["0700000003"]["unit"] = "ba-dinh-g1-c1"  # was in c2
    rows["0700000004"].update(status="deceased", eligible="false", ineligible_reason="từ trần")
    del rows["0700000009"]
    rows["0700000100"] = registry_row("0700000100", "Lê Văn Mới", "ba-dinh-g1-c2", born="1990-05-05")
    rows["0700000101"] = registry_row("0700000101", "=Phạm Thị Mới", "ba-dinh-g1-c1", born="1991-06-06")
    return list(rows.values())


async def test_compare_apply_and_a_second_run_that_changes_nothing(system):
    ba_dinh = system.auth("unit_admin", "ba-dinh", subject="ba-dinh-admin")
    before = await outbox_top(system)
    compared = await upload(system, write_xlsx(national_export()), "csdl-3.0.xlsx", ba_dinh)
    assert compared.status_code == 201, compared.text
    summary = compared.json()
    assert summary["totals"] == {"new": 2, "changed": 5, "missing": 1, "conflicts": 0, "outside": 0}
    assert (summary["rows_total"], summary["identical"], summary["status"]) == (11, 4, "compared")
    assert [u["name"] for u in summary["units"]] == ["Đảng bộ phường"]  # the units under the committee, by name
    assert await outbox_top(system) == before  # comparing writes no event

    # The report: a title row with the day, Vietnamese headings, old → new, nothing a formula.
    got = await system.client.get(f"{RECONCILE}/{summary['id']}/report.xlsx", headers=ba_dinh)
    assert got.status_code == 200 and got.headers["content-type"].startswith(XLSX)
    book = load_workbook(io.BytesIO(got.content))
    detail = book["Chi tiết"]
    assert detail["A1"].value.endswith(hanoi_day().strftime("%d/%m/%Y"))
    assert [c.value for c in detail[2]][:4] == ["STT", "Đảng bộ trực thuộc", "Chi bộ", "Loại"]
    rows = [[c.value for c in r] for r in detail.iter_rows(min_row=3)]
    renamed = next(r for r in rows if r[5] == "0700000000")
    assert renamed[7:10] == ["Họ và tên", "Nguyễn Văn A", "Nguyễn Văn Ân"]
    moved = next(r for r in rows if r[5] == "0700000003")
    assert moved[8:10] == ["Chi bộ 2", "Chi bộ 1"]  # cells by name
    born = next(r for r in rows if r[5] == "0700000002")
    assert born[8:10] == ["03/01/1960", "03/02/1961"]  # dd/mm/yyyy
    assert any(r[3] == "Không có trong tệp xuất" and "không bị xoá" in r[10] for r in rows)
    assert all(c.data_type != "f" for r in detail.iter_rows() for c in r)
    book.close()
    csv = await system.client.get(f"{RECONCILE}/{summary['id']}/report.csv", headers=ba_dinh)
    assert csv.content.startswith(b"\xef\xbb\xbf") and "'=Phạm Thị Mới" in csv.content.decode("utf-8-sig")
    audited = await scalar(system, "SELECT count(*) FROM record_reads WHERE actor = 'ba-dinh-admin' AND what = 'search' "
                                   "AND reason LIKE 'đối soát%'")
    assert audited == 2

    applied = await system.client.post(f"{RECONCILE}/{summary['id']}/apply", headers=ba_dinh)
    assert applied.status_code == 200, applied.text
    assert applied.json()["outcome"] == {"events": 7, "applied": 7}
    assert await outbox_types(system, before) == sorted(
        ["MemberRegistered", "MemberRegistered", "MemberUpdated", "MemberUpdated", "MemberUpdated",
         "MemberTransferred", "MemberStatusChanged"])
    assert await scalar(system, "SELECT status FROM members WHERE party_card_no = '0700000004'") == "deceased"
    assert await scalar(system, "SELECT count(*) FROM members WHERE party_card_no = '0700000009'") == 1  # not deleted
    again = await system.client.post(f"{RECONCILE}/{summary['id']}/apply", headers=ba_dinh)
    assert again.status_code == 409

    # The same export again: nothing new or changed, nothing to apply, no event.
    after = await outbox_top(system)
    second = (await upload(system, write_csv(national_export()), "csdl-3.0.csv", ba_dinh)).json()
    assert second["totals"] == {"new": 0, "changed": 0, "missing": 1, "conflicts": 0, "outside": 0}
    assert second["identical"] == 11
    done = await system.client.post(f"{RECONCILE}/{second['id']}/apply", headers=ba_dinh)
    assert done.json()["outcome"] == {"events": 0}
    assert await outbox_top(system) == after


async def test_a_pending_correction_request_holds_back_its_fields(system):
    admin = system.auth("unit_admin", "hoan-kiem")
    member_id = str(await scalar(system, "SELECT id FROM members WHERE party_card_no = '0710000000'"))
    own = system.auth("member", "hoan-kiem-g1-c1", card="0710000000", subject="account-tran-a")
    asked = await system.client.post(f"/api/members/v1/members/{member_id}/corrections",
                                     json={"changes": {"phone": "0911000111"}}, headers=own)
    assert asked.status_code == 201, asked.text
    export = [r for r in registry() if r["unit"].startswith("hoan-kiem")]
    export[0] = {**export[0], "phone": "0922000222", "full_name": "Trần Thị Ánh"}
    summary = (await upload(system, write_csv(export), "hk.csv", admin)).json()
    assert summary["totals"] == {"new": 0, "changed": 1, "missing": 0, "conflicts": 1, "outside": 0}
    # Rows of Ba Đình in the file are not Hoàn Kiếm's to reconcile: counted outside, left alone.
    both = (await upload(system, write_csv(export + national_export()), "hk.csv", admin)).json()
    assert (both["rows_outside"], both["totals"]["new"]) == (11, 0)

    before = await outbox_top(system)
    applied = (await system.client.post(f"{RECONCILE}/{summary['id']}/apply", headers=admin)).json()
    assert applied["outcome"] == {"events": 1, "applied": 1}
    assert await outbox_types(system, before) == ["MemberUpdated"]
    record = (await system.client.get(f"/api/members/v1/members/{member_id}", headers=admin)).json()
    assert (record["full_name"], record["phone"]) == ("Trần Thị Ánh", "+84910000000")  # the phone held back
    assert await scalar(system, "SELECT status FROM correction_requests WHERE id = :id",
                        id=asked.json()["id"]) == "pending"
    report = await system.client.get(f"{RECONCILE}/{summary['id']}/report.csv", headers=admin)
    assert "chờ xét đề nghị sửa thông tin" in report.content.decode("utf-8-sig")


async def test_a_bad_file_is_refused_naming_the_row_and_column_and_stores_nothing(system):
    before = await scalar(system, "SELECT count(*) FROM reconciliations")
    data = ("Số thẻ đảng viên,Họ và tên,Ngày sinh,Chi bộ\n"
            "0700000000,Nguyễn Văn Ân,03/01/1960,ba-dinh-g1-c1\n"
            "0700000001,Nguyễn Văn B,31/02/1960,ba-dinh-g1-c2\n").encode("utf-8-sig")
    refused = await upload(system, data, "x.csv", system.auth("city_admin"))
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert [(e["row"], e["column"], e["name"]) for e in body["errors"]] == [(3, "Ngày sinh", "date_of_birth")]
    assert "dòng 3, cột «Ngày sinh»: phải là ngày có thật" in body["detail"]
    missing = await upload(system, "Số thẻ,Họ và tên\n1,A\n".encode(), "x.csv", system.auth("city_admin"))
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["reason"] == "missing required columns: Ngày sinh, Chi bộ"
    assert await scalar(system, "SELECT count(*) FROM reconciliations") == before


async def test_only_registry_writers_over_all_of_it_see_or_apply_a_reconciliation(system):
    city = (await upload(system, write_csv(national_export()), "city.csv", system.auth("city_admin"))).json()
    other = system.auth("unit_admin", "hoan-kiem")
    for method, path in (("get", ""), ("get", "/report.xlsx"), ("post", "/apply")):
        answer = await getattr(system.client, method)(f"{RECONCILE}/{city['id']}{path}", headers=other)
        assert answer.status_code == 404, (path, answer.text)
    member = system.auth("member", "ba-dinh-g1-c1", card="0700000000")
    assert (await upload(system, b"x", "x.csv", member)).status_code == 403
    assert (await system.client.get(RECONCILE, headers=system.auth("cell_secretary", "ba-dinh-g1-c1"))).status_code == 403
    listed = (await system.client.get(RECONCILE, headers=other)).json()["items"]
    assert city["id"] not in [r["id"] for r in listed]


async def test_the_command_line_reconciles_applies_and_writes_the_report(system, database_url, nats_url, data_dir,
                                                                         tmp_path, monkeypatch, capsys):
    export = [r for r in registry() if r["unit"].startswith("hoan-kiem")]
    export[1] = {**export[1], "full_name": "Trần Thị Bích"}
    path = tmp_path / "csdl.csv"
    path.write_bytes(write_csv(export))
    monkeypatch.setenv("SOTAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SOTAY_NATS_URL", nats_url)
    monkeypatch.setenv("SOTAY_DATA_DIR", str(data_dir))
    argv = ["registry", "reconcile", str(path), "--unit", "hoan-kiem", "--apply", "--out", str(tmp_path / "r.xlsx")]
    assert await asyncio.to_thread(sotay_main, argv) == 0
    out = capsys.readouterr().out
    # (the test before may have renamed another member of Hoàn Kiếm, which this export names as it was)
    assert re.search(r"differences: 0 new, [12] changed", out) and "not deleted" in out
    assert re.search(r"applied: [12] members, [12] events", out)
    assert "Trần Thị Bích" not in out  # counts on the terminal, the values in the report
    assert (tmp_path / "r.xlsx").stat().st_size > 0
    assert await asyncio.to_thread(sotay_main, argv[:-2]) == 0
    assert "0 new, 0 changed" in capsys.readouterr().out


async def test_members_written_before_the_date_of_birth_hash_are_compared_by_their_sealed_values(system):
    async with system.runtimes["members"].context.engine.begin() as db:
        await db.execute(text("UPDATE members SET date_of_birth_hash = NULL "
                              "WHERE party_card_no IN ('0710000001', '0710000002')"))
    export = [r for r in registry() if r["unit"].startswith("hoan-kiem")]
    export[2] = {**export[2], "date_of_birth": "1971-07-07"}  # 0710000002; 0710000001's stays as it is
    admin = system.auth("unit_admin", "hoan-kiem")
    summary = (await upload(system, write_csv(export), "hk.csv", admin)).json()
    report = (await system.client.get(f"{RECONCILE}/{summary['id']}/report.csv", headers=admin)).content
    born = [line for line in report.decode("utf-8-sig").splitlines() if ",Ngày sinh," in line]
    assert len(born) == 1 and "0710000002" in born[0] and "07/07/1971" in born[0]


async def test_applied_together_a_reconciliation_writes_what_the_use_cases_write_one_member_at_a_time(system):
    """The apply decides and writes a chunk of members together (handlers/registry_batch.py). Its
    oracle: twins of the same members, in the same cells with the same data under other card
    numbers, changed one at a time through the registry's use cases (as the HTTP API does) with the
    same reason. Their rows, history and events must be the same."""
    from services.members.adapters import registry as store
    from services.members.handlers import members as use_cases
    from services.members.handlers.reconcile import reason_of
    from sotay.kit.auth import Grant, Principal

    admin = system.auth("city_admin", subject="twin-admin")
    for unit in ({"code": "tay-ho", "name": "Đảng bộ Tây Hồ", "kind": "committee", "parent": "city", "wave": 1},
                 {"code": "tay-ho-g1", "name": "Đảng bộ phường", "kind": "grassroots", "parent": "tay-ho"},
                 {"code": "tay-ho-g1-c1", "name": "Chi bộ 1", "kind": "cell", "parent": "tay-ho-g1"},
                 {"code": "tay-ho-g1-c2", "name": "Chi bộ 2", "kind": "cell", "parent": "tay-ho-g1"}):
        assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201

    def twin(prefix: str, i: int) -> dict[str, str]:
        row = registry_row(f"{prefix}{i:04d}", f"Đỗ Văn {chr(65 + i)}", f"tay-ho-g1-c{1 + i % 2}",
                           born=f"1965-03-{1 + i:02d}")
        return {**row, "phone": f"09770000{i:02d}", "citizen_id": f"00106500{prefix[2]}{i:03d}" if i % 3 else ""}

    count = 8
    await import_registry(system.client, [twin("074000", i) for i in range(count)] +
                          [twin("075000", i) for i in range(count)], admin)
    # What the national database says of the first twins (the others are as the registry has them).
    changes: dict[int, dict[str, str]] = {
        0: {"full_name": "Đỗ Văn Ân"},
        1: {"phone": "0912000111"},
        2: {"date_of_birth": "1966-04-04"},
        3: {"unit": "tay-ho-g1-c1"},  # was in c2
        4: {"status": "deceased", "eligible": "false", "ineligible_reason": "từ trần"},
        5: {"unit": "tay-ho-g1-c1", "full_name": "Đỗ Văn Phúc"},  # was in c2: a transfer, then an edit
        6: {"citizen_id": "001065009999"},
        7: {"unit": "tay-ho-g1-c1", "status": "deceased", "eligible": "false", "ineligible_reason": "từ trần"},
    }
    export = [{**twin("074000", i), **changes.get(i, {})} for i in range(count)]
    export += [twin("075000", i) for i in range(count)]
    new = {**twin("074000", 50), "date_of_birth": "1980-08-08", "citizen_id": "001065005050"}
    export.append(new)
    uploaded = await upload(system, write_csv(export), "tay-ho.csv", admin)
    assert uploaded.status_code == 201, uploaded.text
    compared = uploaded.json()
    assert compared["totals"]["changed"] == len(changes) and compared["totals"]["new"] == 1
    applied = (await system.client.post(f"{RECONCILE}/{compared['id']}/apply", headers=admin)).json()
    assert applied["outcome"] == {"events": 11, "applied": 9}

    # The twins, one use case at a time, as the reconciliation's steps would call them.
    ctx = system.runtimes["members"].context
    actor = Principal("twin-admin", (Grant("city_admin", "city"),))
    reason = reason_of({"filename": "tay-ho.csv"})
    today = hanoi_day()

    async def twin_id(i: int):
        return await scalar(system, "SELECT id FROM members WHERE party_card_no = :c", c=f"075000{i:04d}")

    async with ctx.engine.begin() as db:
        for i, change in changes.items():
            member_id = await twin_id(i)
            if i == 7:
                await use_cases.transfer_member(db, ctx, actor, member_id, "tay-ho-g1-c1", "official", reason,
                                                today=today)
            if "status" in change:
                await use_cases.change_status(db, ctx, actor, member_id, "deceased", eligible=False,
                                              ineligible_reason="từ trần", reason=reason, today=today)
            elif "unit" in change:
                await use_cases.transfer_member(db, ctx, actor, member_id, change["unit"], "official", reason,
                                                today=today)
            if rest := {k: v for k, v in change.items() if k != "unit"} if "status" not in change else {}:
                if "citizen_id" in rest:  # the twin's own: a citizen ID belongs to one member
                    rest["citizen_id"] = "001065009998"
                row = await store.member_by_id(db, member_id, lock=True)
                await use_cases.apply_patch(db, ctx, actor.subject, row, rest, today=today, reason=reason)
        await use_cases.create_member(db, ctx, actor, {**new, "party_card_no": "0750000050",
                                                       "citizen_id": "001065005051"},
                                      today=today, source="import", reason=reason)

    async def described(card: str) -> dict:
        """The member's row, history and events with what differs between twins by design left out."""
        async with ctx.engine.connect() as db:
            member_id = (await db.execute(text("SELECT id FROM members WHERE party_card_no = :c"), {"c": card})).scalar()
            row = dict((await db.execute(text(
                "SELECT full_name, name_folded, gender, unit_id, unit_path, temporary_unit_id, temporary_until, "
                "admitted_on, official_on, status, eligible, ineligible_reason, version, phone_hash, "
                "date_of_birth_hash, citizen_id_hash IS NULL AS no_citizen_id, has_account, restricted_at "
                "FROM members WHERE id = :m"), {"m": member_id})).mappings().one())
            history = [(h["actor"], h["action"], h["reason"],
                        {k: v for k, v in h["changes"].items() if k not in ("party_card_no", "citizen_id")})
                       for h in await store.history(db, member_id)]
            bodies = (await db.execute(text(
                "SELECT body FROM outbox WHERE convert_from(body, 'UTF8')::jsonb ->> 'subject' = :m ORDER BY position"),
                {"m": str(member_id)})).scalars()
        events = []
        for body in bodies:
            event = orjson.loads(body)
            data = {k: v for k, v in event["data"].items() if k not in ("member_id", "personal")}
            events.append((event["type"], event["sequence"], event.get("orgunit"), data,
                           event["data"]["personal"] is not None))
        return {"row": row, "history": history, "events": events}

    for i in [*changes, 50]:
        together, one_by_one = await described(f"074000{i:04d}"), await described(f"075000{i:04d}")
        assert together == one_by_one, i
        assert len(together["events"]) >= 2 or i == 50  # imported, then changed


async def test_a_citizen_id_taken_alongside_fails_the_chunk_and_its_members_are_applied_one_at_a_time(
        system, monkeypatch):
    """Between the chunk's reading of the registry and its writing, another transaction takes a
    citizen ID a new member of the chunk has (here: the reading is made to miss it). The chunk's
    insert fails on the unique constraint; the members are then applied one at a time, and only
    the one whose citizen ID is taken is skipped, with the reason. Runs after the twins' test."""
    from services.members.adapters import registry as store

    admin = system.auth("city_admin")
    rows = {r["full_name"]: r for r in [*(await system.client.get(
        "/api/members/v1/members", params={"unit": "tay-ho", "limit": 100}, headers=admin)).json()["items"]]}
    assert "Đỗ Văn Ân" in rows
    export = []
    async with system.runtimes["members"].context.engine.connect() as db:
        for member_id in [r["id"] for r in rows.values()]:
            record = await store.member_by_id(db, member_id)
            export.append({"party_card_no": record["party_card_no"], "full_name": record["full_name"],
                           "date_of_birth": record["date_of_birth"].isoformat(), "gender": record["gender"] or "",
                           "citizen_id": record["citizen_id"] or "", "phone": record["phone"] or "",
                           "unit": record["unit"], "status": record["status"],
                           "eligible": "true" if record["eligible"] else "false",
                           "ineligible_reason": record["ineligible_reason"] or "", "admitted_on": "",
                           "official_on": ""})
    renamed = next(r for r in export if r["full_name"] == "Đỗ Văn Ân")
    renamed["full_name"] = "Đỗ Văn Ấn"
    holder = next(r for r in export if r["citizen_id"])  # left out of the file: reported missing
    export.remove(holder)
    taken = holder["citizen_id"]
    export.append({**renamed, "party_card_no": "0740009999", "full_name": "Đỗ Thị Mới", "citizen_id": taken})
    uploaded = await upload(system, write_csv(export), "tay-ho-2.csv", admin)
    assert uploaded.status_code == 201, uploaded.text
    summary = uploaded.json()
    assert (summary["totals"]["new"], summary["totals"]["changed"]) == (1, 1), summary

    async def nothing_taken(db, cards, citizen_ids):
        return set(), {}

    monkeypatch.setattr(store, "taken_identifiers", nothing_taken)
    applied = (await system.client.post(f"{RECONCILE}/{summary['id']}/apply", headers=admin)).json()
    assert applied["outcome"] == {"events": 1, "applied": 1, "skipped": 1}
    assert await scalar(system, "SELECT count(*) FROM members WHERE full_name = 'Đỗ Văn Ấn'") == 1
    assert await scalar(system, "SELECT count(*) FROM members WHERE party_card_no = '0740009999'") == 0
    report = (await system.client.get(f"{RECONCILE}/{summary['id']}/report.csv", headers=admin)).content
    assert "citizen_id: thuộc về một đảng viên khác" in report.decode("utf-8-sig")
