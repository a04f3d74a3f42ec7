import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sotay.kit.auth import AuthError, Grant, TokenVerifier, jwk, mint_token, sign_jwks


def verifier_for(*keys: Ed25519PrivateKey, **options) -> TokenVerifier:
    """A verifier trusting `keys` as identity would publish them, signed by a root key."""
    root = Ed25519PrivateKey.generate()
    verifier = TokenVerifier(root.public_key(), **options)
    assert verifier.trust_signed_jwks(sign_jwks(root, [k.public_key() for k in keys]))
    return verifier


def test_a_minted_token_verifies_with_its_grants():
    key = Ed25519PrivateKey.generate()
    token = mint_token(key, "u1", [Grant("unit_admin", "ba-dinh")], member_card_no="0101234567")
    principal = verifier_for(key).verify(token)
    assert principal.subject == "u1"
    assert principal.units_for("unit_admin") == ["ba-dinh"]
    assert principal.units_for("city_admin") == []
    assert principal.member_card_no == "0101234567"


def test_tokens_from_another_key_expired_or_tampered_are_refused():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = verifier_for(key)
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(mint_token(other, "u1", [Grant("city_admin", "city")]))
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(mint_token(key, "u1", [Grant("city_admin", "city")], ttl_s=-100))
    good = mint_token(key, "u1", [Grant("member", "x")])
    header, payload, signature = good.split(".")
    with pytest.raises(AuthError):
        verifier.verify(f"{header}.{payload}.{signature[:-4]}AAAA")
    with pytest.raises(AuthError):
        verifier.verify("not-a-token")


def test_the_clock_may_disagree_by_the_skew_and_no_more():
    key = Ed25519PrivateKey.generate()
    verifier = verifier_for(key, clock_skew_s=30)
    assert verifier.verify(mint_token(key, "u1", [Grant("member", "x")], ttl_s=-20)).subject == "u1"
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(mint_token(key, "u2", [Grant("member", "x")], ttl_s=-40))


def test_a_token_claiming_a_long_life_is_refused():
    key = Ed25519PrivateKey.generate()
    verifier = verifier_for(key, max_lifetime_s=3600)
    assert verifier.verify(mint_token(key, "u1", [Grant("member", "x")], ttl_s=3600)).subject == "u1"
    with pytest.raises(AuthError, match="longer than 3600 s"):
        verifier.verify(mint_token(key, "u1", [Grant("city_admin", "city")], ttl_s=30 * 86400))


def test_a_key_set_not_signed_by_the_root_or_older_changes_nothing():
    root, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    key, planted = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = TokenVerifier(root.public_key())
    first = sign_jwks(root, [key.public_key()])
    assert verifier.trust_signed_jwks(first)
    with pytest.raises(AuthError, match="not signed by identity's root key"):
        verifier.trust_signed_jwks(sign_jwks(forger, [planted.public_key()]))
    with pytest.raises(AuthError):
        verifier.trust_signed_jwks(b'{"keys": []}')
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(mint_token(planted, "u1", [Grant("city_admin", "city")]))
    # A newer set without `key` retires it, even for a token verified (and remembered) before;
    # the older set, put back, does not bring it back.
    token = mint_token(key, "u1", [Grant("member", "x")])
    verifier.verify(token)
    newer = Ed25519PrivateKey.generate()
    assert verifier.trust_signed_jwks(sign_jwks(root, [newer.public_key()]))
    assert not verifier.trust_signed_jwks(first)
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(token)


def test_jwk_describes_an_ed25519_key():
    key = Ed25519PrivateKey.generate()
    assert jwk(key.public_key())["kty"] == "OKP" and jwk(key.public_key())["crv"] == "Ed25519"


def test_revoking_a_subject_refuses_its_earlier_tokens_only():
    key = Ed25519PrivateKey.generate()
    verifier = verifier_for(key)
    before = mint_token(key, "acct-1", [Grant("member", "c1")])
    verifier.revoke("acct-1", time.time())
    with pytest.raises(AuthError, match="sessions were ended"):
        verifier.verify(before)
    assert verifier.verify(mint_token(key, "acct-2", [Grant("member", "c1")])).subject == "acct-2"
    verifier.revoke("acct-1", time.time() - 10)  # tokens issued after the revocation are accepted
    assert verifier.verify(before).subject == "acct-1"


def test_a_remembered_token_is_still_refused_once_revoked_or_expired():
    key = Ed25519PrivateKey.generate()
    verifier = verifier_for(key, clock_skew_s=0)
    token = mint_token(key, "u1", [Grant("member", "x")], ttl_s=60, unit="x")
    assert verifier.verify(token).unit == "x"
    assert verifier.verify(token).subject == "u1"  # the second time from the cache
    verifier.revoke("u1", time.time() + 1)
    with pytest.raises(AuthError, match="ended"):
        verifier.verify(token)

    other = mint_token(key, "u2", [Grant("member", "x")], ttl_s=1)
    verifier.verify(other)
    time.sleep(2.1)  # past its expiry: the remembered verdict no longer counts
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(other)
