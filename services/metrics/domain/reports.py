"""Reports of a unit's rollout: a table of the unit and the units under it
(CSV or XLSX), and a one-paragraph summary in the style of the city's press
report, in Vietnamese or English."""

from __future__ import annotations

from datetime import date
from typing import Any

from sotay.kit import spreadsheets

COLUMNS = ("unit_code", "unit_name", "members_total", "members_eligible", "accounts_installed", "accounts_web",
           "accounts_mobile", "accounts_pending", "accounts_approved", "accounts_rejected", "installed_pct_total",
           "installed_pct_eligible", "readers_today", "readers_7d", "trained_people", "training_sessions")


def rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[item[c] for c in COLUMNS] for item in items]


def as_csv(items: list[dict[str, Any]]) -> bytes:
    return spreadsheets.csv_bytes(COLUMNS, rows(items))


def as_xlsx(items: list[dict[str, Any]], title: str) -> bytes:
    return spreadsheets.xlsx_bytes(COLUMNS, rows(items), title)


def _vi_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _vi_pct(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def summary(unit: dict[str, Any], f: dict[str, Any], units_below: int, as_of: date, lang: str) -> str:
    """E.g. "Đến ngày 1/2/2023, 9 đảng bộ đã cài đặt thành công cho 88.279 đảng viên (đạt 72,87% tổng số
    đảng viên; khoảng 80,16% trên tổng số đảng viên có đủ điều kiện)…"."""
    if lang == "vi":
        who = f"{units_below} đơn vị trực thuộc {unit['name']}" if units_below else unit["name"]
        return (f"Đến ngày {as_of.day}/{as_of.month}/{as_of.year}, {who} đã cài đặt thành công cho "
                f"{_vi_int(f['accounts_installed'])} đảng viên (đạt {_vi_pct(f['installed_pct_total'])}% tổng số "
                f"đảng viên; khoảng {_vi_pct(f['installed_pct_eligible'])}% trên tổng số đảng viên có đủ điều kiện), "
                f"trong đó {_vi_int(f['accounts_web'])} đảng viên cài đặt trên máy tính, "
                f"{_vi_int(f['accounts_mobile'])} đảng viên cài đặt trên điện thoại; "
                f"{_vi_int(f['accounts_pending'])} đảng viên đã đăng ký, đang chờ phê duyệt.")
    who = f"the {units_below} units under {unit['name']}" if units_below else unit["name"]
    return (f"As of {as_of.day} {as_of.strftime('%B')} {as_of.year}, {who} had installed the handbook for "
            f"{f['accounts_installed']:,} members ({f['installed_pct_total']:.2f}% of all members, about "
            f"{f['installed_pct_eligible']:.2f}% of eligible ones): {f['accounts_web']:,} on computers and "
            f"{f['accounts_mobile']:,} on mobile phones; {f['accounts_pending']:,} registered and waiting for "
            f"approval.")
