"""The sealed part of member events (sotay/kit/member_keys.py): it opens with the member's key for
that member only, and any change to it is refused."""

import secrets

import pytest

from sotay.kit.member_keys import MemberKey, key_id_of, open_personal, seal_personal

PERSON = {"party_card_no": "0100000001", "full_name": "Nguyễn Văn An", "name_hash": "h1",
          "date_of_birth_hash": "h2", "citizen_id_hash": None, "phone_hash": "h3", "phone_tail": "678"}


def key() -> MemberKey:
    return MemberKey(secrets.token_bytes(8), secrets.token_bytes(32))


def test_the_part_opens_with_the_members_key_and_says_nothing_in_clear():
    key_ = key()
    sealed = seal_personal(key_, "m-1", PERSON)
    assert open_personal(key_, "m-1", sealed) == PERSON
    assert key_id_of(sealed) == key_.kid  # a reader knows which of the member's keys it needs
    assert "Nguy" not in sealed and "0100000001" not in sealed
    assert seal_personal(key_, "m-1", PERSON) != sealed  # a fresh nonce each time


def test_another_key_another_member_or_a_changed_byte_do_not_open_it():
    key_ = key()
    sealed = seal_personal(key_, "m-1", PERSON)
    with pytest.raises(ValueError):
        open_personal(key(), "m-1", sealed)
    with pytest.raises(ValueError):  # the same id, another key
        open_personal(MemberKey(key_.kid, secrets.token_bytes(32)), "m-1", sealed)
    with pytest.raises(ValueError):  # moved onto another member's event
        open_personal(key_, "m-2", sealed)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(ValueError):
        open_personal(key_, "m-1", flipped)
    with pytest.raises(ValueError):
        open_personal(key_, "m-1", "bm90IGEgc2VhbGVkIHBhcnQ")
