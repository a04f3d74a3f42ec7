"""The record of processing (`sotay privacy report`), from the annotations alone: each personal
field with where it is stored, its purpose, legal basis, readers, retention and storage, the events
that carry it and the services that receive it, and whether it leaves the country; then the events,
then the processors outside the system. Markdown for docs/ and the dossier, XLSX for those who
fill the impact assessment in a spreadsheet; Vietnamese first, English with lang="en". Nothing
runs but this: no server, no database."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sotay.kit import spreadsheets
from sotay.system.privacy.annotations import KIT, Annotations, EventField, PersonalColumn, where

LANGS = ("vi", "en")
FILE = "record-of-processing"
COLUMNS = ("service", "table", "field", "category", "sensitivity", "purpose", "legal_basis", "readers", "retention",
           "stored", "source", "events", "receivers", "abroad")
# In Markdown, what every personal column of a table says alike is said once, above its table.
SHARED = ("sensitivity", "purpose", "legal_basis", "readers", "retention", "stored", "source", "events", "receivers",
          "abroad")
EVENT_COLUMNS = ("event", "publisher", "field", "form", "source", "receivers")
PROCESSOR_COLUMNS = ("processor", "hosts", "where", "receives", "limits", "fields")

TEXT = {
    "vi": {
        "title": "Hồ sơ ghi nhận hoạt động xử lý dữ liệu cá nhân — Sổ tay đảng viên điện tử (sotay)",
        "generated": "Tệp này do lệnh `sotay privacy report` viết ra từ các chú thích đặt cạnh lược đồ dữ liệu của "
                     "từng dịch vụ (`services/<dịch vụ>/migrations/personal_data.toml`, "
                     "`sotay/kit/migrations/personal_data.toml`) và cạnh các hợp đồng sự kiện "
                     "(`sotay/contracts/personal_data.toml`). Không sửa tay: sửa chú thích rồi chạy lại lệnh. "
                     "Kiểm thử đối chiếu chú thích với từng cột của cơ sở dữ liệu thật và từng trường của sự kiện, "
                     "nên hồ sơ không thể lệch khỏi mã nguồn.",
        "law": "Căn cứ Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định 356/2025/NĐ-CP (hiệu lực từ "
               "01/01/2026). Đảng tịch thể hiện quan điểm chính trị: toàn bộ sổ đảng viên, và mọi dữ liệu cho biết một "
               "người là đảng viên, được coi là dữ liệu cá nhân nhạy cảm; mức cơ bản chỉ dành cho dấu vết thao tác "
               "của cán bộ và dữ liệu xác thực, an toàn tài khoản.",
        "scope": "Mỗi vai trò chỉ xem được dữ liệu trong các đơn vị mình được giao (đơn vị đó và các đơn vị trực "
                 "thuộc). Cơ sở pháp lý ghi theo thiết kế của hệ thống; cơ quan sử dụng xác nhận lại trong hồ sơ "
                 "đánh giá tác động xử lý dữ liệu cá nhân.",
        "summary": "{fields} trường dữ liệu cá nhân trong {tables} bảng, {sensitive} trường nhạy cảm; {events} loại "
                   "sự kiện mang dữ liệu cá nhân.",
        "fields_section": "1. Các trường dữ liệu cá nhân",
        "events_section": "2. Sự kiện mang dữ liệu cá nhân",
        "processors_section": "3. Bên xử lý ngoài hệ thống, chuyển dữ liệu ra nước ngoài",
        "table": "Bảng",
        "no_personal": "không có dữ liệu cá nhân",
        "not_personal": "Không phải dữ liệu cá nhân",
        "kit_table": "`{table}` (trong lược đồ của mỗi dịch vụ)",
        "copy_of": "Bản sao của {key}",
        "none": "—",
        "not_kept": "nhận, không lưu",
        "sealed_not_opened": "nhận bản mã hoá, không có khoá để mở",
        "districts": "hệ thống của các đảng bộ đăng ký nhận (SOTAY_DISTRICT_CONSUMERS, hoặc qua webhook: sotay webhooks add)",
        "districts_sealed": "hệ thống của các đảng bộ đăng ký nhận (SOTAY_DISTRICT_CONSUMERS, hoặc qua webhook: sotay webhooks add), chỉ bản mã hoá",
        "in_events": "{field} ({form}): {events}",
        "no": "Không",
        "yes": "Có thể, khi đảng viên bật thông báo: {names}",
        "off": "Không ({setting} để trống: không gửi)",
        "events_intro": "Sự kiện đi đến các dịch vụ khác trong hệ thống và đến hệ thống của các đảng bộ đăng ký nhận "
                        "(SOTAY_DISTRICT_CONSUMERS: mỗi đảng bộ nhận sự kiện của đảng bộ mình), đều trong nước. Sự "
                        "kiện được giữ trong luồng sự kiện không thời hạn để dựng lại dữ liệu. Phần vỏ của sự kiện "
                        "(CloudEvents) còn mang mã của đối tượng sự kiện (`subject`: mã đảng viên, tài khoản, đăng "
                        "ký…) và đơn vị (`orgunit`).",
        "no_personal_events": "Sự kiện không mang dữ liệu cá nhân",
        "processors_intro": "Ngoài các bên dưới đây, không có bên xử lý nào ngoài hệ thống và không dữ liệu nào ra "
                            "nước ngoài. Bên xử lý nêu theo cấu hình nơi chạy lệnh ({configured}). Chuyển dữ "
                            "liệu ra nước ngoài là một hoạt động xử lý riêng: cơ quan bật thông báo đẩy phải nêu các "
                            "bên này trong hồ sơ đánh giá tác động chuyển dữ liệu ra nước ngoài.",
        "no_processors": "Không có bên xử lý nào ngoài hệ thống, không dữ liệu nào ra nước ngoài ({setting} để trống).",
        "empty": "(trống)",
        "unknown": "Chưa xác định ({host})",
        "sheet_fields": "Dữ liệu cá nhân", "sheet_events": "Sự kiện", "sheet_processors": "Bên xử lý",
        "headings": {
            "service": "Dịch vụ", "table": "Bảng", "field": "Trường", "category": "Loại dữ liệu",
            "sensitivity": "Mức độ", "purpose": "Mục đích xử lý", "legal_basis": "Cơ sở pháp lý",
            "readers": "Ai được xem", "retention": "Thời hạn lưu", "stored": "Cách lưu", "source": "Nguồn",
            "events": "Sự kiện mang trường này", "receivers": "Nơi nhận", "abroad": "Ra nước ngoài",
            "event": "Sự kiện", "publisher": "Dịch vụ phát", "form": "Dạng", "processor": "Bên xử lý",
            "hosts": "Máy chủ", "where": "Ở đâu", "receives": "Nhận gì", "limits": "Giới hạn",
            "fields": "Trường liên quan", "personal_fields": "Trường dữ liệu cá nhân (dạng)",
        },
    },
    "en": {
        "title": "Record of processing of personal data — the electronic Party-member handbook (sotay)",
        "generated": "`sotay privacy report` writes this file from the annotations beside each service's schema "
                     "(`services/<service>/migrations/personal_data.toml`, `sotay/kit/migrations/personal_data.toml`) "
                     "and beside the event contracts (`sotay/contracts/personal_data.toml`). Do not edit it by hand: "
                     "change the annotations and run the command again. A test compares the annotations with every "
                     "column of the real database and every field of the events, so the record cannot drift from "
                     "the code.",
        "law": "Under the Personal Data Protection Law 91/2025/QH15 and Decree 356/2025/NĐ-CP (in force from "
               "1 January 2026). Party membership reveals a political view: the whole registry, and all data telling "
               "that someone is a member, is treated as sensitive personal data; only staff members' traces and "
               "authentication and account-security data are basic.",
        "scope": "Each role reads only within the units it is granted over (that unit and the units under it). The "
                 "legal bases are as the system is designed; the office adopting it confirms them in its impact "
                 "assessment dossier.",
        "summary": "{fields} personal fields in {tables} tables, {sensitive} of them sensitive; {events} event types "
                   "carry personal data.",
        "fields_section": "1. Personal data, field by field",
        "events_section": "2. Events carrying personal data",
        "processors_section": "3. Processors outside the system, transfers abroad",
        "table": "Table",
        "no_personal": "no personal data",
        "not_personal": "Not personal data",
        "kit_table": "`{table}` (in every service's schema)",
        "copy_of": "Copy of {key}",
        "none": "—",
        "not_kept": "received, not kept",
        "sealed_not_opened": "receives it sealed, without the key to open it",
        "districts": "the committees' systems that subscribe (SOTAY_DISTRICT_CONSUMERS, or by webhook: sotay webhooks add)",
        "districts_sealed": "the committees' systems that subscribe (SOTAY_DISTRICT_CONSUMERS, or by webhook: sotay webhooks add), sealed only",
        "in_events": "{field} ({form}): {events}",
        "no": "No",
        "yes": "It may, once the member turns notifications on: {names}",
        "off": "No ({setting} empty: nothing sent)",
        "events_intro": "Events go to the other services of the system and to the committees' systems that "
                        "subscribe (SOTAY_DISTRICT_CONSUMERS: each committee its own events), all in the country. "
                        "Events stay in the streams with no time limit, for replay. An event's envelope "
                        "(CloudEvents) also carries the id of what it is about (`subject`: a member's, account's, "
                        "registration's…) and the unit (`orgunit`).",
        "no_personal_events": "Events carrying no personal data",
        "processors_intro": "Besides those below, no processor outside the system receives anything and no data "
                            "leaves the country. The processors are those configured where the command runs "
                            "({configured}). A transfer abroad is a processing of its own: an office that "
                            "turns push notifications on lists these processors in its impact assessment for "
                            "cross-border transfer.",
        "no_processors": "No processor outside the system, no data leaves the country ({setting} is empty).",
        "empty": "(empty)",
        "unknown": "Not identified ({host})",
        "sheet_fields": "Personal data", "sheet_events": "Events", "sheet_processors": "Processors",
        "headings": {
            "service": "Service", "table": "Table", "field": "Field", "category": "Category",
            "sensitivity": "Sensitivity", "purpose": "Purpose", "legal_basis": "Legal basis",
            "readers": "Who may read it", "retention": "Retention", "stored": "How it is stored", "source": "Source",
            "events": "Events carrying it", "receivers": "Received by", "abroad": "Leaves the country",
            "event": "Event", "publisher": "Published by", "form": "Form", "processor": "Processor",
            "hosts": "Hosts", "where": "Where", "receives": "What it receives", "limits": "Limits",
            "fields": "Fields", "personal_fields": "Personal fields (form)",
        },
    },
}


@dataclass(frozen=True)
class Gateway:
    name: str
    hosts: tuple[str, ...]
    where: str  # a term of [where]


@dataclass(frozen=True)
class Processor:
    key: str
    setting: str  # the setting naming its hosts, as an operator writes it (SOTAY_PUSH_HOSTS)
    gateways: tuple[Gateway, ...]  # those configured; empty: off


def settings_of(annotations: Annotations, settings: Any) -> dict[str, str]:
    """The values the processors are configured by, from a Settings (or its defaults: the class)."""
    names = [spec["setting"] for spec in annotations.terms["processors"].values()]
    if isinstance(settings, type):
        return {name: settings.model_fields[name].default for name in names}
    return {name: getattr(settings, name) for name in names}


def processors(annotations: Annotations, settings: dict[str, str]) -> list[Processor]:
    """The processors of terms.toml as configured by `settings` (a setting's value by its name):
    each host configured is the gateway terms.toml names it under, or an unidentified one."""
    found = []
    for key, spec in annotations.terms["processors"].items():
        hosts = [h.strip().lower() for h in settings.get(spec["setting"], "").split(",") if h.strip()]
        gateways: dict[str, Gateway] = {}
        for host in hosts:
            known = next((g for g in spec["gateways"] if host in g["hosts"]), None)
            name, where_ = (known["name"], known["where"]) if known else (host, "unknown")
            held = gateways.get(name)
            gateways[name] = Gateway(name, (*held.hosts, host) if held else (host,), where_)
        found.append(Processor(key, f"SOTAY_{spec['setting'].upper()}", tuple(gateways.values())))
    return found


class Record:
    """The record in one language: the facts of each personal column as text, and the flows
    worked out from the annotations (events carrying a column, services receiving them, copies)."""

    def __init__(self, annotations: Annotations, lang: str, settings: dict[str, str]) -> None:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {', '.join(LANGS)}")
        self.a, self.lang, self.t = annotations, lang, TEXT[lang]
        self.processors = {p.key: p for p in processors(annotations, settings)}
        self.settings = settings

    def term(self, section: str, key: str) -> str:
        return self.a.terms[section][key][self.lang]

    def carried(self, column: PersonalColumn) -> list[EventField]:
        return [f for f in self.a.event_fields if f.source == column.key]

    def copies(self, column: PersonalColumn) -> list[PersonalColumn]:
        return [c for c in self.a.columns() if c.copy_of == column.key]

    def receivers_of(self, event) -> list[str]:  # noqa: ANN001
        return self.a.consumers.get(event.event_type(), [])

    def readers(self, readers: tuple[str, ...]) -> str:
        said = []
        for reader in readers:
            role, _, qualifier = reader.partition(":")
            text = self.term("readers", role)
            said.append(f"{text} ({self.term('reader_qualifiers', qualifier)})" if qualifier else text)
        return "; ".join(said)

    def events(self, column: PersonalColumn) -> str:
        groups: dict[tuple[str, str], list[str]] = {}
        for f in self.carried(column):
            groups.setdefault((f.field, f.form), []).append(f.event.__name__)
        return "; ".join(self.t["in_events"].format(field=field, form=self.term("forms", form), events=", ".join(names))
                         for (field, form), names in groups.items()) or self.t["none"]

    def receivers(self, column: PersonalColumn) -> str:
        """Where the column goes: the copies kept, the services that receive it without keeping it
        (sealed only: without the key to open it, unless they hold SOTAY_EVENTS_KEK), and the
        committees' systems (which never hold that key)."""
        carried = self.carried(column)
        receiving = {s for f in carried for s in self.receivers_of(f.event)}
        sealed_only = bool(carried) and all(f.form.startswith("sealed_") for f in carried)
        copies = self.copies(column)
        said = []
        for service in [s for s in self.a.schemas if s != KIT]:
            here = [f"{c.table}.{c.column}" for c in copies if c.schema == service]
            if here:
                said.append(f"{service}: {', '.join(here)}")
            elif service in receiving:
                opened = not sealed_only or service in self.a.key_holders
                said.append(f"{service}: {self.t['not_kept' if opened else 'sealed_not_opened']}")
        if carried:
            said.append(self.t["districts_sealed" if sealed_only else "districts"])
        return "; ".join(said) or self.t["none"]

    def abroad(self, column: PersonalColumn) -> str:
        processor = self.processors.get(column.abroad) if column.abroad else None
        if processor is None:
            return self.t["no"]
        if not processor.gateways:
            return self.t["off"].format(setting=processor.setting)
        return self.t["yes"].format(names=", ".join(self.gateway_name(g) for g in processor.gateways))

    def gateway_name(self, gateway: Gateway) -> str:
        return gateway.name if gateway.where != "unknown" else self.t["unknown"].format(host=gateway.name)

    def row(self, column: PersonalColumn) -> dict[str, str]:
        """A personal column's facts as the record says them."""
        return {
            "service": self.term("services", column.schema), "table": column.table, "field": column.column,
            "category": self.term("categories", column.category),
            "sensitivity": self.term("sensitivity", column.sensitivity),
            "purpose": self.term("purposes", column.purpose), "legal_basis": self.term("legal_bases", column.legal_basis),
            "readers": self.readers(column.readers), "retention": self.term("retention", column.retention),
            "stored": self.term("stored", column.stored),
            "source": self.t["copy_of"].format(key=column.copy_of) if column.copy_of else self.t["none"],
            "events": self.events(column), "receivers": self.receivers(column), "abroad": self.abroad(column),
        }

    def event_rows(self) -> list[dict[str, str]]:
        return [{"event": f.event.__name__, "publisher": f.event.service, "field": f.field,
                 "form": self.term("forms", f.form), "source": f.source,
                 "receivers": self.event_receivers(f.event)} for f in self.a.event_fields]

    def event_receivers(self, event) -> str:  # noqa: ANN001
        return "; ".join([*self.receivers_of(event), self.t["districts"]])

    def processor_rows(self) -> list[dict[str, str]]:
        rows = []
        for processor in self.processors.values():
            spec = self.a.terms["processors"][processor.key]
            fields = ", ".join(c.key for c in self.a.columns() if c.abroad == processor.key)
            for gateway in processor.gateways:
                rows.append({"processor": f"{spec[self.lang]}: {self.gateway_name(gateway)}",
                             "hosts": ", ".join(gateway.hosts), "where": self.term("where", gateway.where),
                             "receives": spec["receives"][self.lang], "limits": spec["limits"][self.lang],
                             "fields": fields})
        return rows

    def setting_names(self) -> str:
        return ", ".join(p.setting for p in self.processors.values())

    def configured(self) -> str:
        said = [f"{p.setting} = {self.settings.get(self.a.terms['processors'][p.key]['setting']) or self.t['empty']}"
                for p in self.processors.values()]
        return "; ".join(said)


# --- Markdown ----------------------------------------------------------------------------------


def markdown(annotations: Annotations, lang: str = "vi", settings: dict[str, str] | None = None) -> str:
    record = Record(annotations, lang, settings or {})
    t, h = record.t, record.t["headings"]
    columns = annotations.columns()
    personal_events = {f.event for f in annotations.event_fields}
    out = [f"# {t['title']}", "", t["generated"], "", t["law"], "", t["scope"], "",
           t["summary"].format(fields=len(columns), tables=len({(c.schema, c.table) for c in columns}),
                               sensitive=sum(c.sensitivity == "sensitive" for c in columns),
                               events=len(personal_events)), "",
           f"## {t['fields_section']}", ""]
    for schema, notes in [*[(s, n) for s, n in annotations.schemas.items() if s != KIT],
                          (KIT, annotations.schemas[KIT])]:
        out += [f"### {record.term('services', schema)}", "", f"<sub>{where(notes.path)}</sub>", ""]
        for table, (personal, others) in notes.tables.items():
            name = t["kit_table"].format(table=table) if schema == KIT else f"`{schema}.{table}`"
            if not personal:
                out += [f"#### {t['table']} {name}: {t['no_personal']}", "", _not_personal(t, others), ""]
                continue
            rows = [record.row(c) for c in personal]
            shared = [k for k in SHARED if len({r[k] for r in rows}) == 1]
            shown = [k for k in COLUMNS[2:] if k not in shared]
            out += [f"#### {t['table']} {name}", ""]
            out += [f"- **{h[k]}:** {rows[0][k]}" for k in shared if (k, rows[0][k]) != ("source", t["none"])]
            out += ["", _md_row([h[k] for k in shown]), _md_row(["---"] * len(shown))]
            out += [_md_row([f"`{r[k]}`" if k == "field" else r[k] for k in shown]) for r in rows]
            if others:
                out += ["", _not_personal(t, others)]
            out.append("")
    out += [f"## {t['events_section']}", "", t["events_intro"], "",
            _md_row([h["event"], h["publisher"], h["personal_fields"], h["receivers"]]), _md_row(["---"] * 4)]
    for event in annotations.events:
        if event in personal_events:
            fields = ", ".join(f"`{f.field}` ({record.term('forms', f.form)})" for f in annotations.event_fields
                               if f.event is event)
            out.append(_md_row([event.__name__, event.service, fields, record.event_receivers(event)]))
    quiet = [e.__name__ for e in annotations.events if e not in personal_events]
    out += ["", f"{t['no_personal_events']}: {', '.join(quiet)}.", "", f"## {t['processors_section']}", ""]
    if not any(p.gateways for p in record.processors.values()):
        return "\n".join([*out, t["no_processors"].format(setting=record.setting_names()), ""])
    out += [t["processors_intro"].format(configured=record.configured()), ""]
    for processor in record.processors.values():
        if not processor.gateways:
            continue
        spec = annotations.terms["processors"][processor.key]
        out += [f"### {spec[lang]}", "", f"- **{h['receives']}:** {spec['receives'][lang]}",
                f"- **{h['limits']}:** {spec['limits'][lang]}",
                f"- **{h['fields']}:** " + ", ".join(f"`{c.key}`" for c in columns if c.abroad == processor.key), "",
                _md_row([h["processor"], h["hosts"], h["where"]]), _md_row(["---"] * 3)]
        out += [_md_row([record.gateway_name(g), ", ".join(f"`{host}`" for host in g.hosts),
                         record.term("where", g.where)]) for g in processor.gateways]
        out.append("")
    return "\n".join(out)


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _not_personal(t: dict, others: list[str]) -> str:
    return f"{t['not_personal']}: " + ", ".join(f"`{c}`" for c in others) + "."


# --- XLSX --------------------------------------------------------------------------------------

WIDTHS = {"service": 22, "table": 22, "field": 20, "category": 30, "sensitivity": 11, "purpose": 36,
          "legal_basis": 36, "readers": 34, "retention": 36, "stored": 24, "source": 30, "events": 44,
          "receivers": 40, "abroad": 26, "event": 24, "publisher": 12, "form": 22, "processor": 40, "hosts": 30,
          "where": 30, "receives": 60, "limits": 50, "fields": 30}


def workbook(annotations: Annotations, lang: str = "vi", settings: dict[str, str] | None = None) -> bytes:
    """The record as a workbook: the personal fields, the events, the processors, a sheet each,
    each with a title row, bold wrapped headings frozen above the rows, columns wide enough to
    read, and every text a text cell, never a formula (sotay/kit/spreadsheets.py)."""
    from openpyxl import Workbook

    record = Record(annotations, lang, settings or {})
    t = record.t
    book = Workbook()
    _sheet(book.active, t["sheet_fields"], t["title"], t["headings"], COLUMNS,
           [record.row(c) for c in annotations.columns()], freeze="D3")
    _sheet(book.create_sheet(), t["sheet_events"], f"{t['title']} — {t['events_section']}", t["headings"],
           EVENT_COLUMNS, record.event_rows())
    processor_rows = record.processor_rows() or [
        {"processor": t["no_processors"].format(setting=record.setting_names())}]
    _sheet(book.create_sheet(), t["sheet_processors"], f"{t['title']} — {t['processors_section']}", t["headings"],
           PROCESSOR_COLUMNS, processor_rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet(sheet, name: str, title: str, headings: dict[str, str], columns: tuple[str, ...],  # noqa: ANN001
           rows: list[dict[str, str]], freeze: str = "A3") -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet.title = name
    spreadsheets.text_cell(sheet.cell(1, 1), title).font = Font(bold=True, size=14)
    wrap = Alignment(wrap_text=True, vertical="top")
    for col, column in enumerate(columns, 1):
        cell = spreadsheets.text_cell(sheet.cell(2, col), headings[column])
        cell.font, cell.alignment = Font(bold=True), wrap
        sheet.column_dimensions[get_column_letter(col)].width = WIDTHS[column]
    for r, row in enumerate(rows, 3):
        for col, column in enumerate(columns, 1):
            spreadsheets.text_cell(sheet.cell(r, col), row.get(column, "")).alignment = wrap
    sheet.freeze_panes = freeze  # the title, the headings (and on the fields' sheet, which field) stay


def write(out_dir: Path, annotations: Annotations, lang: str = "vi",
          settings: dict[str, str] | None = None) -> list[Path]:
    """record-of-processing.md and .xlsx in `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, xlsx = out_dir / f"{FILE}.md", out_dir / f"{FILE}.xlsx"
    md.write_text(markdown(annotations, lang, settings))
    xlsx.write_bytes(workbook(annotations, lang, settings))
    return [md, xlsx]
