import time
import uuid

import jsonschema
import pytest

from sotay.contracts.members import CATALOGUE, MemberRegistered, OrgUnitCreated
from sotay.kit.events import make_message, parse_envelope, sequence_of, snake_case, uuid7


def test_uuid7_is_version_7_and_sorts_by_creation_time():
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first.version == second.version == 7
    assert first.variant == uuid.RFC_4122
    assert str(first) < str(second)


def test_event_type_and_subject_follow_the_contract():
    # Version 2 since member events seal the person under the member's key (issue 19).
    assert MemberRegistered.event_type() == "sotay.members.MemberRegistered.v2"
    assert OrgUnitCreated.event_type() == "sotay.members.OrgUnitCreated.v1"
    assert MemberRegistered.subject_for("ba-dinh") == "sotay.members.member_registered.ba-dinh"
    assert OrgUnitCreated.subject_pattern() == "sotay.members.org_unit_created.*"
    assert snake_case("AccountApproved") == "account_approved"


@pytest.mark.parametrize("committee", ["ba.dinh", "ba dinh", "*", ">", ""])
def test_a_committee_code_that_would_break_the_subject_is_refused(committee):
    with pytest.raises(ValueError):
        MemberRegistered.subject_for(committee)


def test_an_envelope_validates_against_its_schema_and_a_broken_one_does_not():
    event = OrgUnitCreated(unit_id="u1", code="ba-dinh", name="Quận Ba Đình", kind="committee", parent="city",
                           committee="ba-dinh", path=["city", "ba-dinh"], wave=1)
    message = make_message(event, aggregate_id="u1", committee="ba-dinh", orgunit="ba-dinh", sequence=1)
    schema = CATALOGUE.envelope_schema(OrgUnitCreated.event_type())
    jsonschema.validate(message.envelope, schema)
    assert message.envelope["time"].endswith("Z")
    broken = {**message.envelope, "data": {**message.envelope["data"], "kind": "planet"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("body, reason", [
    (b"not json", "expected"),
    (b"[]", "not a JSON object"),
    (b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t"}', "lacks data"),
    (b'{"specversion": "0.3", "id": "x", "source": "s", "type": "t", "data": {}}', "specversion"),
    (b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": ["t"], '
     b'"data": {}}', "type is not a string"),
    (b'{"specversion": "1.0", "id": "01A2228A-EBAB-7735-9047-CEF44EFC4AC0", "source": "s", "type": "t", '
     b'"data": {}}', "canonical"),
    (b'{"specversion": "1.0", "id": "urn:uuid:01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": "t", '
     b'"data": {}}', "canonical"),
    (b'{"specversion": "1.0", "id": 7, "source": "s", "type": "t", "data": {}}', "id is not a string"),
    (b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": "t", '
     b'"data": "x"}', "data is not a JSON object"),
    (b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": "t", '
     b'"data": {}, "sequence": "v9"}', "not an aggregate version"),
    (b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": "t", '
     b'"data": {}, "sequence": -1}', "not an aggregate version"),
    (b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", "type": "t", '
     b'"data": {}, "sequence": true}', "not an aggregate version"),
])
def test_parse_envelope_refuses_what_no_consumer_could_apply(body, reason):
    with pytest.raises(ValueError, match=reason):
        parse_envelope(body)


def test_the_sequence_is_a_string_of_20_digits_that_sorts_in_order_and_old_integers_still_read():
    event = OrgUnitCreated(unit_id="u1", code="ba-dinh", name="Quận Ba Đình", kind="committee", parent="city",
                           committee="ba-dinh", path=["city", "ba-dinh"], wave=1)
    nine, ten = (make_message(event, aggregate_id="u1", committee="ba-dinh", sequence=v).envelope for v in (9, 10))
    assert nine["sequence"] == "00000000000000000009" and ten["sequence"] == "00000000000000000010"
    assert nine["sequence"] < ten["sequence"] and str(9) > str(10)  # why the padding
    assert make_message(event, aggregate_id="u1", committee="ba-dinh").envelope["sequence"] is None
    # Consumers compare versions: the string form, the integer of events published before it
    # (replayed from the streams), none.
    assert [sequence_of(e) for e in (nine, ten, {"sequence": 9}, {"sequence": None}, {})] == [9, 10, 9, 0, 0]
    assert parse_envelope(b'{"specversion": "1.0", "id": "01a2228a-ebab-7735-9047-cef44efc4ac0", "source": "s", '
                          b'"type": "t", "data": {}, "sequence": 12}')["sequence"] == 12
    schema = CATALOGUE.envelope_schema(OrgUnitCreated.event_type())
    assert {"specversion", "id", "source", "type"} <= set(schema["required"])
    jsonschema.validate(ten, schema)
    for wrong in ({**ten, "sequence": 10}, {**ten, "sequence": "10"}, {k: v for k, v in ten.items() if k != "specversion"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)
