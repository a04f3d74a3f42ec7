"""The webhook bridge's rules (services/webhooks/domain.py): the signature and the receiver's
check as docs/webhooks.md gives it, the retry schedule with its jitter, and the content modes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
import pytest

from services.webhooks.domain import committee_of, request_for, retry_delay, schedule, signature, verify

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def doc_sample():
    """signature_ok, as docs/webhooks.md writes it for receivers."""
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 (our own documentation)
    return scope["signature_ok"]


def test_the_documented_check_accepts_our_signatures_and_refuses_others():
    check = doc_sample()
    secret, body = "whsec_" + "k" * 43, '{"id":"0190","data":{"name":"Chi bộ 1"}}'.encode()
    header = signature(secret, int(time.time()), body)
    assert check(secret, header, body)
    assert verify(secret, header, body, now=time.time())
    assert not check(secret, header, body + b"\n")
    assert not check("whsec_other", header, body)
    assert not check(secret, signature(secret, int(time.time()) - 600, body), body)  # too old
    assert check(secret, f"{header},v1=00", body)  # several v1: one suffices


def test_retries_double_up_to_the_longest_wait_with_jitter():
    assert schedule(12, base_s=10, max_s=3600) == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    assert retry_delay(1, base_s=10, max_s=3600, rand=lambda: 0.0) == 5
    assert retry_delay(1, base_s=10, max_s=3600, rand=lambda: 1.0) == 10
    assert retry_delay(4, base_s=10, max_s=3600, rand=lambda: 0.5) == 60
    assert retry_delay(200, base_s=10, max_s=3600, rand=lambda: 1.0) == 3600  # no overflow far out
    waits = {retry_delay(3, base_s=10, max_s=3600) for _ in range(50)}
    assert len(waits) > 1 and all(20 <= w <= 40 for w in waits)


def test_structured_mode_sends_the_bytes_as_published():
    published = b'{"specversion":"1.0","id":"x","type":"t","source":"sotay/members","data":{"a":1}}'
    headers, body = request_for("structured", published)
    assert body is published and headers == {"Content-Type": "application/cloudevents+json; charset=utf-8"}


def test_binary_mode_puts_the_attributes_in_headers_percent_encoded():
    envelope = {"specversion": "1.0", "id": "0190", "type": "sotay.members.OrgUnitCreated.v1",
                "source": "sotay/members", "subject": "Đảng bộ \"x\" 100%", "orgunit": "ba-dinh",
                "sequence": "00000000000000000001", "time": "2026-01-01T00:00:00Z", "data": {"name": "Chi bộ"}}
    headers, body = request_for("binary", orjson.dumps(envelope))
    assert headers["ce-id"] == "0190" and headers["ce-sequence"] == "00000000000000000001"
    assert headers["ce-subject"] == "%C4%90%E1%BA%A3ng%20b%E1%BB%99%20%22x%22%20100%25"
    assert headers["Content-Type"] == "application/json" and "ce-data" not in headers
    assert orjson.loads(body) == {"name": "Chi bộ"}
    assert all(v.isascii() for v in headers.values())


@pytest.mark.parametrize("subject, committee", [("sotay.members.org_unit_created.ba-dinh", "ba-dinh"),
                                                ("sotay.content.article_published.city", "city")])
def test_the_committee_is_the_subjects_last_token(subject, committee):
    assert committee_of(subject) == committee
