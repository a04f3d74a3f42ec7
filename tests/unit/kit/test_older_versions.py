"""An older version of an event a consumer follows is read as the current one (docs/events.md,
"Versions"): the member events' v1 becomes the v2 a consumer would have opened, with the same keyed
hashes the registry makes, and nothing more of the person."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest

from services.members.domain import Member, member_personal
from sotay.contracts.members import MEMBER_SNAPSHOTS, MemberRegistered, MemberTransferred
from sotay.kit.consumer import Consumer, PermanentError

KEY = b"k" * 32


def pii_hash(value: str) -> str:
    return hmac.digest(KEY, value.encode(), hashlib.sha256).hex()


MEMBER = Member(party_card_no="0100000123", full_name="Nguyễn  Thị Ánh", date_of_birth=date(1970, 3, 9),
                gender="female", citizen_id="001170000123", phone="0912345678", unit="bd-g1-c1",
                admitted_on=date(1995, 5, 19), official_on=date(1996, 5, 19), status="active", eligible=True,
                ineligible_reason=None)


def v1_envelope(event_type: str = "sotay.members.MemberRegistered.v1", **extra) -> dict:
    """As members published it before issue 19."""
    data = {"member_id": "m-1", "party_card_no": MEMBER.party_card_no, "full_name": MEMBER.full_name,
            "date_of_birth": "1970-03-09", "gender": "female", "unit": "bd-g1-c1",
            "unit_path": ["city", "ba-dinh", "bd-g1", "bd-g1-c1"], "status": "active", "eligible": True,
            "ineligible_reason": None, "admitted_on": "1995-05-19", "official_on": "1996-05-19",
            "citizen_id_hash": pii_hash(MEMBER.citizen_id), "phone_hash": pii_hash(MEMBER.phone),
            "phone_tail": "678", "source": "import"} | extra
    return {"id": "e-1", "type": event_type, "subject": "m-1", "data": data}


def consumer(**kw) -> Consumer:
    c = Consumer(name="t-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>", **kw)

    async def apply(db, envelopes):
        pass
    c.on_batch(MEMBER_SNAPSHOTS, apply)
    return c


def test_a_v1_member_event_reads_as_the_v2_the_registry_would_have_sealed():
    read = consumer(hasher=pii_hash).read_older(v1_envelope())
    assert read["type"] == MemberRegistered.event_type() and read["upcast_from"] == "sotay.members.MemberRegistered.v1"
    # The personal part equals what the registry seals in a v2 (name folded, date of birth, citizen ID, phone).
    assert read["data"]["personal"] == member_personal(MEMBER, pii_hash=pii_hash)
    # In clear: what a v2 says in clear, and nothing of the person.
    clear = {k: v for k, v in read["data"].items() if k != "personal"}
    assert clear == {"member_id": "m-1", "unit": "bd-g1-c1", "unit_path": ["city", "ba-dinh", "bd-g1", "bd-g1-c1"],
                     "status": "active", "eligible": True, "ineligible_reason": None, "source": "import",
                     "restricted": False}
    assert set(read["data"]) <= set(MemberRegistered.model_fields)
    assert not {"party_card_no", "full_name", "date_of_birth", "gender", "admitted_on", "official_on",
                "citizen_id_hash", "phone_hash"} & set(clear)


def test_without_a_key_the_name_and_birth_hashes_are_left_out_and_each_event_keeps_its_fields():
    read = consumer().read_older(v1_envelope("sotay.members.MemberTransferred.v1", from_unit="bd-g1-c2",
                                             from_committee="ba-dinh", transfer_kind="official",
                                             reason="Chuyển nơi cư trú"))
    assert read["type"] == MemberTransferred.event_type()
    assert read["data"]["personal"]["name_hash"] is None and read["data"]["personal"]["date_of_birth_hash"] is None
    assert read["data"]["personal"]["party_card_no"] == MEMBER.party_card_no
    assert read["data"]["from_unit"] == "bd-g1-c2" and "reason" not in read["data"]  # a clerk's free text


def test_current_and_unknown_versions_pass_as_they_are():
    c = consumer(hasher=pii_hash)
    for event_type in (MemberRegistered.event_type(), "sotay.members.MemberRegistered.v3", "sotay.members.Other.v1"):
        envelope = v1_envelope(event_type)
        assert c.read_older(envelope) is envelope


def test_a_consumer_that_passes_events_on_does_not_read_older_ones():
    envelope = v1_envelope()
    assert consumer(reads_older=False).read_older(envelope) is envelope


def test_a_v1_that_cannot_be_read_is_a_permanent_error_naming_the_field_not_the_person():
    envelope = v1_envelope()
    del envelope["data"]["full_name"]
    with pytest.raises(PermanentError) as raised:
        consumer(hasher=pii_hash).read_older(envelope)
    assert "cannot be read as sotay.members.MemberRegistered.v2" in str(raised.value)
    assert "full_name" in str(raised.value) and MEMBER.party_card_no not in str(raised.value)
