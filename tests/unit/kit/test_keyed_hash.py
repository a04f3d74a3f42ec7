"""The personal-data hash (HmacSha256) gives hmac.digest's digests: hashes already published and
stored (citizen IDs, phones, dates of birth) must keep matching."""

import hashlib
import hmac

import pytest

from sotay.kit.keys import HmacSha256


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 63, b"y" * 64, b"z" * 65, bytes(range(256))])
@pytest.mark.parametrize("value", [b"", b"001203004567", "+84912345678".encode(), "1960-01-03".encode(), b"a" * 200])
def test_the_same_digest_as_the_standard_library(key, value):
    assert HmacSha256(key).hexdigest(value) == hmac.digest(key, value, "sha256").hex()


def test_one_hasher_serves_many_values_without_carrying_state_over():
    hasher = HmacSha256(b"secret")
    first = hasher.hexdigest(b"one")
    hasher.hexdigest(b"two")
    assert hasher.hexdigest(b"one") == first != hashlib.sha256(b"one").hexdigest()
