import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sotay.auth import AuthError, Grant, TokenVerifier, jwk, load_or_create_signing_key, mint_token


def test_a_minted_token_verifies_with_its_grants(tmp_path):
    key = load_or_create_signing_key(tmp_path / "k.pem")
    assert load_or_create_signing_key(tmp_path / "k.pem").public_key().public_bytes_raw() == \
        key.public_key().public_bytes_raw()
    token = mint_token(key, "u1", [Grant("unit_admin", "ba-dinh")], member_card_no="0101234567")
    principal = TokenVerifier([key.public_key()]).verify(token)
    assert principal.subject == "u1"
    assert principal.units_for("unit_admin") == ["ba-dinh"]
    assert principal.units_for("city_admin") == []
    assert principal.member_card_no == "0101234567"


def test_tokens_from_another_key_expired_or_tampered_are_refused():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = TokenVerifier([key.public_key()])
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(mint_token(other, "u1", [Grant("city_admin", "city")]))
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(mint_token(key, "u1", [Grant("city_admin", "city")], ttl_s=-10))
    good = mint_token(key, "u1", [Grant("member", "x")])
    header, payload, signature = good.split(".")
    with pytest.raises(AuthError):
        verifier.verify(f"{header}.{payload}.{signature[:-4]}AAAA")
    with pytest.raises(AuthError):
        verifier.verify("not-a-token")


def test_jwk_describes_an_ed25519_key():
    key = Ed25519PrivateKey.generate()
    assert jwk(key.public_key())["kty"] == "OKP" and jwk(key.public_key())["crv"] == "Ed25519"


def test_revoking_a_subject_refuses_its_earlier_tokens_only():
    import time

    key = Ed25519PrivateKey.generate()
    verifier = TokenVerifier([key.public_key()])
    before = mint_token(key, "acct-1", [Grant("member", "c1")])
    verifier.revoke("acct-1", time.time())
    with pytest.raises(AuthError, match="sessions were ended"):
        verifier.verify(before)
    assert verifier.verify(mint_token(key, "acct-2", [Grant("member", "c1")])).subject == "acct-2"
    verifier.revoke("acct-1", time.time() - 10)  # tokens issued after the revocation are accepted
    assert verifier.verify(before).subject == "acct-1"


def test_a_remembered_token_is_still_refused_once_revoked_or_expired():
    key = Ed25519PrivateKey.generate()
    verifier = TokenVerifier([key.public_key()])
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
