"""Deterministic demo data: a Hanoi-like Party organisation tree and its members.

Standard library only and free of I/O, so the same seed gives the same data in
tests, in `sotay up --demo` and in benchmarks. Every generated member satisfies
the registry's validation rules, so a demo import never reports errors.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import chain

DEFAULT_DEMO_MEMBERS = 120_000

CITY_CODE = "city"
CITY_NAME = "Đảng bộ thành phố Hà Nội"


@dataclass(frozen=True, slots=True)
class DemoUnit:
    code: str
    name: str
    kind: str
    parent: str | None
    wave: int | None


# --- party cells under a grassroots organisation -------------------------


@dataclass(frozen=True, slots=True)
class _CellPlan:
    """How many cells a kind of grassroots organisation has and what they are called."""

    names: tuple[str, ...]
    fewest: int
    most: int
    numbered: bool = False

    def cell_names(self, rng: random.Random) -> list[str]:
        count = rng.randint(self.fewest, self.most)
        # Numbered cells (Tổ dân phố số 1, 2, …) run in order; named ones are a random pick.
        chosen = self.names[:count] if self.numbered else rng.sample(self.names, count)
        return [f"Chi bộ {name}" for name in chosen]


# Name prefixes of cells that gather residents where they live: retirees
# dominate there, which shapes the members' ages.
_RESIDENTIAL_CELL_PREFIXES = ("Chi bộ Tổ dân phố", "Chi bộ Khu dân cư", "Chi bộ thôn")

# Place names for generated communes and villages: common Sino-Vietnamese
# syllable pairs, so no real commune ends up in the wrong district.
_PLACE_NAMES = tuple(
    f"{first} {second}"
    for first in (
        "Tân", "Phú", "Đông", "Xuân", "Vân", "Hồng", "Minh", "Thanh", "Kim", "Đại",
        "Cao", "Liên", "Phù", "Tiên", "Hương", "Quảng", "Thượng", "Hạ", "Yên", "Vĩnh",
    )
    for second in (
        "Hòa", "Phong", "Sơn", "Lâm", "Hưng", "Thịnh", "Tiến", "Lộc", "Xá", "Đình",
        "Dương", "Mỹ", "Lợi", "Thành", "An", "Bình", "Phúc", "Khê", "Nghĩa", "Quang",
    )
)

_STREET_CELLS = _CellPlan(tuple(f"Tổ dân phố số {n}" for n in range(1, 21)), 6, 20, True)
_HAMLET_CELLS = _CellPlan(tuple(f"Khu dân cư số {n}" for n in range(1, 21)), 6, 20, True)
_VILLAGE_CELLS = _CellPlan(tuple(f"thôn {name}" for name in _PLACE_NAMES), 6, 20)

_SCHOOL_CELLS = _CellPlan((
    "Tổ Toán", "Tổ Ngữ văn", "Tổ Ngoại ngữ", "Tổ Vật lý", "Tổ Hóa học", "Tổ Sinh học",
    "Tổ Lịch sử", "Tổ Địa lý", "Tổ Tin học", "Tổ Giáo dục công dân", "Tổ Thể dục",
    "Tổ Nghệ thuật", "Tổ Công nghệ", "Tổ Văn phòng", "Tổ Giáo vụ",
    "Tổ Quốc phòng - An ninh", "Khối 1", "Khối 2", "Khối 3", "Khối 4",
), 2, 6)
_AGENCY_DEPARTMENTS = (
    "Văn phòng", "Thanh tra", "Phòng Tổ chức cán bộ", "Phòng Kế hoạch - Tài chính",
    "Phòng Pháp chế", "Phòng Tổng hợp", "Phòng Hành chính - Quản trị", "Phòng Nghiệp vụ 1",
    "Phòng Nghiệp vụ 2", "Phòng Nghiệp vụ 3", "Phòng Quản lý đầu tư",
    "Phòng Quản lý chất lượng", "Phòng Công nghệ thông tin", "Phòng Thi đua - Khen thưởng",
    "Phòng Kiểm tra", "Phòng Tuyên truyền", "Trung tâm Thông tin", "Trung tâm Dịch vụ công",
    "Ban Quản lý dự án", "Đội Kiểm tra liên ngành",
)
_AGENCY_CELLS = _CellPlan(_AGENCY_DEPARTMENTS, 2, 10)
_BRANCH_CELLS = _CellPlan(_AGENCY_DEPARTMENTS, 2, 8)
_ENTERPRISE_CELLS = _CellPlan((
    "Phòng Kế toán", "Phòng Hành chính - Tổng hợp", "Phòng Tổ chức cán bộ",
    "Phòng Kế hoạch - Đầu tư", "Phòng Kỹ thuật", "Phòng Kinh doanh", "Phòng Pháp chế",
    "Phòng Thanh tra", "Văn phòng", "Phòng Quản lý chất lượng", "Phòng Vật tư",
    "Phòng Công nghệ thông tin", "Phân xưởng số 1", "Phân xưởng số 2", "Phân xưởng số 3",
    "Đội Xây lắp số 1", "Đội Xây lắp số 2", "Xí nghiệp số 1", "Xí nghiệp số 2",
    "Chi nhánh Hà Đông", "Chi nhánh Long Biên", "Ban Quản lý dự án",
), 2, 15)
_UNIVERSITY_CELLS = _CellPlan((
    "Khoa Công nghệ thông tin", "Khoa Kinh tế", "Khoa Ngoại ngữ", "Khoa Luật",
    "Khoa Khoa học cơ bản", "Khoa Xây dựng", "Khoa Điện - Điện tử", "Khoa Cơ khí",
    "Khoa Lý luận chính trị", "Khoa Quản trị kinh doanh", "Khoa Tài chính - Ngân hàng",
    "Khoa Du lịch", "Phòng Đào tạo", "Phòng Tổ chức cán bộ", "Phòng Hành chính - Tổng hợp",
    "Phòng Kế hoạch - Tài chính", "Phòng Công tác sinh viên", "Phòng Khoa học công nghệ",
    "Thư viện", "Sinh viên", "Học viên cao học",
), 5, 20)
_HOSPITAL_CELLS = _CellPlan((
    "Khoa Nội", "Khoa Ngoại", "Khoa Sản", "Khoa Nhi", "Khoa Hồi sức cấp cứu",
    "Khoa Xét nghiệm", "Khoa Chẩn đoán hình ảnh", "Khoa Dược", "Khoa Khám bệnh",
    "Khoa Gây mê hồi sức", "Khoa Truyền nhiễm", "Khoa Tim mạch", "Khoa Thần kinh",
    "Khoa Mắt", "Khoa Tai Mũi Họng", "Khoa Răng Hàm Mặt", "Phòng Kế hoạch tổng hợp",
    "Phòng Điều dưỡng", "Phòng Tài chính - Kế toán", "Phòng Tổ chức cán bộ",
), 4, 20)
_POLICE_CELLS = _CellPlan((
    "Đội Tham mưu", "Đội Tổng hợp", "Đội Cảnh sát hình sự", "Đội Cảnh sát kinh tế",
    "Đội Cảnh sát giao thông", "Đội Cảnh sát quản lý hành chính", "Đội An ninh",
    "Đội Điều tra tổng hợp", "Đội Cảnh sát điều tra tội phạm về ma túy",
    "Đội Cảnh sát phòng cháy, chữa cháy", "Đội Cảnh sát cơ động", "Đội Hậu cần",
    "Đội Xây dựng phong trào", "Đội Cảnh sát thi hành án hình sự", "Đội Tư pháp",
    "Đội Kỹ thuật hình sự", "Đội Cảnh sát môi trường", "Đội Tuần tra",
    "Đội Cảnh sát trật tự", "Đội Công tác Đảng và công tác chính trị",
), 4, 20)
_MILITARY_CELLS = _CellPlan(
    tuple(f"Đại đội {n}" for n in range(1, 13)) + (
        "Ban Tác chiến", "Ban Quân lực", "Ban Tuyên huấn", "Ban Hậu cần", "Ban Kỹ thuật",
        "Ban Tài chính", "Ban Cán bộ", "Ban Dân quân tự vệ",
    ),
    4, 20,
)

# --- grassroots organisations ---------------------------------------------

_Grassroots = tuple[str, _CellPlan]

_SCHOOL_NAMES = (
    "Nguyễn Trãi", "Lê Quý Đôn", "Chu Văn An", "Trần Phú", "Lý Thường Kiệt", "Nguyễn Du",
    "Trưng Vương", "Quang Trung", "Ngô Quyền", "Lê Lợi", "Phan Đình Phùng", "Hai Bà Trưng",
    "Nguyễn Bỉnh Khiêm", "Lương Thế Vinh", "Trần Quốc Toản", "Võ Thị Sáu", "Kim Đồng",
    "Nguyễn Văn Trỗi", "Lê Ngọc Hân", "Đoàn Thị Điểm", "Thăng Long", "Việt Đức", "Yên Hòa",
    "Nguyễn Tất Thành", "Phan Huy Chú", "Trần Nhân Tông", "Hoa Sen", "Ban Mai", "Sao Mai",
    "Tô Hiến Thành",
)
_COMPANIES = tuple(
    f"Công ty {form} {name}"
    for form in ("Cổ phần", "TNHH Một thành viên", "TNHH")
    for name in (
        "Xây dựng Thăng Long", "Thương mại Hà Thành", "Dịch vụ Nhà ở Hồng Hà",
        "Môi trường Xanh Thủ đô", "Cơ khí Đông Anh", "Thực phẩm Tràng An", "Dệt may Hồ Gươm",
        "Vận tải Long Biên", "In Sông Hồng", "Du lịch Hoàn Kiếm", "Điện cơ Hà Nội",
        "Vật liệu xây dựng Tây Hồ", "Thiết bị y tế Kim Liên", "Giống cây trồng Hà Nội",
        "Công trình Giao thông Thủ đô", "Chiếu sáng đô thị Hà Thành",
        "Công viên Cây xanh Thủ đô", "Dược phẩm Thăng Long", "Sữa Ba Vì",
        "Nông sản Sóc Sơn", "Kinh doanh nước sạch Hà Đông", "Đầu tư xây dựng Tây Đô",
        "Thương mại dịch vụ Đống Đa", "Bất động sản Hồng Hà", "Kỹ thuật Điện Thủ đô",
        "Thoát nước Hà Nội", "Xe khách Hà Tây", "Quản lý đường sắt Thăng Long",
        "Phát triển Nông nghiệp Đông Anh", "Chế biến gỗ Chương Mỹ",
    )
)
_ENTERPRISES: tuple[_Grassroots, ...] = tuple((name, _ENTERPRISE_CELLS) for name in _COMPANIES)


def _local_organisations(area: str) -> tuple[_Grassroots, ...]:
    """Agencies, schools and firms that belong to a district's own Party committee."""
    agencies = (
        f"Cơ quan Ủy ban nhân dân {area}",
        f"Cơ quan Mặt trận Tổ quốc và các đoàn thể {area}",
        f"Ban Quản lý dự án đầu tư xây dựng {area}",
        f"Trung tâm Văn hóa - Thông tin và Thể thao {area}",
        f"Trung tâm Phát triển quỹ đất {area}",
    )
    schools = tuple(
        f"Trường {level} {name}"
        for level in ("Mầm non", "Tiểu học", "THCS")
        for name in _SCHOOL_NAMES
    )
    return (
        tuple((name, _AGENCY_CELLS) for name in agencies)
        + tuple((name, _SCHOOL_CELLS) for name in schools)
        + _ENTERPRISES
    )


# --- the committees directly under the city -------------------------------


@dataclass(frozen=True, slots=True)
class _Committee:
    code: str
    name: str
    wave: int
    # Wards and towns (with their "phường"/"thị trấn"/"xã" prefix), listed by name.
    places: tuple[str, ...]
    # Further communes whose names are generated from _PLACE_NAMES.
    communes: int
    organisations: int
    pool: tuple[_Grassroots, ...]


@dataclass(frozen=True, slots=True)
class _District:
    code: str
    name: str
    area: str
    wave: int
    places: tuple[str, ...]
    communes: int
    organisations: int


def _wards(*names: str) -> tuple[str, ...]:
    return tuple(f"phường {name}" for name in names)


def _towns(*names: str) -> tuple[str, ...]:
    return tuple(f"thị trấn {name}" for name in names)


_DISTRICTS = (
    _District("ba-dinh", "Quận ủy Ba Đình", "quận Ba Đình", 1, _wards(
        "Phúc Xá", "Trúc Bạch", "Vĩnh Phúc", "Cống Vị", "Liễu Giai", "Nguyễn Trung Trực",
        "Quán Thánh", "Ngọc Hà", "Điện Biên", "Đội Cấn", "Ngọc Khánh", "Kim Mã", "Giảng Võ",
        "Thành Công"), 0, 42),
    _District("hoan-kiem", "Quận ủy Hoàn Kiếm", "quận Hoàn Kiếm", 1, _wards(
        "Phúc Tân", "Đồng Xuân", "Hàng Mã", "Hàng Buồm", "Hàng Đào", "Hàng Bồ", "Cửa Đông",
        "Lý Thái Tổ", "Hàng Bạc", "Hàng Gai", "Chương Dương", "Hàng Trống", "Cửa Nam",
        "Hàng Bông", "Tràng Tiền", "Trần Hưng Đạo", "Phan Chu Trinh", "Hàng Bài"), 0, 38),
    _District("tay-ho", "Quận ủy Tây Hồ", "quận Tây Hồ", 2, _wards(
        "Phú Thượng", "Nhật Tân", "Tứ Liên", "Quảng An", "Xuân La", "Yên Phụ", "Bưởi",
        "Thụy Khuê"), 0, 26),
    _District("long-bien", "Quận ủy Long Biên", "quận Long Biên", 2, _wards(
        "Thượng Thanh", "Ngọc Thụy", "Giang Biên", "Đức Giang", "Việt Hưng", "Gia Thụy",
        "Ngọc Lâm", "Phúc Lợi", "Bồ Đề", "Sài Đồng", "Long Biên", "Thạch Bàn", "Phúc Đồng",
        "Cự Khối"), 0, 40),
    _District("cau-giay", "Quận ủy Cầu Giấy", "quận Cầu Giấy", 1, _wards(
        "Nghĩa Đô", "Nghĩa Tân", "Mai Dịch", "Dịch Vọng", "Dịch Vọng Hậu", "Quan Hoa",
        "Yên Hòa", "Trung Hòa"), 0, 44),
    _District("dong-da", "Quận ủy Đống Đa", "quận Đống Đa", 2, _wards(
        "Cát Linh", "Văn Miếu", "Quốc Tử Giám", "Láng Thượng", "Ô Chợ Dừa", "Văn Chương",
        "Hàng Bột", "Láng Hạ", "Khâm Thiên", "Thổ Quan", "Nam Đồng", "Trung Phụng",
        "Quang Trung", "Trung Liệt", "Phương Liên", "Thịnh Quang", "Trung Tự", "Kim Liên",
        "Phương Mai", "Ngã Tư Sở", "Khương Thượng"), 0, 50),
    _District("hai-ba-trung", "Quận ủy Hai Bà Trưng", "quận Hai Bà Trưng", 2, _wards(
        "Nguyễn Du", "Bạch Đằng", "Phạm Đình Hổ", "Lê Đại Hành", "Đồng Nhân", "Phố Huế",
        "Đống Mác", "Thanh Lương", "Thanh Nhàn", "Cầu Dền", "Bách Khoa", "Đồng Tâm",
        "Vĩnh Tuy", "Bạch Mai", "Quỳnh Mai", "Quỳnh Lôi", "Minh Khai", "Trương Định"), 0, 46),
    _District("hoang-mai", "Quận ủy Hoàng Mai", "quận Hoàng Mai", 2, _wards(
        "Thanh Trì", "Vĩnh Hưng", "Định Công", "Mai Động", "Tương Mai", "Đại Kim", "Tân Mai",
        "Hoàng Văn Thụ", "Giáp Bát", "Lĩnh Nam", "Thịnh Liệt", "Trần Phú", "Hoàng Liệt",
        "Yên Sở"), 0, 36),
    _District("thanh-xuan", "Quận ủy Thanh Xuân", "quận Thanh Xuân", 2, _wards(
        "Nhân Chính", "Thượng Đình", "Khương Trung", "Khương Mai", "Thanh Xuân Trung",
        "Phương Liệt", "Hạ Đình", "Khương Đình", "Thanh Xuân Bắc", "Thanh Xuân Nam",
        "Kim Giang"), 0, 38),
    _District("nam-tu-liem", "Quận ủy Nam Từ Liêm", "quận Nam Từ Liêm", 2, _wards(
        "Cầu Diễn", "Xuân Phương", "Phương Canh", "Mỹ Đình 1", "Mỹ Đình 2", "Tây Mỗ", "Mễ Trì",
        "Phú Đô", "Đại Mỗ", "Trung Văn"), 0, 40),
    _District("bac-tu-liem", "Quận ủy Bắc Từ Liêm", "quận Bắc Từ Liêm", 2, _wards(
        "Thượng Cát", "Liên Mạc", "Đông Ngạc", "Đức Thắng", "Thụy Phương", "Tây Tựu",
        "Xuân Đỉnh", "Xuân Tảo", "Minh Khai", "Cổ Nhuế 1", "Cổ Nhuế 2", "Phú Diễn",
        "Phúc Diễn"), 0, 34),
    _District("ha-dong", "Quận ủy Hà Đông", "quận Hà Đông", 1, _wards(
        "Nguyễn Trãi", "Mộ Lao", "Văn Quán", "Vạn Phúc", "Yết Kiêu", "Quang Trung", "La Khê",
        "Phú La", "Phúc La", "Hà Cầu", "Yên Nghĩa", "Kiến Hưng", "Phú Lãm", "Phú Lương",
        "Dương Nội", "Đồng Mai", "Biên Giang"), 0, 40),
    _District("son-tay", "Thị ủy Sơn Tây", "thị xã Sơn Tây", 1, _wards(
        "Lê Lợi", "Phú Thịnh", "Ngô Quyền", "Quang Trung", "Sơn Lộc", "Xuân Khanh",
        "Trung Hưng", "Viên Sơn", "Trung Sơn Trầm") + tuple(f"xã {name}" for name in (
            "Đường Lâm", "Thanh Mỹ", "Xuân Sơn", "Kim Sơn", "Sơn Đông", "Cổ Đông")), 0, 24),
    _District("ba-vi", "Huyện ủy Ba Vì", "huyện Ba Vì", 1, _towns("Tây Đằng"), 30, 22),
    _District("phuc-tho", "Huyện ủy Phúc Thọ", "huyện Phúc Thọ", 2, _towns("Phúc Thọ"), 20, 18),
    _District("dan-phuong", "Huyện ủy Đan Phượng", "huyện Đan Phượng", 2, _towns("Phùng"), 15, 20),
    _District("hoai-duc", "Huyện ủy Hoài Đức", "huyện Hoài Đức", 2, _towns("Trạm Trôi"), 19, 22),
    _District("quoc-oai", "Huyện ủy Quốc Oai", "huyện Quốc Oai", 2, _towns("Quốc Oai"), 20, 18),
    _District("thach-that", "Huyện ủy Thạch Thất", "huyện Thạch Thất", 2, _towns("Liên Quan"), 22,
              22),
    _District("chuong-my", "Huyện ủy Chương Mỹ", "huyện Chương Mỹ", 2,
              _towns("Chúc Sơn", "Xuân Mai"), 30, 24),
    _District("thanh-oai", "Huyện ủy Thanh Oai", "huyện Thanh Oai", 2, _towns("Kim Bài"), 20, 18),
    _District("thuong-tin", "Huyện ủy Thường Tín", "huyện Thường Tín", 2, _towns("Thường Tín"),
              28, 20),
    _District("phu-xuyen", "Huyện ủy Phú Xuyên", "huyện Phú Xuyên", 2,
              _towns("Phú Xuyên", "Phú Minh"), 25, 18),
    _District("ung-hoa", "Huyện ủy Ứng Hòa", "huyện Ứng Hòa", 2, _towns("Vân Đình"), 28, 18),
    _District("my-duc", "Huyện ủy Mỹ Đức", "huyện Mỹ Đức", 2, _towns("Đại Nghĩa"), 21, 16),
    _District("soc-son", "Huyện ủy Sóc Sơn", "huyện Sóc Sơn", 1, _towns("Sóc Sơn"), 25, 24),
    _District("dong-anh", "Huyện ủy Đông Anh", "huyện Đông Anh", 1, _towns("Đông Anh"), 23, 30),
    _District("gia-lam", "Huyện ủy Gia Lâm", "huyện Gia Lâm", 2, _towns("Yên Viên", "Trâu Quỳ"),
              20, 28),
    _District("me-linh", "Huyện ủy Mê Linh", "huyện Mê Linh", 2, _towns("Chi Đông", "Quang Minh"),
              16, 22),
    _District("thanh-tri", "Huyện ủy Thanh Trì", "huyện Thanh Trì", 2, _towns("Văn Điển"), 15, 24),
)

_AREAS = tuple(district.area for district in _DISTRICTS)


def _branches(prefix: str, cells: _CellPlan) -> tuple[_Grassroots, ...]:
    """One branch office per district, as tax, treasury, courts and utilities have."""
    return tuple((f"{prefix} {area}", cells) for area in _AREAS)


def _named(cells: _CellPlan, *names: str) -> tuple[_Grassroots, ...]:
    return tuple((name, cells) for name in names)


_CITY_AGENCIES = _named(
    _AGENCY_CELLS,
    "Sở Nội vụ", "Sở Tài chính", "Sở Kế hoạch và Đầu tư", "Sở Xây dựng",
    "Sở Giao thông vận tải", "Sở Tài nguyên và Môi trường", "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn", "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa và Thể thao", "Sở Du lịch", "Sở Khoa học và Công nghệ",
    "Sở Thông tin và Truyền thông", "Sở Tư pháp", "Sở Ngoại vụ", "Sở Quy hoạch - Kiến trúc",
    "Thanh tra Thành phố", "Văn phòng Ủy ban nhân dân Thành phố",
    "Văn phòng Đoàn đại biểu Quốc hội và Hội đồng nhân dân Thành phố", "Ban Dân tộc",
    "Cục Thống kê Thành phố", "Ban Quản lý các khu công nghiệp và chế xuất Hà Nội",
    "Liên minh Hợp tác xã Thành phố", "Cơ quan Ủy ban Mặt trận Tổ quốc Thành phố",
)
_POLICE = _branches("Công an", _POLICE_CELLS) + _named(
    _POLICE_CELLS,
    "Phòng Cảnh sát giao thông", "Phòng Cảnh sát cơ động",
    "Phòng Cảnh sát phòng cháy, chữa cháy và cứu nạn, cứu hộ", "Phòng Cảnh sát hình sự",
    "Phòng Cảnh sát kinh tế", "Phòng Cảnh sát điều tra tội phạm về ma túy",
    "Phòng An ninh chính trị nội bộ", "Phòng An ninh kinh tế", "Phòng Tham mưu",
    "Phòng Hậu cần", "Phòng Tổ chức cán bộ", "Trại tạm giam số 1",
)
_MILITARY = _branches("Ban Chỉ huy Quân sự", _MILITARY_CELLS) + _named(
    _MILITARY_CELLS,
    "Cơ quan Bộ Tham mưu", "Cơ quan Cục Chính trị", "Cơ quan Cục Hậu cần",
    "Cơ quan Cục Kỹ thuật", "Trung đoàn Bộ binh 1", "Trung đoàn Bộ binh 2",
    "Trường Quân sự Thành phố",
)
_UNIVERSITIES = _named(
    _UNIVERSITY_CELLS,
    "Trường Đại học Thủ đô Hà Nội", "Trường Đại học Hà Nội", "Trường Đại học Bách khoa Hà Nội",
    "Trường Đại học Kinh tế Quốc dân", "Trường Đại học Xây dựng Hà Nội",
    "Trường Đại học Thủy lợi", "Trường Đại học Mỏ - Địa chất",
    "Trường Đại học Giao thông vận tải", "Trường Đại học Thương mại",
    "Trường Đại học Luật Hà Nội", "Trường Đại học Y Hà Nội", "Trường Đại học Dược Hà Nội",
    "Trường Đại học Sư phạm Hà Nội", "Trường Đại học Công nghiệp Hà Nội",
    "Trường Đại học Mở Hà Nội", "Trường Đại học Kiến trúc Hà Nội",
    "Trường Đại học Văn hóa Hà Nội", "Trường Đại học Lao động - Xã hội",
    "Trường Đại học Điện lực", "Trường Đại học Ngoại thương", "Học viện Ngân hàng",
    "Học viện Tài chính", "Học viện Nông nghiệp Việt Nam", "Học viện Báo chí và Tuyên truyền",
    "Trường Cao đẳng Y tế Hà Nội", "Trường Cao đẳng Sư phạm Hà Tây",
    "Trường Cao đẳng Thương mại và Du lịch Hà Nội", "Trường Cao đẳng nghề Công nghệ cao Hà Nội",
    "Trường Cao đẳng Cộng đồng Hà Nội", "Trường Cao đẳng Điện tử - Điện lạnh Hà Nội",
)
_YOUTH = _named(
    _AGENCY_CELLS,
    "Cơ quan Thành đoàn", "Cung Thiếu nhi Hà Nội", "Nhà Văn hóa Thanh niên",
    "Trung tâm Hoạt động thanh thiếu nhi", "Trung tâm Hỗ trợ thanh niên công nhân",
    "Trung tâm Tình nguyện Thủ đô", "Trường Đoàn Lý Tự Trọng",
)
_HEALTH = _named(
    _HOSPITAL_CELLS,
    "Bệnh viện Đa khoa Xanh Pôn", "Bệnh viện Thanh Nhàn", "Bệnh viện Đức Giang",
    "Bệnh viện Tim Hà Nội", "Bệnh viện Phụ sản Hà Nội", "Bệnh viện Nhi Hà Nội",
    "Bệnh viện Ung bướu Hà Nội", "Bệnh viện Mắt Hà Nội", "Bệnh viện Thận Hà Nội",
    "Bệnh viện Đa khoa Hà Đông", "Bệnh viện Đa khoa Sơn Tây", "Bệnh viện Đa khoa Đống Đa",
    "Bệnh viện Bắc Thăng Long", "Bệnh viện Phổi Hà Nội", "Bệnh viện Tâm thần Hà Nội",
    "Bệnh viện Y học cổ truyền Hà Nội", "Bệnh viện Da liễu Hà Nội",
    "Trung tâm Kiểm soát bệnh tật Hà Nội", "Trung tâm Cấp cứu 115 Hà Nội",
    "Trung tâm Pháp y Hà Nội",
) + _branches("Trung tâm Y tế", _HOSPITAL_CELLS)
_HIGH_SCHOOLS = _named(_SCHOOL_CELLS, *(f"Trường THPT {name}" for name in _SCHOOL_NAMES)) + (
    _branches("Trung tâm Giáo dục nghề nghiệp - Giáo dục thường xuyên", _SCHOOL_CELLS)
)


def _sector(code: str, name: str, wave: int, pool: tuple[_Grassroots, ...],
            count: int) -> _Committee:
    return _Committee(code, name, wave, (), 0, count, pool)


def _district_committee(d: _District) -> _Committee:
    return _Committee(d.code, d.name, d.wave, d.places, d.communes, d.organisations,
                      _local_organisations(d.area))


# Nine pilot committees (wave 1): four urban districts, the town of Sơn Tây,
# three rural districts and the city agencies, so the pilot meets every kind of cell.
_COMMITTEES = tuple(_district_committee(d) for d in _DISTRICTS) + (
    _sector("khoi-co-quan", "Đảng bộ Khối các cơ quan Thành phố", 1, _CITY_AGENCIES, 24),
    _sector("khoi-doanh-nghiep", "Đảng bộ Khối Doanh nghiệp Thành phố", 2, _ENTERPRISES, 80),
    _sector("cong-an", "Đảng ủy Công an Thành phố", 2, _POLICE, 42),
    _sector("quan-su", "Đảng ủy Quân sự Thành phố", 2, _MILITARY, 37),
    _sector("khoi-dai-hoc", "Đảng bộ Khối các trường Đại học, Cao đẳng Hà Nội", 2,
            _UNIVERSITIES, 30),
    _sector("thanh-doan", "Đoàn Thanh niên / Thành đoàn Hà Nội", 2, _YOUTH, 5),
    _sector("tct-van-tai", "Đảng bộ Tổng Công ty Vận tải Hà Nội", 2, _ENTERPRISES, 12),
    _sector("tct-thuong-mai", "Đảng bộ Tổng Công ty Thương mại Hà Nội", 2, _ENTERPRISES, 14),
    _sector("tct-du-lich", "Đảng bộ Tổng Công ty Du lịch Hà Nội", 2, _ENTERPRISES, 10),
    _sector("tct-ha-tang", "Đảng bộ Tổng Công ty Đầu tư và Phát triển hạ tầng đô thị", 2,
            _ENTERPRISES, 12),
    _sector("nuoc-sach", "Đảng bộ Công ty Nước sạch Hà Nội", 2, _ENTERPRISES, 9),
    _sector("moi-truong-do-thi", "Đảng bộ Công ty Môi trường đô thị Hà Nội", 2, _ENTERPRISES, 10),
    _sector("dien-luc", "Đảng bộ Tổng Công ty Điện lực Thành phố Hà Nội", 2,
            _branches("Công ty Điện lực", _ENTERPRISE_CELLS), 30),
    _sector("so-y-te", "Đảng bộ Sở Y tế Hà Nội", 2, _HEALTH, 50),
    _sector("so-giao-duc", "Đảng bộ Sở Giáo dục và Đào tạo Hà Nội", 2, _HIGH_SCHOOLS, 60),
    _sector("cuc-thue", "Đảng bộ Cục Thuế Thành phố Hà Nội", 2,
            _branches("Chi cục Thuế", _BRANCH_CELLS), 30),
    _sector("kho-bac", "Đảng bộ Kho bạc Nhà nước Hà Nội", 2,
            _branches("Kho bạc Nhà nước", _BRANCH_CELLS), 30),
    _sector("bhxh", "Đảng bộ Bảo hiểm xã hội Thành phố Hà Nội", 2,
            _branches("Bảo hiểm xã hội", _BRANCH_CELLS), 30),
    _sector("vien-kiem-sat", "Đảng bộ Viện Kiểm sát nhân dân Thành phố Hà Nội", 2,
            _branches("Viện Kiểm sát nhân dân", _BRANCH_CELLS), 30),
    _sector("toa-an", "Đảng bộ Tòa án nhân dân Thành phố Hà Nội", 2,
            _branches("Tòa án nhân dân", _BRANCH_CELLS), 30),
)


def build_org_tree(seed: int = 2023, *, scale: float = 1.0) -> list[DemoUnit]:
    """The city, its 50 committees, their grassroots organisations and cells, parents first.

    `scale` shrinks the number of grassroots organisations (at least one per
    committee) so tests can work with a small tree.
    """
    if not 0 < scale <= 1:
        # Above 1 the name pools would run out, and the tree is meant to be Hanoi-sized.
        raise ValueError("scale must be in (0, 1]")
    rng = random.Random(seed)
    units = [DemoUnit(CITY_CODE, CITY_NAME, "city", None, None)]
    for committee in _COMMITTEES:
        units.append(DemoUnit(committee.code, committee.name, "committee", CITY_CODE,
                              committee.wave))
        units.extend(_committee_subtree(committee, scale, rng))
    return units


def _committee_subtree(committee: _Committee, scale: float,
                       rng: random.Random) -> Iterator[DemoUnit]:
    residential_total = len(committee.places) + committee.communes
    full_size = residential_total + committee.organisations
    size = max(1, round(full_size * scale))
    # Scaling keeps the committee's mix of residential and other organisations.
    residential = round(size * residential_total / full_size)
    grassroots = chain(
        _residential_grassroots(committee, residential, rng),
        rng.sample(committee.pool, size - residential),
    )
    for number, (name, cells) in enumerate(grassroots, start=1):
        code = f"{committee.code}-g{number:03d}"
        yield DemoUnit(code, f"Đảng bộ {name}", "grassroots", committee.code, None)
        for cell_number, cell_name in enumerate(cells.cell_names(rng), start=1):
            yield DemoUnit(f"{code}-c{cell_number:02d}", cell_name, "cell", code, None)


def _residential_grassroots(committee: _Committee, count: int,
                            rng: random.Random) -> list[_Grassroots]:
    communes = [f"xã {name}" for name in rng.sample(_PLACE_NAMES, committee.communes)]
    return [(place, _residential_cells(place, rng))
            for place in (list(committee.places) + communes)[:count]]


def _residential_cells(place: str, rng: random.Random) -> _CellPlan:
    if not place.startswith("xã "):
        return _STREET_CELLS
    # Communes are split into villages (thôn) or, in newer areas, numbered quarters.
    return _VILLAGE_CELLS if rng.random() < 0.6 else _HAMLET_CELLS


# --- members ----------------------------------------------------------------


class _Weighted:
    """Weighted choice by bisecting cumulative weights: much cheaper per draw
    than random.choices, which matters at 120,000 rows."""

    __slots__ = ("_items", "_cumulative", "_total")

    def __init__(self, weighted: Sequence[tuple[str, float]]) -> None:
        self._items = [item for item, _ in weighted]
        self._cumulative: list[float] = []
        total = 0.0
        for _, weight in weighted:
            total += weight
            self._cumulative.append(total)
        self._total = total

    def pick(self, rng: random.Random) -> str:
        return self._items[bisect(self._cumulative, rng.random() * self._total)]


_Weights = list[tuple[str, float]]


def _equal(*items: str) -> _Weights:
    return [(item, 1.0) for item in items]


# Shares of Vietnamese family names (percent); Hanoi, being northern, says
# Hoàng and Vũ far more often than the southern Huỳnh and Võ.
_FAMILY_NAMES = _Weighted([
    ("Nguyễn", 38.4), ("Trần", 12.1), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 4.6),
    ("Huỳnh", 0.5), ("Phan", 4.5), ("Vũ", 3.5), ("Võ", 0.4), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.9),
    ("Trịnh", 0.8), ("Đào", 0.8), ("Mai", 0.5), ("Lưu", 0.4), ("Tạ", 0.4), ("Lương", 0.4),
    ("Kiều", 0.3), ("Khuất", 0.2), ("Chu", 0.4), ("Cao", 0.4), ("Hà", 0.4), ("Tô", 0.3),
    ("Lại", 0.2), ("Đoàn", 0.5), ("Nghiêm", 0.2), ("Triệu", 0.2), ("Vương", 0.2),
    ("Phùng", 0.3), ("Quách", 0.1), ("Khổng", 0.1),
])
# Văn and Thị were near-universal middle names for people born before ~1975;
# keyed by (gender, born before _BORN_OLD_STYLE_BEFORE).
_BORN_OLD_STYLE_BEFORE = 1975
_MIDDLE_NAMES: dict[tuple[str, bool], _Weights] = {
    ("male", True): [
        ("Văn", 55), ("Đức", 8), ("Xuân", 6), ("Quang", 6), ("Hữu", 6), ("Minh", 5),
        ("Ngọc", 4), ("Thanh", 3), ("Công", 3), ("Mạnh", 2), ("Trọng", 2),
    ],
    ("male", False): [
        ("Văn", 20), ("Đức", 10), ("Minh", 12), ("Quang", 8), ("Tuấn", 6), ("Hoàng", 5),
        ("Anh", 5), ("Duy", 5), ("Thành", 4), ("Tiến", 4), ("Hữu", 4), ("Mạnh", 4),
        ("Việt", 4), ("Trung", 3), ("Xuân", 3), ("Hải", 3),
    ],
    ("female", True): [
        ("Thị", 65), ("Thị Thu", 5), ("Thị Thanh", 5), ("Thị Minh", 3), ("Thị Hồng", 4),
        ("Thị Kim", 4), ("Thị Ngọc", 3), ("Ngọc", 3), ("Thu", 3), ("Thanh", 3), ("Hồng", 2),
    ],
    ("female", False): [
        ("Thị", 30), ("Thu", 8), ("Ngọc", 8), ("Thanh", 6), ("Minh", 6), ("Phương", 5),
        ("Thùy", 5), ("Hồng", 4), ("Thị Thu", 4), ("Thị Thanh", 4), ("Hải", 4), ("Mai", 3),
        ("Khánh", 3), ("Diệu", 2), ("Bích", 2), ("Kim", 2),
    ],
}
_GIVEN_NAMES: dict[str, _Weights] = {
    "male": _equal(
        "Hùng", "Dũng", "Tuấn", "Hải", "Nam", "Long", "Thắng", "Cường", "Hưng", "Sơn", "Tùng",
        "Quân", "Trung", "Thành", "Minh", "Đức", "Hiếu", "Phong", "Bình", "Khoa", "Huy",
        "Hoàng", "Kiên", "Vinh", "Toàn", "Thịnh", "Quý", "Lâm", "Tâm", "Hòa", "Anh", "Tú",
        "Việt", "Hiệp", "Thanh", "Chiến", "Lợi", "Thuận", "Phúc", "Giang",
    ),
    "female": _equal(
        "Lan", "Hương", "Hoa", "Mai", "Hằng", "Hà", "Linh", "Thủy", "Nga", "Yến", "Hạnh",
        "Trang", "Huyền", "Loan", "Ngọc", "Anh", "Thảo", "Phương", "Dung", "Liên", "Oanh",
        "Nhung", "Hiền", "Vân", "Hồng", "Thu", "Quyên", "Giang", "Chi", "Ly", "Tâm", "Nhàn",
        "Thơm", "Tuyết", "Xuân",
    ),
}


def _personal_names(middles: _Weights, givens: _Weights) -> _Weighted:
    """Middle and given name drawn together, one draw per member instead of two."""
    return _Weighted([
        (f"{middle} {given}", middle_weight * given_weight)
        for middle, middle_weight in middles
        for given, given_weight in givens
        # "Nguyễn Thị Thu Thu" is not a name anyone is given.
        if middle.split()[-1] != given
    ])


_PERSONAL_NAMES = {
    (gender, old_style): _personal_names(middles, _GIVEN_NAMES[gender])
    for (gender, old_style), middles in _MIDDLE_NAMES.items()
}

# Vietnamese mobile prefixes (03x, 05x, 07x, 08x, 09x) in use.
_MOBILE_PREFIXES = (
    "32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70", "76", "77", "78",
    "79", "81", "82", "83", "84", "85", "86", "88", "89", "90", "91", "92", "93", "94", "96",
    "97", "98", "99",
)

_HANOI_PROVINCE = 1  # citizen IDs of people registered in Hanoi start "001"
# Card numbers are "01" (Hanoi) and an 8-digit serial.
_CARD_PREFIX = "01"
_MAX_MEMBERS = 99_999_999

_SHARE_PROBATIONARY = 0.03
_SHARE_EXEMPT = 0.06
_SHARE_NO_PHONE = 0.05
_SHARE_FEMALE = 0.42
# Besides every exempt member, about 3% of all members cannot use the app.
_SHARE_OTHER_INELIGIBLE = 0.032
_EXEMPT_IN_RESIDENTIAL = 0.85

_REASON_EXEMPT = "miễn sinh hoạt đảng"
_REASON_NO_DEVICE = "không có thiết bị"
_REASON_FRAIL = "tuổi cao, sức yếu"

# 18 calendar years span at most 6575 days (five leap days), so this many days
# after birth the member is 18 whatever the birth date.
_DAYS_TO_ADULTHOOD = 18 * 365 + 5


class _CellPicker:
    """Spreads members unevenly: residential cells are larger, and sizes vary."""

    def __init__(self, cells: Sequence[DemoUnit], rng: random.Random) -> None:
        residential = [c.code for c in cells if c.name.startswith(_RESIDENTIAL_CELL_PREFIXES)]
        self.residential = frozenset(residential)
        self._all = _Weighted([(c.code, self._size(c.code, rng)) for c in cells])
        # With no residential cell in the selection, exempt members go anywhere.
        self._for_exempt = (
            _Weighted([(code, self._size(code, rng)) for code in residential])
            if residential else self._all
        )

    def _size(self, code: str, rng: random.Random) -> float:
        if code in self.residential:
            return rng.lognormvariate(0.6, 0.5)
        return rng.lognormvariate(0.0, 0.6)

    def pick(self, rng: random.Random, exempt: bool) -> str:
        if exempt and rng.random() < _EXEMPT_IN_RESIDENTIAL:
            return self._for_exempt.pick(rng)
        return self._all.pick(rng)


def generate_members(
    units: Sequence[DemoUnit],
    count: int,
    seed: int = 2023,
    *,
    pilot_only: bool = True,
    today: date = date(2023, 2, 1),
) -> Iterator[dict[str, str]]:
    """Member rows in import format (every value a string, "" when absent).

    With `pilot_only` the members belong to cells of wave-1 committees only.
    """
    if not 0 <= count <= _MAX_MEMBERS:
        raise ValueError(f"count must be between 0 and {_MAX_MEMBERS}")
    cells = _member_cells(units, pilot_only)
    if not cells:
        raise ValueError("no party cells to place members in")
    rng = random.Random(seed)
    return _member_rows(_CellPicker(cells, rng), count, rng, today)


def _member_cells(units: Sequence[DemoUnit], pilot_only: bool) -> list[DemoUnit]:
    by_code = {unit.code: unit for unit in units}
    cells = [unit for unit in units if unit.kind == "cell"]
    if not pilot_only:
        return cells
    return [cell for cell in cells if _committee_of(cell, by_code).wave == 1]


def _committee_of(unit: DemoUnit, by_code: dict[str, DemoUnit]) -> DemoUnit:
    while unit.kind != "committee":
        if unit.parent is None:
            raise ValueError(f"unit {unit.code} is not under a committee")
        unit = by_code[unit.parent]
    return unit


def _member_rows(picker: _CellPicker, count: int, rng: random.Random,
                 today: date) -> Iterator[dict[str, str]]:
    today_day = today.toordinal()
    latest_official_admission = _years_later(today, -1).toordinal()
    citizen_ids: set[int] = set()
    for serial in range(1, count + 1):
        draw = rng.random()
        status = ("probationary" if draw < _SHARE_PROBATIONARY
                  else "exempt" if draw < _SHARE_PROBATIONARY + _SHARE_EXEMPT
                  else "active")
        unit = picker.pick(rng, exempt=status == "exempt")
        age = _age(status, unit in picker.residential, rng)
        gender = "female" if rng.random() < _SHARE_FEMALE else "male"
        born = _birth_date(today.year - age, rng)
        adult_day = born.toordinal() + _DAYS_TO_ADULTHOOD
        if status == "probationary":
            earliest = max(today_day - 364, adult_day)
            admitted = date.fromordinal(_between(rng, earliest, today_day))
            official = ""
        else:
            admitted = _admission(born, adult_day, latest_official_admission, rng)
            official = _years_later(admitted, 1).isoformat()
        eligible, reason = _eligibility(status, age, rng)
        yield {
            "party_card_no": f"{_CARD_PREFIX}{serial:08d}",
            "full_name": _full_name(gender, born.year, rng),
            "date_of_birth": born.isoformat(),
            "gender": gender,
            "citizen_id": _citizen_id(born.year, gender, rng, citizen_ids),
            "phone": _phone(rng),
            "unit": unit,
            "admitted_on": admitted.isoformat(),
            "official_on": official,
            "status": status,
            "eligible": eligible,
            "ineligible_reason": reason,
        }


def _age(status: str, residential: bool, rng: random.Random) -> int:
    """Age in whole years this year; the bounds keep every member at least 19."""
    if status == "probationary":
        # New members are mostly students and young workers.
        return int(rng.triangular(19, 39, 23))
    if status == "exempt":
        # Exemption is granted mostly for old age, otherwise for illness.
        if rng.random() < 0.85:
            return int(rng.triangular(71, 89, 77))
        return int(rng.triangular(48, 71, 62))
    if residential and rng.random() < 0.55:
        # Retirees keep their membership in the residential cell where they live.
        return int(rng.triangular(60, 89, 70))
    return int(rng.triangular(22, 61, 42))


def _birth_date(year: int, rng: random.Random) -> date:
    first = date(year, 1, 1).toordinal()
    days = date(year + 1, 1, 1).toordinal() - first
    return date.fromordinal(first + int(rng.random() * days))


def _admission(born: date, adult_day: int, latest: int, rng: random.Random) -> date:
    # Most join in their twenties; a few only in middle age.
    day = born.toordinal() + int(rng.triangular(18.5, 45, 25) * 365.25)
    if not adult_day <= day <= latest:
        day = _between(rng, adult_day, latest)
    return date.fromordinal(day)


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28)


def _eligibility(status: str, age: int, rng: random.Random) -> tuple[str, str]:
    if status == "exempt":
        return "false", _REASON_EXEMPT
    if rng.random() >= _SHARE_OTHER_INELIGIBLE:
        return "true", ""
    if age >= 65 and rng.random() < 0.6:
        return "false", _REASON_FRAIL
    return "false", _REASON_NO_DEVICE


def _full_name(gender: str, birth_year: int, rng: random.Random) -> str:
    personal = _PERSONAL_NAMES[gender, birth_year < _BORN_OLD_STYLE_BEFORE].pick(rng)
    return f"{_FAMILY_NAMES.pick(rng)} {personal}"


def _citizen_id(birth_year: int, gender: str, rng: random.Random, taken: set[int]) -> str:
    # The fourth digit encodes century and gender: 0/1 for men/women born in
    # the 1900s, 2/3 for those born in the 2000s.
    century_gender = (0 if birth_year < 2000 else 2) + (gender == "female")
    prefix = (_HANOI_PROVINCE * 10 + century_gender) * 100 + birth_year % 100
    while True:
        number = prefix * 1_000_000 + int(rng.random() * 1_000_000)
        if number not in taken:
            taken.add(number)
            return f"{number:012d}"


def _phone(rng: random.Random) -> str:
    if rng.random() < _SHARE_NO_PHONE:
        return ""
    # One draw for prefix and subscriber number together.
    draw = int(rng.random() * len(_MOBILE_PREFIXES) * 10_000_000)
    prefix, subscriber = divmod(draw, 10_000_000)
    return f"0{_MOBILE_PREFIXES[prefix]}{subscriber:07d}"


def _between(rng: random.Random, low: int, high: int) -> int:
    """A whole number from low to high inclusive."""
    # Like _birth_date, _citizen_id and _phone, this scales random() because that
    # is several times faster than randint; its bias is far below what demo data shows.
    return low + int(rng.random() * (high - low + 1))
