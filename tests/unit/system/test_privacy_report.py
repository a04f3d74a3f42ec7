"""The record of processing (`sotay privacy report`, sotay/system/privacy): generated from the
annotations beside each schema and the contracts alone, every personal field with its facts and
flows, the push services as configured, a workbook without formulas, and the copy in docs/ the
same as what the generator writes. The annotations against the real schemas:
tests/integration/test_personal_data_drift.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sotay.contracts.members import MemberSnapshot
from sotay.kit.events import Event
from sotay.kit.settings import Settings
from sotay.system.cli import main as sotay_main
from sotay.system.privacy import report
from sotay.system.privacy.annotations import KIT, column_problems, read, read_events, read_schema

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "record-of-processing.md"


@pytest.fixture(scope="module")
def annotations():
    return read()


def defaults(annotations) -> dict[str, str]:
    return report.settings_of(annotations, Settings)


def test_the_annotations_are_complete_and_every_event_field_is_classified(annotations):
    assert annotations.problems == []
    classified = {(f.event, f.field) for f in annotations.event_fields}
    # The registry's snapshot in every member event: the person sealed under the member's key, what
    # identity matches on as keyed hashes inside; no date of birth, gender, citizen ID or phone.
    snapshot = {f.field: f.form for f in annotations.event_fields if f.event.__name__ == "MemberRegistered"}
    assert snapshot["personal.citizen_id_hash"] == snapshot["personal.phone_hash"] == "sealed_keyed_hash"
    assert snapshot["personal.date_of_birth_hash"] == "sealed_keyed_hash"
    assert snapshot["personal.full_name"] == snapshot["personal.party_card_no"] == "sealed_clear"
    assert snapshot["unit"] == snapshot["status"] == "clear"
    assert not any(f in snapshot for f in ("full_name", "date_of_birth", "gender", "admitted_on", "party_card_no"))
    assert not any(field in ("citizen_id", "phone", "password_hash") for _, field in classified)


def test_the_committed_record_is_what_the_generator_writes(annotations):
    written = report.markdown(annotations, "vi", defaults(annotations))
    assert COMMITTED.read_text() == written, (
        "docs/record-of-processing.md differs from the annotations: run `sotay privacy report --out docs` "
        "(SOTAY_PUSH_HOSTS unset) and commit the Markdown")


def test_every_personal_field_is_in_the_record_with_its_facts(annotations):
    md = report.markdown(annotations, "vi", defaults(annotations))
    for column in annotations.columns():
        assert f"`{column.column}`" in md
    record = report.Record(annotations, "vi", defaults(annotations))
    citizen_id = record.row(annotations.column("members.members.citizen_id"))
    assert citizen_id["sensitivity"] == "Nhạy cảm"
    assert citizen_id["stored"].startswith("Mã hoá (AES-256-GCM")
    assert "Bí thư chi bộ (che bớt" in citizen_id["readers"]
    assert ("personal.citizen_id_hash (Băm có khoá, mã hoá bằng khoá riêng của đảng viên): MemberRegistered, "
            "MemberUpdated") in citizen_id["events"]
    assert citizen_id["abroad"] == "Không"
    # Replicas: where the name is copied, and who receives it without keeping it.
    full_name = record.row(annotations.column("members.members.full_name"))["receivers"]
    assert "identity: registry_members.name_hash" in full_name and "content: readers.full_name" in full_name
    # Metrics and the committees' systems get the sealed part without the key that opens it.
    assert "metrics: nhận bản mã hoá, không có khoá để mở" in full_name and "chỉ bản mã hoá" in full_name
    assert record.row(annotations.column("identity.registry_members.phone_hash"))["source"] == \
        "Bản sao của members.members.phone"


def test_the_push_services_configured_are_the_processors_abroad(annotations):
    on = report.markdown(annotations, "en", {"push_hosts": "fcm.googleapis.com,*.push.apple.com,push.example.vn"})
    assert "| Google (Firebase Cloud Messaging) | `fcm.googleapis.com` | May be abroad" in on
    assert "| Apple (Safari, iOS) | `*.push.apple.com` |" in on
    assert "| Not identified (push.example.vn) | `push.example.vn` | Not identified" in on
    record = report.Record(annotations, "en", {"push_hosts": "fcm.googleapis.com"})
    assert record.row(annotations.column("content.push_subscriptions.endpoint"))["abroad"] == \
        "It may, once the member turns notifications on: Google (Firebase Cloud Messaging)"

    off = report.markdown(annotations, "en", {"push_hosts": ""})
    assert "No processor outside the system, no data leaves the country (SOTAY_PUSH_HOSTS is empty)." in off
    assert "Google" not in off
    record = report.Record(annotations, "en", {"push_hosts": ""})
    assert record.row(annotations.column("content.push_subscriptions.endpoint"))["abroad"] == \
        "No (SOTAY_PUSH_HOSTS empty: nothing sent)"


def test_the_workbook_has_a_title_vietnamese_headings_and_no_formula():
    annotations = read()
    # A term that a spreadsheet program would run stays text.
    annotations.terms["purposes"]["registry"]["vi"] = '=HYPERLINK("http://evil.example/","Xem")'
    book = load_workbook(io.BytesIO(report.workbook(annotations, "vi", defaults(annotations))))
    fields, events, processors = book.worksheets
    assert [s.title for s in book.worksheets] == ["Dữ liệu cá nhân", "Sự kiện", "Bên xử lý"]
    assert fields["A1"].value.startswith("Hồ sơ ghi nhận hoạt động xử lý dữ liệu cá nhân")
    assert [c.value for c in fields[2]][:6] == ["Dịch vụ", "Bảng", "Trường", "Loại dữ liệu", "Mức độ", "Mục đích xử lý"]
    assert fields.max_row == 2 + len(annotations.columns())
    assert fields.freeze_panes == "D3" and fields.column_dimensions["F"].width >= 30
    poisoned = next(row for row in fields.iter_rows(min_row=3) if row[2].value == "citizen_id")[5]
    assert (poisoned.value, poisoned.data_type, poisoned.quotePrefix) == (
        '=HYPERLINK("http://evil.example/","Xem")', "s", True)
    for sheet in book.worksheets:
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert events.max_row == 2 + len(annotations.event_fields)
    assert processors["A3"].value.startswith("Dịch vụ thông báo đẩy của trình duyệt (Web Push): Google")


def test_sotay_privacy_report_writes_both_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOTAY_PUSH_HOSTS", "")
    assert sotay_main(["privacy", "report", "--out", str(tmp_path / "dossier"), "--lang", "en"]) == 0
    md = (tmp_path / "dossier" / "record-of-processing.md").read_text()
    assert md.startswith("# Record of processing of personal data")
    assert "(SOTAY_PUSH_HOSTS is empty)" in md
    book = load_workbook(tmp_path / "dossier" / "record-of-processing.xlsx")
    assert book.worksheets[0]["A2"].value == "Service"
    assert capsys.readouterr().out.split() == [str(tmp_path / "dossier" / f"record-of-processing.{x}")
                                               for x in ("md", "xlsx")]


def test_a_column_without_an_annotation_is_named(annotations):
    members = {table: [c.column for c in personal] + others
               for table, (personal, others) in annotations.schemas["members"].tables.items()}
    kit = {table: [c.column for c in personal] + others
           for table, (personal, others) in annotations.schemas[KIT].tables.items()}
    assert column_problems(annotations, "members", members | kit) == []
    members["members"] = [*members["members"], "consent_version"]
    members["consents"] = ["member_id"]
    kit["outbox"] = [c for c in kit["outbox"] if c != "headers"]
    problems = column_problems(annotations, "members", members | kit)
    assert [p.split(":")[0] for p in problems] == ["members.members.consent_version", "members.consents.member_id",
                                                   "members.outbox.headers"]
    assert "not annotated in services/members/migrations/personal_data.toml" in problems[0]
    assert "[tables.members.personal]" in problems[0]
    assert "annotated in sotay/kit/migrations/personal_data.toml, but the database has no such column" in problems[2]


def test_a_personal_column_says_everything_in_known_terms(annotations, tmp_path):
    notes = tmp_path / "personal_data.toml"
    notes.write_text('[tables.consents]\nretention = "kept"\nnot_personal = ["id"]\n'
                     '[tables.consents.personal]\n'
                     'member_id = { category = "person_id" }\n'
                     'version = { category = "consent", sensitivity = "secret", purpose = "consent", '
                     'legal_basis = "consent", readers = ["notary", "cell_secretary:maybe"], stored = "clear" }\n')
    problems: list[str] = []
    read_schema("identity", notes, annotations.terms, problems)
    assert problems[0].endswith("identity.consents.member_id: says no sensitivity, purpose, legal_basis, readers, "
                                "stored")
    assert "identity.consents.version: sensitivity 'secret' is not a term of [sensitivity]" in problems[1]
    assert "reader 'notary': 'notary' is not a role of sotay/kit/auth.py ROLES" in problems[2]
    assert "reader 'cell_secretary:maybe': 'maybe' is not a term of [reader_qualifiers]" in problems[3]
    assert len(problems) == 4


class ConsentGiven(Event):
    service = "identity"

    member_id: str
    notice_version: int


def test_an_event_field_classified_nowhere_is_named(annotations, tmp_path):
    contracts = tmp_path / "personal_data.toml"
    contracts.write_text('[events.ConsentGiven.personal]\nmember_id = { form = "id", from = "members.members.id" }\n'
                         '[events.MemberSnapshot]\nnot_personal = ["shoe_size"]\n')
    problems: list[str] = []
    found = read_events(contracts, [ConsentGiven, MemberSnapshot], {"members.members.id"}, annotations.terms,
                        problems)
    assert [(f.event, f.field, f.form) for f in found] == [(ConsentGiven, "member_id", "id")]
    assert any(p.endswith("MemberSnapshot.shoe_size: MemberSnapshot has no such field") for p in problems)
    assert any("event ConsentGiven (sotay.identity.ConsentGiven.v1): field notice_version is not classified "
               "(add it to [events.ConsentGiven.personal]" in p for p in problems)
