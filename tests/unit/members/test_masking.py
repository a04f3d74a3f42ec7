"""What a reader who is not a registry writer (a cell secretary) sees of a member's identifiers."""

import pytest

from services.members.domain import mask_citizen_id, mask_fields, mask_phone, mask_value


@pytest.mark.parametrize("citizen_id, masked", [
    ("001088012345", "********2345"),
    ("001 088 012 345", "********2345"),  # as a member typed it in a correction request
    ("12345", "************"),  # too short to show anything of
    ("", ""),
    (None, None),
])
def test_a_citizen_id_shows_its_last_four_digits(citizen_id, masked):
    assert mask_citizen_id(citizen_id) == masked


@pytest.mark.parametrize("phone, masked", [
    ("+84987654705", "*******705"),
    ("0987654705", "*******705"),
    ("0987 654 705", "*******705"),
    ("+84 987.654.705", "*******705"),
    ("84987654705", "*******705"),
    ("+842438251234", "********234"),  # a landline: the national number's 11 digits
    ("12-34", "**********"),
    ("", ""),
    (None, None),
])
def test_a_phone_shows_its_last_three_digits_whatever_its_form(phone, masked):
    assert mask_phone(phone) == masked


def test_every_written_form_of_one_phone_masks_alike():
    forms = ("+84987654705", "0987654705", "0987 654 705", "+84 987 654 705", "098-765-4705")
    assert {mask_phone(f) for f in forms} == {"*******705"}


def test_masks_hide_everything_but_the_shown_digits():
    assert "0012" not in mask_citizen_id("001088012345")
    assert "987654" not in mask_phone("+84987654705")


def test_other_fields_pass_unchanged():
    assert mask_value("full_name", "Nguyễn Văn An") == "Nguyễn Văn An"
    assert mask_value("phone", None) is None
    assert mask_value("eligible", True) is True


def test_a_record_a_proposal_and_a_history_entry_are_masked_field_by_field():
    record = {"full_name": "Nguyễn Văn An", "citizen_id": "001088012345", "phone": "+84987654705", "unit": "c1"}
    assert mask_fields(record) == {"full_name": "Nguyễn Văn An", "citizen_id": "********2345",
                                   "phone": "*******705", "unit": "c1"}
    proposal = {"phone": "0912 999 999", "gender": "female"}
    assert mask_fields(proposal) == {"phone": "*******999", "gender": "female"}
    changed = {"phone": {"from": "+84987654705", "to": ""}, "citizen_id": {"from": "", "to": "001088054321"},
               "full_name": {"from": "An", "to": "Ân"}}
    assert mask_fields(changed) == {"phone": {"from": "*******705", "to": ""},
                                    "citizen_id": {"from": "", "to": "********4321"},
                                    "full_name": {"from": "An", "to": "Ân"}}
    transfer = {"from": "bd-g1-c1", "to": "th-g1-c1"}
    assert mask_fields(transfer) == transfer
