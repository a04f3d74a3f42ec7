from datetime import date

import pytest

from services.identity.domain import (
    DIFFERS,
    RegistryEntry,
    SlidingWindow,
    Throttles,
    attempt,
    committee_of,
    comparison,
    given,
    mask_phone,
    match_registration,
    not_approvable,
    password_problems,
    public_reasons,
    registration_key,
    roles_covering,
    token_digest,
)


def pii(value: str) -> str:
    return f"h({value})"  # a stand-in for the keyed hash: what matters is equal in, equal out


def entry(**kw) -> RegistryEntry:
    values = dict(member_id="m1", card_hash=pii("0100000001"), name_hash=pii("nguyen van an"),
                  dob_hash=pii("1960-01-02"), unit="c1", unit_path="/city/k/g/c1/", committee="k",
                  status="active", eligible=True, phone_hash=pii("+84912345678"))
    return RegistryEntry(**{**values, **kw})


def match(e, full_name="Nguyễn Văn An", date_of_birth=date(1960, 1, 2), phone="+84912345678", **kw):
    values = dict(given=given(full_name, date_of_birth, phone, pii), entry=e, has_account=False, has_pending=False)
    return match_registration(**{**values, **kw})


def test_matching_outcomes():
    assert match(entry()).result == "matched"
    assert match(None).result == "not_in_registry"
    assert match(entry(), has_account=True).result == "already_registered"
    assert match(entry(), has_pending=True).result == "already_registered"
    assert match(entry(status="deceased")).result == "not_eligible"
    differ = match(entry(), date_of_birth=date(1961, 1, 2), phone="+84900000000")
    assert differ.result == "details_differ"
    assert differ.reasons == ("differs: date_of_birth", "differs: phone")
    assert match(entry(phone_hash=None)).reasons == ("differs: phone (none on record)",)
    # Accents and spacing do not make a name differ.
    assert match(entry(), full_name="  NGUYEN  van an ").result == "matched"
    # A member minimised by retention (no date of birth any more) matches no registration.
    assert match(entry(dob_hash=None)).reasons == ("differs: date_of_birth",)


def test_the_event_never_says_which_personal_field_differed():
    """RegistrationSubmitted goes to district systems: one guessing a card would learn from "differs:
    date_of_birth" that the name and phone were right. The approver's page keeps the detail."""
    for which in ({"full_name": "Trần Văn Bình"}, {"date_of_birth": date(1961, 1, 2)}, {"phone": "+84900000000"}):
        differ = match(entry(), **which)
        assert public_reasons(differ) == [DIFFERS]
    assert public_reasons(match(None)) == ["party card number not in the registry"]
    assert public_reasons(match(entry())) == []


def test_password_rules():
    assert password_problems("a long passphrase", card_no="0100000001", phone="+84912345678") == []
    assert "must be at least 8 characters" in password_problems("short", card_no="01", phone="+849")
    assert password_problems("matkhau123", card_no="0100000001", phone="+84912345678") == [
        "is too common; choose another"]
    assert "must not be your card or phone number" in password_problems(
        "0912345678", card_no="0100000001", phone="+84912345678")
    assert password_problems("x" * 64, card_no="01", phone="+849") == ["is too common; choose another"]
    assert password_problems("ab" * 40, card_no="01", phone="+849") == ["is too common; choose another"]


def test_a_sliding_window_admits_its_limit_then_waits_for_the_oldest_to_leave():
    window = SlidingWindow(limit=3, seconds=900)
    assert window.wait([]) == 0
    assert window.wait([10, 20]) == 0
    assert window.wait([10, 20, 30]) == 870  # the oldest of the three leaves the window in 870 s
    assert window.wait([10, 20, 30, 5000]) == 870  # events older than the window do not count
    assert window.wait([899.5, 899.8, 899.9]) == pytest.approx(0.1)
    assert window.wait([1] * 10_000) == 899  # never longer than the window: no lock-out


def test_the_approver_sees_each_field_with_the_verdict_and_phones_by_their_last_digits():
    """The registry's name and date of birth are keyed hashes in identity: the approver reads the
    verdict beside what the registrant wrote, and the registry's phone by its last three digits."""
    given_ = {"full_name": "Nguyễn Văn An", "date_of_birth": "1960-01-02", "phone": "+84912345678"}
    registry = {"phone_tail": "999"}
    rows = comparison(given_, registry, ["differs: full_name", "differs: phone"])
    assert rows == [
        {"field": "full_name", "given": "Nguyễn Văn An", "registry": None, "same": False},
        {"field": "date_of_birth", "given": "1960-01-02", "registry": None, "same": True},
        {"field": "phone", "given": "*******678", "registry": "*******999", "same": False}]
    assert comparison(given_, None, []) is None
    assert mask_phone(None) is None


def test_a_role_is_granted_by_its_holders_and_those_above():
    assert set(roles_covering("cell_secretary")) == {"cell_secretary", "unit_admin", "city_admin"}
    assert set(roles_covering("editor")) == {"editor", "chief_editor", "city_admin"}
    assert roles_covering("city_admin") == ("city_admin",)


def test_an_account_guessed_at_from_elsewhere_still_signs_in_from_its_known_address():
    throttles = Throttles(account=SlidingWindow(3, 60), address=SlidingWindow(100, 60),
                          registrations=SlidingWindow(2, 3600))
    full = [1.0, 2.0, 3.0]
    stranger = attempt("account:a1", "addr-x")
    assert stranger.failure_keys == ["account:a1", "pair:account:a1:addr-x", "ip:addr-x"]
    assert throttles.wait(stranger, {"account:a1": full}) == 57  # the account's own window counts
    at_home = attempt("account:a1", "addr-home", known=True)
    assert throttles.wait(at_home, {"account:a1": full}) == 0  # not from the address it knows
    assert throttles.wait(at_home, {at_home.pair: full}) == 57  # its failures there still count
    assert throttles.wait(at_home, {at_home.address: [1.0] * 100}) == 59  # and the address's own
    assert throttles.keep == 100 and throttles.horizon_s == 3600
    assert throttles.registration_wait("addr-x", {registration_key("addr-x"): [10.0, 20.0]}) == 3580


def test_which_registrations_may_be_approved():
    assert not_approvable("matched") is None
    assert not_approvable("details_differ") is None
    assert not_approvable("details_differ", bulk=True) == "bulk approval takes matched registrations only"
    assert not_approvable("not_in_registry") == (
        "a registration that is not in registry cannot be approved; reject it with a reason")
    assert all(not_approvable(result) for result in ("already_registered", "not_eligible"))


def test_a_units_committee_and_a_refresh_tokens_digest():
    assert committee_of(["city", "ba-dinh", "ba-dinh-g1"]) == "ba-dinh"
    assert committee_of(["city"]) == "city"
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
