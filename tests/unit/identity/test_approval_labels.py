"""What an approver is told of a registration's match, and why a bulk approval refused one."""

from services.identity.domain import match_label, not_approvable, refusal_code


def test_a_duplicate_is_told_apart_from_a_card_with_an_account():
    pending = ["a matching registration for this card is already pending"]
    assert match_label("already_registered", pending, has_account=False) == "duplicate"
    assert match_label("already_registered", pending, has_account=True) == "has_account"
    assert match_label("already_registered", ["the member already has an account"], has_account=True) == "has_account"
    assert match_label("details_differ", ["differs: phone"], has_account=False) == "details_differ"


def test_a_bulk_refusal_has_a_stable_code():
    assert refusal_code(not_approvable("details_differ", bulk=True)) == "not_matched"
    for result in ("already_registered", "not_in_registry", "not_eligible"):
        assert refusal_code(not_approvable(result, bulk=True)) == "not_approvable"
