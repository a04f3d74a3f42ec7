"""Metrics' advisory lock keys are the kit's lock_key of `metrics-<kind>:<value>`:
the very keys the service took before the kit had one implementation, so
replicas of either keep excluding one another."""

import hashlib

from services.metrics.adapters.locks import PUBLISHER, lock_name
from services.metrics.handlers.snapshots import PUBLISHER_KEY
from sotay.kit.db import lock_key


def earlier_key(kind: str, value: object) -> int:
    return int.from_bytes(hashlib.sha256(f"metrics-{kind}:{value}".encode()).digest()[:8], "big", signed=True)


def test_each_lock_keeps_its_key():
    for kind, value in (("member", "0190b7c2-0000-7000-8000-000000000001"), ("registration", "r-1"),
                        ("reader", "account-an"), ("fold", "counters")):
        assert lock_key(lock_name(kind, value)) == earlier_key(kind, value)
    assert PUBLISHER == "metrics-publisher:snapshots" and PUBLISHER_KEY == earlier_key("publisher", "snapshots")


def test_kinds_do_not_share_keys():
    assert lock_key(lock_name("member", "x")) != lock_key(lock_name("reader", "x"))
