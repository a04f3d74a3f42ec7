"""The access history as a file for the authority's breach notification (docs/breach-runbook.md,
"The notification"): Vietnamese headers, times dd/mm/yyyy HH:mm in Hanoi, never a live formula
(sotay/kit/spreadsheets.py: an account id or a reason is text whoever typed it).

- XLSX: three sheets. "Tổng hợp" holds what the notification's description of the breach asks
  for (the period, how many members and reads, which accounts, which kinds of personal data);
  "Đảng viên bị ảnh hưởng" the members concerned, to notify them too; "Chi tiết truy cập" every
  read, one row per read and member.
- CSV: the detail table alone (one table a file).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sotay.kit import spreadsheets
from sotay.kit.clock import HANOI

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

ROLES = {"member": "Đảng viên", "cell_secretary": "Bí thư chi bộ", "unit_admin": "Ban Tổ chức (quản trị đơn vị)",
         "city_admin": "Quản trị thành phố"}
WHAT = {"record": "Hồ sơ đảng viên", "self": "Hồ sơ của chính mình", "history": "Lịch sử thay đổi hồ sơ",
        "corrections": "Đề nghị sửa thông tin", "reads": "Lịch sử truy cập hồ sơ",
        "requests": "Yêu cầu về dữ liệu cá nhân", "search": "Kết quả tìm kiếm, danh sách đảng viên",
        "reviews": "Kiểm điểm, đánh giá, xếp loại đảng viên"}
PURPOSES = {"registry": "Quản lý hồ sơ đảng viên", "correction_review": "Xét đề nghị sửa thông tin",
            "self": "Đảng viên tự xem thông tin của mình", "access_review": "Tra cứu lịch sử truy cập",
            "breach_notification": "Lập hồ sơ thông báo vi phạm",
            "request_review": "Giải quyết yêu cầu về dữ liệu cá nhân", "yearly_review": "Kiểm điểm, đánh giá, xếp loại đảng viên hằng năm"}
RECORD = ("họ tên, số thẻ đảng viên, ngày sinh, giới tính, đơn vị, tình trạng đảng viên, ngày vào Đảng, "
          "số căn cước, số điện thoại")
# What each kind of read showed (the notification's "các loại dữ liệu cá nhân").
SHOWN = {"record": RECORD, "self": RECORD,
         "history": "các thay đổi của hồ sơ (giá trị trước và sau mỗi lần sửa)",
         "corrections": "đề nghị sửa thông tin và giá trị hiện tại của các trường được đề nghị",
         "reads": "danh sách người đã xem hồ sơ (không có số căn cước, số điện thoại)",
         "requests": "yêu cầu của đảng viên về dữ liệu của mình (họ tên, số thẻ, nội dung yêu cầu)",
         "search": "dòng danh sách: họ tên, số thẻ đảng viên, ngày sinh, giới tính, đơn vị, tình trạng",
         "reviews": "bản tự kiểm điểm, nhận xét của chi bộ, mức xếp loại đề xuất và quyết định (họ tên, chi bộ)"}

DETAIL = ["STT", "Thời điểm truy cập (giờ Hà Nội)", "Số thẻ đảng viên", "Họ và tên", "Đơn vị",
          "Tài khoản truy cập", "Người truy cập", "Vai trò", "Đơn vị của vai trò", "Nội dung đã xem",
          "Dữ liệu cá nhân đã hiển thị", "Số căn cước, số điện thoại", "Mục đích", "Lý do ghi kèm"]
MEMBERS = ["STT", "Số thẻ đảng viên", "Họ và tên", "Đơn vị", "Số lượt bị truy cập", "Lần đầu (giờ Hà Nội)",
           "Lần gần nhất (giờ Hà Nội)"]


def hanoi_time(at: datetime) -> str:
    return at.astimezone(HANOI).strftime("%d/%m/%Y %H:%M")


def identifiers(read: dict[str, Any]) -> str:
    """Whether the read showed the citizen ID and the phone, and how."""
    if read["what"] == "reads":
        return "Không hiển thị"
    if read["masked"]:
        return "Đã che, chỉ thấy vài số cuối"
    return "Hiển thị đầy đủ" if read["what"] in ("record", "self") else "Hiển thị đầy đủ nếu có trong nội dung"


def detail_rows(history: dict[str, Any]) -> list[list[Any]]:
    members = {m["id"]: m for m in history["members"]}
    rows = []
    for n, read in enumerate(history["reads"], start=1):
        member = members.get(read["member_id"], {})
        rows.append([n, hanoi_time(read["at"]), member.get("party_card_no"), member.get("full_name"),
                     member.get("unit_name"), read["actor"], read["actor_name"] or "",
                     ROLES.get(read["actor_role"], read["actor_role"] or ""),
                     read["actor_unit_name"] or read["actor_unit"] or "", WHAT[read["what"]], SHOWN[read["what"]],
                     identifiers(read), PURPOSES[read["purpose"]], read["reason"] or ""])
    return rows


def member_rows(history: dict[str, Any]) -> list[list[Any]]:
    times: dict[Any, list[datetime]] = {}
    for read in history["reads"]:
        times.setdefault(read["member_id"], []).append(read["at"])
    rows = []
    for n, member in enumerate(history["members"], start=1):
        seen = times.get(member["id"], [])
        rows.append([n, member["party_card_no"], member["full_name"], member["unit_name"], len(seen),
                     hanoi_time(min(seen)) if seen else "", hanoi_time(max(seen)) if seen else ""])
    return rows


def summary_rows(history: dict[str, Any], *, made_by: str, made_at: datetime, since: datetime | None,
                 until: datetime | None, account: str | None, reason: str | None) -> list[list[Any]]:
    reads = history["reads"]
    accounts = Counter(r["actor"] for r in reads)
    kinds = sorted({SHOWN[r["what"]] for r in reads})
    clear = sum(1 for r in reads if not r["masked"] and r["what"] in ("record", "self"))
    period = (f"từ {hanoi_time(since) if since else 'khi bắt đầu ghi nhận'} "
              f"đến {hanoi_time(until) if until else hanoi_time(made_at)}")
    return [
        ["Lập lúc (giờ Hà Nội)", hanoi_time(made_at)],
        ["Tài khoản lập", made_by],
        ["Lý do tra cứu", reason or ""],
        ["Khoảng thời gian tra cứu", period],
        ["Tài khoản được tra cứu", account or "Tất cả tài khoản"],
        ["Số đảng viên có hồ sơ bị truy cập", len({r["member_id"] for r in reads})],
        ["Số đảng viên được tra cứu", len(history["members"])],
        ["Số lượt truy cập (theo từng đảng viên)", len(reads)],
        ["Trong đó: hồ sơ đầy đủ hiển thị số căn cước, số điện thoại", clear],
        ["Số tài khoản đã truy cập", len(accounts)],
        ["Các tài khoản đã truy cập (số lượt)", "; ".join(f"{a} ({n})" for a, n in accounts.most_common())],
        ["Truy cập sớm nhất", hanoi_time(min(r["at"] for r in reads)) if reads else ""],
        ["Truy cập muộn nhất", hanoi_time(max(r["at"] for r in reads)) if reads else ""],
        ["Các loại dữ liệu cá nhân đã hiển thị", "; ".join(kinds)],
        ["Dữ liệu cá nhân nhạy cảm", "Có: hồ sơ cho biết người đó là đảng viên (quan điểm chính trị)"],
    ]


def notification_file(fmt: str, history: dict[str, Any], **summary: Any) -> tuple[str, bytes]:
    """The file name and the bytes of the access history in `fmt` ('csv' or 'xlsx')."""
    name = f"lich-su-truy-cap-{summary['made_at'].astimezone(HANOI):%Y%m%d-%H%M}.{fmt}"
    if fmt == "csv":
        return name, spreadsheets.csv_bytes(DETAIL, detail_rows(history))
    return name, spreadsheets.xlsx_book([
        ("Tổng hợp", ["Nội dung", "Giá trị"], summary_rows(history, **summary)),
        ("Đảng viên bị ảnh hưởng", MEMBERS, member_rows(history)),
        ("Chi tiết truy cập", DETAIL, detail_rows(history)),
    ])
