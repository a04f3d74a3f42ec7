import re
import unicodedata
from collections import Counter
from datetime import date

import pytest

from sotay.system.demo.registry import (
    DEFAULT_DEMO_MEMBERS,
    DemoUnit,
    build_org_tree,
    generate_members,
)

TODAY = date(2023, 2, 1)
ROWS = 5_000
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MEMBER_KEYS = {
    "party_card_no", "full_name", "date_of_birth", "gender", "citizen_id", "phone", "unit",
    "admitted_on", "official_on", "status", "eligible", "ineligible_reason",
}
INELIGIBLE_REASONS = {"miễn sinh hoạt đảng", "không có thiết bị", "tuổi cao, sức yếu"}


@pytest.fixture(scope="module")
def tree() -> list[DemoUnit]:
    return build_org_tree()


@pytest.fixture(scope="module")
def by_code(tree: list[DemoUnit]) -> dict[str, DemoUnit]:
    return {unit.code: unit for unit in tree}


@pytest.fixture(scope="module")
def rows(tree: list[DemoUnit]) -> list[dict[str, str]]:
    return list(generate_members(tree, ROWS, today=TODAY))


def committee_of(code: str, by_code: dict[str, DemoUnit]) -> DemoUnit:
    unit = by_code[code]
    while unit.kind != "committee":
        unit = by_code[unit.parent]
    return unit


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def share(rows: list[dict[str, str]], predicate) -> float:
    return sum(1 for row in rows if predicate(row)) / len(rows)


# --- the organisation tree --------------------------------------------------


def test_city_comes_first_with_fifty_committees_under_it(tree):
    assert tree[0] == DemoUnit("city", "Đảng bộ thành phố Hà Nội", "city", None, None)
    committees = [unit for unit in tree if unit.kind == "committee"]
    assert len(committees) == 50
    assert all(unit.parent == "city" for unit in committees)
    assert [unit for unit in tree if unit.parent is None] == [tree[0]]


def test_nine_committees_pilot_and_the_rest_follow_in_wave_two(tree):
    waves = Counter(unit.wave for unit in tree if unit.kind == "committee")
    assert waves == {1: 9, 2: 41}
    assert all(unit.wave is None for unit in tree if unit.kind != "committee")


def test_named_districts_and_sector_committees_are_present(by_code):
    assert by_code["ba-dinh"].name == "Quận ủy Ba Đình"
    assert by_code["son-tay"].name == "Thị ủy Sơn Tây"
    assert by_code["ung-hoa"].name == "Huyện ủy Ứng Hòa"
    assert by_code["khoi-co-quan"].name == "Đảng bộ Khối các cơ quan Thành phố"
    assert by_code["thanh-doan"].kind == "committee"


def test_parents_come_before_children_one_level_up(tree):
    parent_kind = {"committee": "city", "grassroots": "committee", "cell": "grassroots"}
    seen: dict[str, str] = {}
    for unit in tree:
        if unit.kind != "city":
            assert seen.get(unit.parent) == parent_kind[unit.kind], unit
        seen[unit.code] = unit.kind


def test_codes_are_unique_and_valid(tree):
    codes = [unit.code for unit in tree]
    assert len(set(codes)) == len(codes)
    assert all(CODE_RE.fullmatch(code) for code in codes)


def test_codes_follow_the_parent_code(tree):
    for unit in tree:
        if unit.kind == "grassroots":
            assert re.fullmatch(rf"{unit.parent}-g\d{{3}}", unit.code)
        elif unit.kind == "cell":
            assert re.fullmatch(rf"{unit.parent}-c\d{{2}}", unit.code)


def test_names_are_vietnamese_in_nfc(tree):
    assert all(unicodedata.is_normalized("NFC", unit.name) for unit in tree)
    assert all(unit.name.startswith("Chi bộ ") for unit in tree if unit.kind == "cell")
    assert any(unit.name.startswith("Đảng bộ phường ") for unit in tree)
    assert any(unit.name.startswith("Đảng bộ xã ") for unit in tree)


def test_full_tree_has_about_17500_cells_of_2_to_20_per_grassroots(tree):
    cells = Counter(unit.parent for unit in tree if unit.kind == "cell")
    assert 17_500 * 0.95 <= sum(cells.values()) <= 17_500 * 1.05
    grassroots = [unit.code for unit in tree if unit.kind == "grassroots"]
    assert all(2 <= cells[code] <= 20 for code in grassroots)


def test_committees_differ_in_size(tree):
    grassroots = Counter(unit.parent for unit in tree if unit.kind == "grassroots")
    assert max(grassroots.values()) >= 3 * min(grassroots.values())


def test_scale_shrinks_grassroots_but_keeps_every_committee():
    small = build_org_tree(scale=0.01)
    kinds = Counter(unit.kind for unit in small)
    assert kinds["committee"] == 50
    grassroots = Counter(unit.parent for unit in small if unit.kind == "grassroots")
    assert len(grassroots) == 50
    assert kinds["cell"] < 1_000


@pytest.mark.parametrize("scale", [0, -1, 1.5])
def test_scale_outside_zero_to_one_is_rejected(scale):
    with pytest.raises(ValueError):
        build_org_tree(scale=scale)


def test_tree_depends_only_on_the_seed():
    assert build_org_tree(7, scale=0.05) == build_org_tree(7, scale=0.05)
    assert build_org_tree(7, scale=0.05) != build_org_tree(8, scale=0.05)


# --- members ----------------------------------------------------------------


def test_members_depend_only_on_the_seed(tree):
    first = list(generate_members(tree, 300, seed=5))
    assert first == list(generate_members(tree, 300, seed=5))
    assert first != list(generate_members(tree, 300, seed=6))


def test_default_member_count():
    assert DEFAULT_DEMO_MEMBERS == 120_000


def test_rows_have_exactly_the_import_columns_as_text(rows):
    assert len(rows) == ROWS
    for row in rows:
        assert row.keys() == MEMBER_KEYS
        assert all(isinstance(value, str) for value in row.values())


def test_card_numbers_are_unique_digit_strings(rows):
    cards = [row["party_card_no"] for row in rows]
    assert len(set(cards)) == len(cards)
    assert all(re.fullmatch(r"\d{8,12}", card) for card in cards)


def test_citizen_ids_are_unique_and_encode_hanoi_birth_and_gender(rows):
    ids = [row["citizen_id"] for row in rows]
    assert len(set(ids)) == len(ids)
    for row in rows:
        citizen_id, born = row["citizen_id"], date.fromisoformat(row["date_of_birth"])
        assert re.fullmatch(r"001\d{9}", citizen_id)
        century = 0 if born.year < 2000 else 2
        assert citizen_id[3] == str(century + (row["gender"] == "female"))
        assert citizen_id[4:6] == f"{born.year % 100:02d}"


def test_names_are_vietnamese_and_match_gender(rows):
    for row in rows:
        name = row["full_name"]
        assert unicodedata.is_normalized("NFC", name)
        words = name.split()
        assert 3 <= len(words) <= 5 and " ".join(words) == name
        assert all(word.isalpha() and word[0].isupper() for word in words)
        assert row["gender"] in ("male", "female")
        middle = words[1:-1]
        assert "Thị" not in middle if row["gender"] == "male" else "Văn" not in middle
    assert 0.33 <= share(rows, lambda r: r["full_name"].startswith("Nguyễn ")) <= 0.44


def test_birth_dates_span_1935_to_2004_with_many_retirees(rows):
    births = [date.fromisoformat(row["date_of_birth"]) for row in rows]
    assert all(date(1935, 1, 1) <= born <= date(2004, 12, 31) for born in births)
    assert 0.2 <= sum(age_on(born, TODAY) >= 60 for born in births) / len(births) <= 0.6


def test_admission_comes_at_18_or_later_and_official_a_year_after(rows):
    for row in rows:
        born = date.fromisoformat(row["date_of_birth"])
        admitted = date.fromisoformat(row["admitted_on"])
        assert age_on(born, admitted) >= 18
        assert admitted <= TODAY
        if row["status"] == "probationary":
            assert row["official_on"] == ""
            assert (TODAY - admitted).days < 365
        else:
            official = date.fromisoformat(row["official_on"])
            assert admitted < official <= TODAY
            assert official.year == admitted.year + 1 and official.month == admitted.month


def test_phones_are_vietnamese_mobiles_and_a_few_are_missing(rows):
    phones = [row["phone"] for row in rows]
    assert all(phone == "" or re.fullmatch(r"0[35789]\d{8}", phone) for phone in phones)
    assert 0.03 <= phones.count("") / len(phones) <= 0.07


def test_status_mix_is_mostly_active_with_old_exempt_members(rows):
    statuses = Counter(row["status"] for row in rows)
    assert set(statuses) == {"active", "probationary", "exempt"}
    assert 0.88 <= statuses["active"] / ROWS <= 0.94
    assert 0.02 <= statuses["probationary"] / ROWS <= 0.04
    assert 0.045 <= statuses["exempt"] / ROWS <= 0.075
    exempt = [row for row in rows if row["status"] == "exempt"]
    over_70 = sum(age_on(date.fromisoformat(r["date_of_birth"]), TODAY) >= 70 for r in exempt)
    assert over_70 / len(exempt) >= 0.75


def test_about_nine_percent_are_ineligible_with_a_reason(rows):
    for row in rows:
        if row["eligible"] == "true":
            assert row["ineligible_reason"] == ""
        else:
            assert row["eligible"] == "false"
            assert row["ineligible_reason"] in INELIGIBLE_REASONS
        if row["status"] == "exempt":
            assert (row["eligible"], row["ineligible_reason"]) == ("false", "miễn sinh hoạt đảng")
    assert 0.07 <= share(rows, lambda r: r["eligible"] == "false") <= 0.11
    reasons = Counter(row["ineligible_reason"] for row in rows)
    assert reasons["không có thiết bị"] > 0 and reasons["tuổi cao, sức yếu"] > 0


def test_pilot_members_belong_to_cells_of_wave_one_committees_only(rows, by_code):
    assert all(by_code[row["unit"]].kind == "cell" for row in rows)
    assert {committee_of(row["unit"], by_code).wave for row in rows} == {1}


def test_members_spread_unevenly_over_cells(rows):
    per_cell = Counter(row["unit"] for row in rows)
    assert max(per_cell.values()) >= 4 * (len(rows) / len(per_cell))


def test_without_pilot_only_members_reach_every_wave(tree, by_code):
    rows = generate_members(tree, 2_000, pilot_only=False)
    assert {committee_of(row["unit"], by_code).wave for row in rows} == {1, 2}


def test_rules_hold_for_another_today():
    today = date(2025, 6, 1)
    for row in generate_members(build_org_tree(scale=0.05), 1_000, today=today):
        born = date.fromisoformat(row["date_of_birth"])
        admitted = date.fromisoformat(row["admitted_on"])
        assert age_on(born, admitted) >= 18 and admitted <= today
        assert row["official_on"] == "" or date.fromisoformat(row["official_on"]) <= today


def test_a_tree_without_pilot_cells_is_rejected():
    wave_two_only = [
        DemoUnit("city", "Đảng bộ thành phố Hà Nội", "city", None, None),
        DemoUnit("tay-ho", "Quận ủy Tây Hồ", "committee", "city", 2),
        DemoUnit("tay-ho-g001", "Đảng bộ phường Bưởi", "grassroots", "tay-ho", None),
        DemoUnit("tay-ho-g001-c01", "Chi bộ Tổ dân phố số 1", "cell", "tay-ho-g001", None),
    ]
    with pytest.raises(ValueError):
        generate_members(wave_two_only, 10)
    assert len(list(generate_members(wave_two_only, 10, pilot_only=False))) == 10


def test_negative_count_is_rejected(tree):
    with pytest.raises(ValueError):
        generate_members(tree, -1)
