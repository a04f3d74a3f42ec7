import dataclasses
import unicodedata
from datetime import date, datetime

import pytest

from services.members.domain import (
    ACTIVE_STANDING,
    MEMBER_FIELDS,
    STATUSES,
    FieldError,
    InvalidInput,
    Member,
    fold,
    interpret_query,
    member_to_row,
    normalise_card_no,
    normalise_citizen_id,
    normalise_name,
    normalise_phone,
    parse_member,
    parse_member_patch,
)

TODAY = date(2025, 6, 1)


def valid_raw(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "party_card_no": "01.234567",
        "full_name": "  Nguyễn   Văn An ",
        "date_of_birth": "1980-05-17",
        "gender": "male",
        "citizen_id": "001080012345",
        "phone": "0912 345 678",
        "unit": "chi-bo-3",
        "admitted_on": "2005-03-02",
        "official_on": "2006-03-02",
        "status": "active",
        "eligible": "true",
        "ineligible_reason": "",
    }
    raw.update(overrides)
    return raw


def errors_of(raw: dict[str, object]) -> list[FieldError]:
    with pytest.raises(InvalidInput) as caught:
        parse_member(raw, today=TODAY)
    return caught.value.errors


def fields_of(raw: dict[str, object]) -> list[str]:
    return [e.field for e in errors_of(raw)]


# --- normalise_card_no ----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("01234567", "01234567"),
        ("01.234567", "01234567"),
        (" 012 345 678 901 ", "012345678901"),
        ("12\u00a0345\u00a0678", "12345678"),
        ("01.2345678901", "012345678901"),
    ],
)
def test_card_no_accepted(given: str, expected: str) -> None:
    assert normalise_card_no(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "1234567",  # 7 digits
        "1234567890123",  # 13 digits
        "01.23456",  # 7 digits once the dot is dropped
        "0123.4567",  # dot only allowed after the first two digits
        "01.2345.67",
        "01-234567",
        "0123456A",
        "١٢٣٤٥٦٧٨",  # Arabic-Indic digits are digits to Python, not to us
    ],
)
def test_card_no_rejected(given: str) -> None:
    with pytest.raises(ValueError, match="must be 8 to 12 digits"):
        normalise_card_no(given)


# --- normalise_citizen_id -------------------------------------------------


@pytest.mark.parametrize("given", ["001080012345", " 001 080 012 345 "])
def test_citizen_id_accepted(given: str) -> None:
    assert normalise_citizen_id(given) == "001080012345"


@pytest.mark.parametrize("given", ["", "00108001234", "0010800123456", "00108001234X", "001-080-012345"])
def test_citizen_id_rejected(given: str) -> None:
    with pytest.raises(ValueError, match="must be exactly 12 digits"):
        normalise_citizen_id(given)


# --- normalise_phone ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("091-234-5678", "+84912345678"),
        ("0912 345 678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("(+84) 912-345-678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0353456789", "+84353456789"),
        ("0583456789", "+84583456789"),
        ("0703456789", "+84703456789"),
        ("0813456789", "+84813456789"),
        ("02438221234", "+842438221234"),
        ("(024) 3822 1234", "+842438221234"),
        ("+842438221234", "+842438221234"),
    ],
)
def test_phone_accepted(given: str, expected: str) -> None:
    assert normalise_phone(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "912345678",  # no 0 / 84 / +84 prefix
        "091234567",  # mobile one digit short
        "09123456789",  # mobile one digit long
        "0112345678",  # no numbers start with 1
        "0412345678",
        "0612345678",
        "0243822123",  # landline one digit short
        "+840912345678",  # trunk 0 kept after the country code
        "+85512345678",  # Cambodia
        "09123a5678",
        "0912/345/678",
    ],
)
def test_phone_rejected(given: str) -> None:
    with pytest.raises(ValueError, match="must "):
        normalise_phone(given)


# --- fold -----------------------------------------------------------------


COMPOSED = "Nguyễn"
DECOMPOSED = "Nguye\u0302\u0303n"


def test_decomposed_sample_really_is_the_same_name() -> None:
    assert COMPOSED != DECOMPOSED
    assert unicodedata.normalize("NFC", DECOMPOSED) == COMPOSED


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Nguyễn Văn An", "nguyen van an"),
        (f"{DECOMPOSED} Văn An", "nguyen van an"),
        ("ĐẶNG  Thị\tĐào", "dang thi dao"),
        ("  Trần   Hưng Đạo ", "tran hung dao"),
        ("Lương Thế Vinh", "luong the vinh"),
        ("Ngô Thị Ửng", "ngo thi ung"),
    ],
)
def test_fold(given: str, expected: str) -> None:
    assert fold(given) == expected


@pytest.mark.parametrize("name", ["Nguyễn Văn An", "Đỗ Thị Hường", "Trương Quốc Việt", "Phạm Thị Ỷ"])
def test_fold_ignores_unicode_normal_form(name: str) -> None:
    forms = {unicodedata.normalize(form, name) for form in ("NFC", "NFD", "NFKC", "NFKD")}
    assert len({fold(f) for f in forms}) == 1


# --- normalise_name -------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("  Nguyễn   Văn  An ", "Nguyễn Văn An"),
        (f"{DECOMPOSED} Văn An", "Nguyễn Văn An"),
        ("Lê Thị\tBé\nBa", "Lê Thị Bé Ba"),
        ("H'Hen Niê", "H'Hen Niê"),
        ("Ka", "Ka"),
        ("A" * 120, "A" * 120),
    ],
)
def test_name_accepted(given: str, expected: str) -> None:
    assert normalise_name(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("A", "must be 2 to 120 characters"),
        ("   ", "must be 2 to 120 characters"),
        ("A" * 121, "must be 2 to 120 characters"),
        ("Nguyễn Văn 2", "must not contain digits"),
        ("Nguyễn\x00An", "must not contain control characters"),
        ("Nguyễn\u200bAn", "must not contain control characters"),
        ("--", "must contain a letter"),
    ],
)
def test_name_rejected(given: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_name(given)


def test_name_is_stored_precomposed() -> None:
    assert normalise_name(DECOMPOSED) == COMPOSED


# --- Member ---------------------------------------------------------------


@pytest.mark.parametrize("status", STATUSES)
def test_active_standing_and_eligibility(status: str) -> None:
    member = parse_member(
        valid_raw(status=status, eligible="false", ineligible_reason="Ốm dài ngày"), today=TODAY
    )
    assert member.in_active_standing is (status in ACTIVE_STANDING)
    assert member.counts_as_eligible is False
    if status in ACTIVE_STANDING:
        eligible = dataclasses.replace(member, eligible=True, ineligible_reason=None)
        assert eligible.counts_as_eligible is True


def test_member_is_immutable() -> None:
    member = parse_member(valid_raw(), today=TODAY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        member.status = "removed"  # type: ignore[misc]


# --- parse_member: whole records ------------------------------------------


def test_parse_full_record_normalises_every_field() -> None:
    member = parse_member(valid_raw(), today=TODAY)
    assert member == Member(
        party_card_no="01234567",
        full_name="Nguyễn Văn An",
        date_of_birth=date(1980, 5, 17),
        gender="male",
        citizen_id="001080012345",
        phone="+84912345678",
        unit="chi-bo-3",
        admitted_on=date(2005, 3, 2),
        official_on=date(2006, 3, 2),
        status="active",
        eligible=True,
        ineligible_reason=None,
    )


def test_only_required_fields_gives_defaults() -> None:
    member = parse_member(
        {"party_card_no": "12345678", "full_name": "Trần Thị Bình", "date_of_birth": "1990-01-01", "unit": "cb-1"},
        today=TODAY,
    )
    assert (member.status, member.eligible) == ("active", True)
    assert member.gender is member.citizen_id is member.phone is None
    assert member.admitted_on is member.official_on is member.ineligible_reason is None


def test_empty_strings_mean_absent() -> None:
    raw = valid_raw(gender="", citizen_id="  ", phone="", admitted_on="", official_on="", status="", eligible="")
    member = parse_member(raw, today=TODAY)
    assert member.gender is member.citizen_id is member.phone is None
    assert member.admitted_on is member.official_on is None
    assert (member.status, member.eligible) == ("active", True)


def test_none_means_absent() -> None:
    member = parse_member(valid_raw(phone=None, gender=None, eligible=None), today=TODAY)
    assert member.phone is member.gender is None
    assert member.eligible is True


def test_every_required_field_missing_is_reported() -> None:
    assert errors_of({}) == [
        FieldError("party_card_no", "is required"),
        FieldError("full_name", "is required"),
        FieldError("date_of_birth", "is required"),
        FieldError("unit", "is required"),
    ]


def test_blank_required_field_is_missing() -> None:
    assert errors_of(valid_raw(full_name="   ")) == [FieldError("full_name", "is required")]


def test_all_errors_are_reported_together() -> None:
    raw = valid_raw(
        party_card_no="12-34",
        phone="12345",
        date_of_birth="1900-01-01",
        gender="khác",
        unit="Chi Bộ 3",
        status="retired",
    )
    assert sorted(fields_of(raw)) == sorted(
        ["party_card_no", "phone", "date_of_birth", "gender", "unit", "status"]
    )


def test_invalid_input_message_lists_errors() -> None:
    with pytest.raises(InvalidInput, match="phone must .*; unit is required"):
        parse_member(valid_raw(phone="1", unit=""), today=TODAY)


def test_unknown_keys_are_ignored() -> None:
    member = parse_member(valid_raw(ghi_chu="anything", notes=object()), today=TODAY)
    assert member.party_card_no == "01234567"


def test_whole_numbers_are_accepted_as_text() -> None:
    assert parse_member(valid_raw(party_card_no=12345678), today=TODAY).party_card_no == "12345678"
    # citizen_id lost its leading zeros as a number: that is the file reader's job to fix.
    assert fields_of(valid_raw(citizen_id=1080012345)) == ["citizen_id"]


@pytest.mark.parametrize("value", [True, 1.5, date(2020, 1, 1)])
def test_non_text_values_are_rejected_for_text_fields(value: object) -> None:
    assert errors_of(valid_raw(full_name=value)) == [FieldError("full_name", "must be text")]


# --- parse_member: dates --------------------------------------------------


@pytest.mark.parametrize("value", [date(1980, 5, 17), datetime(1980, 5, 17, 0, 0), " 1980-05-17 ", "17/05/1980",
                                   "17/5/1980", "17.05.1980", "17-05-1980"])
def test_date_forms_accepted(value: object) -> None:
    assert parse_member(valid_raw(date_of_birth=value), today=TODAY).date_of_birth == date(1980, 5, 17)


@pytest.mark.parametrize("value", ["05/17/1980", "31/02/1980", "1980-5-17", "19800517", "1980-02-30", "hôm qua",
                                   "17/05/80", 1980])
def test_bad_dates_rejected(value: object) -> None:
    assert errors_of(valid_raw(date_of_birth=value)) == [
        FieldError("date_of_birth", "must be a real date written day/month/year (for example 01/05/1960)")
    ]


def test_birth_date_in_future_rejected() -> None:
    raw = valid_raw(date_of_birth="2025-06-02", admitted_on="", official_on="")
    assert errors_of(raw) == [FieldError("date_of_birth", "cannot be in the future")]


def test_birth_date_today_is_not_in_the_future() -> None:
    raw = valid_raw(date_of_birth=TODAY.isoformat(), admitted_on="", official_on="")
    assert parse_member(raw, today=TODAY).date_of_birth == TODAY


def test_oldest_member_is_120() -> None:
    assert parse_member(valid_raw(date_of_birth="1904-06-02"), today=TODAY)
    assert errors_of(valid_raw(date_of_birth="1904-06-01")) == [
        FieldError("date_of_birth", "member cannot be older than 120")
    ]


# --- parse_member: choices ------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("female", "female"), (" Male ", "male"), ("FEMALE", "female")])
def test_gender_accepted(given: str, expected: str) -> None:
    assert parse_member(valid_raw(gender=given), today=TODAY).gender == expected


@pytest.mark.parametrize(("given", "expected"), [("Nam", "male"), ("nữ", "female"), ("NỮ", "female"), ("nu", "female")])
def test_gender_in_vietnamese_accepted(given: str, expected: str) -> None:
    assert parse_member(valid_raw(gender=given), today=TODAY).gender == expected


@pytest.mark.parametrize(("given", "expected"), [("Đang sinh hoạt", "active"), ("dự bị", "probationary"),
                                                 ("Miễn sinh hoạt", "exempt")])
def test_standing_in_vietnamese_accepted(given: str, expected: str) -> None:
    assert parse_member(valid_raw(status=given), today=TODAY).status == expected


@pytest.mark.parametrize("given", ["m", "other", "nam nữ"])
def test_gender_rejected(given: str) -> None:
    assert errors_of(valid_raw(gender=given)) == [FieldError("gender", "must be one of: male, female")]


@pytest.mark.parametrize(("given", "expected"), [(" Chi-Bo-3 ", "chi-bo-3"), ("7", "7"), ("a" * 40, "a" * 40)])
def test_unit_accepted(given: str, expected: str) -> None:
    assert parse_member(valid_raw(unit=given), today=TODAY).unit == expected


@pytest.mark.parametrize("given", ["-chi-bo", "chi bo", "chi_bo", "chi-bo\n3", "a" * 41, "đảng-bộ"])
def test_unit_rejected(given: str) -> None:
    assert fields_of(valid_raw(unit=given)) == ["unit"]


@pytest.mark.parametrize("status", ["active", "probationary", "exempt"])
def test_active_statuses_may_be_eligible(status: str) -> None:
    assert parse_member(valid_raw(status=status.upper()), today=TODAY).status == status


def test_unknown_status_rejected() -> None:
    errors = errors_of(valid_raw(status="retired"))
    assert [e.field for e in errors] == ["status"]
    assert errors[0].reason.startswith("must be one of: active, probationary")


# --- parse_member: eligibility --------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("có", True),
        ("CÓ", True),
        ("co\u0301", True),  # decomposed "có"
        (True, True),
        (1, True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("không", False),
        ("KHÔNG", False),
        (False, False),
        (0, False),
    ],
)
def test_eligible_words(given: object, expected: bool) -> None:
    reason = "" if expected else "Đi làm ăn xa"
    member = parse_member(valid_raw(eligible=given, ineligible_reason=reason), today=TODAY)
    assert member.eligible is expected


@pytest.mark.parametrize("given", ["maybe", "y", "co", 2, 0.0])
def test_eligible_rejects_other_values(given: object) -> None:
    assert fields_of(valid_raw(eligible=given)) == ["eligible"]


def test_ineligible_member_needs_a_reason() -> None:
    assert errors_of(valid_raw(eligible="false")) == [
        FieldError("ineligible_reason", "is required when eligible is false")
    ]


def test_ineligible_reason_is_kept_tidy() -> None:
    member = parse_member(valid_raw(eligible="không", ineligible_reason="  Ốm   dài ngày "), today=TODAY)
    assert member.ineligible_reason == "Ốm dài ngày"


def test_eligible_member_must_not_have_a_reason() -> None:
    assert errors_of(valid_raw(eligible="true", ineligible_reason="Ốm")) == [
        FieldError("ineligible_reason", "must be empty when eligible is true")
    ]


@pytest.mark.parametrize("status", ["transferred_out", "deceased", "removed"])
def test_members_out_of_standing_cannot_be_eligible(status: str) -> None:
    assert errors_of(valid_raw(status=status, eligible="true")) == [
        FieldError("eligible", f"must be false for a member who is {status}")
    ]


def test_eligible_defaults_to_true_even_for_deceased_members() -> None:
    # The default is not status-dependent: the clerk must say so explicitly.
    assert fields_of(valid_raw(status="deceased", eligible="")) == ["eligible"]


def test_deceased_member_with_reason_is_valid() -> None:
    member = parse_member(valid_raw(status="deceased", eligible="0", ineligible_reason="Từ trần"), today=TODAY)
    assert (member.status, member.eligible, member.counts_as_eligible) == ("deceased", False, False)


# --- parse_member: admission and official dates ---------------------------


def test_admission_on_18th_birthday_is_allowed() -> None:
    raw = valid_raw(date_of_birth="1987-03-02", admitted_on="2005-03-02")
    assert parse_member(raw, today=TODAY).admitted_on == date(2005, 3, 2)


def test_admission_the_day_before_18th_birthday_is_rejected() -> None:
    raw = valid_raw(date_of_birth="1987-03-03", admitted_on="2005-03-02")
    assert errors_of(raw) == [FieldError("admitted_on", "member must be 18 or older at admission")]


def test_leap_day_birthday_turns_18_on_1_march() -> None:
    too_early = valid_raw(date_of_birth="2000-02-29", admitted_on="2018-02-28", official_on="")
    assert fields_of(too_early) == ["admitted_on"]
    on_time = valid_raw(date_of_birth="2000-02-29", admitted_on="2018-03-01", official_on="")
    assert parse_member(on_time, today=TODAY).admitted_on == date(2018, 3, 1)


def test_admission_in_future_rejected() -> None:
    raw = valid_raw(admitted_on="2025-06-02", official_on="")
    assert errors_of(raw) == [FieldError("admitted_on", "cannot be in the future")]


def test_admission_age_is_not_checked_against_an_invalid_birth_date() -> None:
    assert fields_of(valid_raw(date_of_birth="1980-13-01")) == ["date_of_birth"]


@pytest.mark.parametrize("official_on", ["2005-03-02", "2005-03-01"])
def test_official_date_must_follow_admission(official_on: str) -> None:
    assert errors_of(valid_raw(official_on=official_on)) == [
        FieldError("official_on", "must be after admitted_on")
    ]


def test_official_date_day_after_admission_is_allowed() -> None:
    assert parse_member(valid_raw(official_on="2005-03-03"), today=TODAY).official_on == date(2005, 3, 3)


def test_official_date_needs_admission_date() -> None:
    assert errors_of(valid_raw(admitted_on="")) == [FieldError("official_on", "requires admitted_on")]


def test_invalid_admission_date_is_reported_once() -> None:
    assert fields_of(valid_raw(admitted_on="31/02/2005")) == ["admitted_on"]


def test_official_date_in_future_rejected() -> None:
    assert errors_of(valid_raw(official_on="2026-01-01")) == [FieldError("official_on", "cannot be in the future")]


# --- parse_member_patch ---------------------------------------------------


@pytest.fixture
def current() -> Member:
    return parse_member(valid_raw(), today=TODAY)


def test_patch_changes_only_given_fields(current: Member) -> None:
    updated = parse_member_patch({"phone": "+84 353 456 789"}, current=current, today=TODAY)
    assert updated == dataclasses.replace(current, phone="+84353456789")
    assert current.phone == "+84912345678"


def test_empty_patch_returns_equal_member(current: Member) -> None:
    assert parse_member_patch({}, current=current, today=TODAY) == current


def test_patch_cannot_change_card_number(current: Member) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_member_patch({"party_card_no": "99999999"}, current=current, today=TODAY)
    assert caught.value.errors == [FieldError("party_card_no", "cannot be changed")]


@pytest.mark.parametrize("same", ["01234567", "01.234567", " 01 234 567 "])
def test_patch_may_repeat_the_same_card_number(current: Member, same: str) -> None:
    assert parse_member_patch({"party_card_no": same}, current=current, today=TODAY) == current


def test_patch_reports_card_change_with_other_errors(current: Member) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_member_patch({"party_card_no": "x", "phone": "123", "gender": "khác"}, current=current, today=TODAY)
    assert [e.field for e in caught.value.errors] == ["party_card_no", "gender", "phone"]


def test_patch_revalidates_cross_field_rules(current: Member) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_member_patch({"status": "deceased"}, current=current, today=TODAY)
    assert caught.value.errors == [FieldError("eligible", "must be false for a member who is deceased")]

    updated = parse_member_patch(
        {"status": "deceased", "eligible": False, "ineligible_reason": "Từ trần"}, current=current, today=TODAY
    )
    assert (updated.status, updated.counts_as_eligible) == ("deceased", False)


def test_patch_revalidates_dates_against_stored_values(current: Member) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_member_patch({"official_on": "2004-01-01"}, current=current, today=TODAY)
    assert caught.value.errors == [FieldError("official_on", "must be after admitted_on")]


def test_patch_clears_optional_fields(current: Member) -> None:
    updated = parse_member_patch({"phone": None, "gender": ""}, current=current, today=TODAY)
    assert updated.phone is updated.gender is None


def test_patch_cannot_clear_required_fields(current: Member) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_member_patch({"unit": "", "full_name": None}, current=current, today=TODAY)
    assert caught.value.errors == [FieldError("full_name", "is required"), FieldError("unit", "is required")]


def test_patch_ignores_unknown_keys(current: Member) -> None:
    assert parse_member_patch({"password": "x", "id": 7}, current=current, today=TODAY) == current


# --- member_to_row --------------------------------------------------------


def test_member_to_row_gives_import_column_text(current: Member) -> None:
    row = member_to_row(dataclasses.replace(current, gender=None))
    assert tuple(row) == MEMBER_FIELDS
    assert row == {
        "party_card_no": "01234567",
        "full_name": "Nguyễn Văn An",
        "date_of_birth": "1980-05-17",
        "gender": "",
        "citizen_id": "001080012345",
        "phone": "+84912345678",
        "unit": "chi-bo-3",
        "admitted_on": "2005-03-02",
        "official_on": "2006-03-02",
        "status": "active",
        "eligible": "true",
        "ineligible_reason": "",
    }


def test_member_to_row_round_trips_through_parse_member(current: Member) -> None:
    ineligible = dataclasses.replace(current, eligible=False, ineligible_reason="Ốm dài ngày", phone="+842438221234")
    for member in (current, ineligible):
        assert parse_member(member_to_row(member), today=TODAY) == member
    assert member_to_row(ineligible)["eligible"] == "false"


# --- what a search box asks for ---------------------------------------------------------


@pytest.mark.parametrize("q,expected", [
    ("01.234567", ("01234567", None, None)),                       # a card number
    ("0912 345 678", ("0912345678", "+84912345678", None)),        # a card or a phone: both
    ("+84 912 345 678", (None, "+84912345678", None)),             # a phone only
    ("  Trần Thị Bình ", (None, None, "tran thi binh")),           # (part of) a name, folded
    ("", (None, None, None)), ("   ", (None, None, None)), (None, (None, None, None)),
])
def test_a_search_box_takes_a_card_a_phone_or_a_name(q, expected) -> None:
    assert interpret_query(q) == expected


def test_without_phones_a_number_is_a_card_number_only() -> None:
    assert interpret_query("0912 345 678", phones=False) == ("0912345678", None, None)
    assert interpret_query("+84 912 345 678", phones=False)[:2] == (None, None)
