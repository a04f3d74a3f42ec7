from datetime import date

from services.identity.domain import RegistryEntry, ThrottlePolicy, match_registration, password_problems


def entry(**kw) -> RegistryEntry:
    values = dict(member_id="m1", party_card_no="0100000001", name_folded="nguyen van an",
                  date_of_birth=date(1960, 1, 2), unit="c1", unit_path="/city/k/g/c1/", committee="k",
                  status="active", eligible=True, phone_hash="h")
    return RegistryEntry(**{**values, **kw})


def match(e, **kw):
    values = dict(full_name="Nguyễn Văn An", date_of_birth=date(1960, 1, 2), phone_hash="h", entry=e,
                  has_account=False, has_pending=False)
    return match_registration(**{**values, **kw})


def test_matching_outcomes():
    assert match(entry()).result == "matched"
    assert match(None).result == "not_in_registry"
    assert match(entry(), has_account=True).result == "already_registered"
    assert match(entry(), has_pending=True).result == "already_registered"
    assert match(entry(status="deceased")).result == "not_eligible"
    differ = match(entry(), date_of_birth=date(1961, 1, 2), phone_hash="other")
    assert differ.result == "details_differ"
    assert differ.reasons == ("differs: date_of_birth", "differs: phone")
    assert match(entry(phone_hash=None)).reasons == ("differs: phone (none on record)",)
    # Accents and spacing do not make a name differ.
    assert match(entry(), full_name="  NGUYEN  van an ").result == "matched"


def test_password_rules():
    assert password_problems("a long passphrase", card_no="0100000001", phone="+84912345678") == []
    assert "must be at least 8 characters" in password_problems("short", card_no="01", phone="+849")
    assert password_problems("matkhau123", card_no="0100000001", phone="+84912345678") == [
        "is too common; choose another"]
    assert "must not be your card or phone number" in password_problems(
        "0912345678", card_no="0100000001", phone="+84912345678")
    assert password_problems("x" * 64, card_no="01", phone="+849") == ["is too common; choose another"]
    assert password_problems("ab" * 40, card_no="01", phone="+849") == ["is too common; choose another"]


def test_throttle_slows_after_free_failures_and_never_locks_out():
    policy = ThrottlePolicy(free_failures=5, base_delay_s=1, max_delay_s=900)
    assert policy.wait(4, 0) == 0
    assert policy.wait(5, 0) == 1
    assert policy.wait(7, 0) == 4
    assert policy.wait(7, 3.5) == 0.5
    assert policy.wait(10_000, 0) == 900  # capped: the member can always try again
    assert policy.wait(10_000, 900) == 0
