"""sotay dlq: reading a dead letter and what a redrive publishes."""

import base64

import orjson
from nats.js.api import RawStreamMsg

from sotay.kit.dlq import DeadLetter, format_letter, format_table, redrive_headers


def raw(seq: int = 7, headers: dict[str, str] | None = None, data: bytes | None = None) -> RawStreamMsg:
    headers = headers if headers is not None else {
        "Sotay-Dlq-Reason": "failed 5 deliveries: RuntimeError: hỏng với Trần Văn Độc",
        "Sotay-Dlq-Consumer": "metrics-accounts", "Sotay-Dlq-Subject": "sotay.identity.account_approved.ba-dinh",
        "Sotay-Dlq-Stream-Seq": "42", "Sotay-Dlq-Deliveries": "5", "Sotay-Dlq-Original-Msg-Id": "e-1",
        "Nats-Msg-Id": "dlq:metrics-accounts:42", "traceparent": "00-abc-def-01"}
    block = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    body = data if data is not None else orjson.dumps({"id": "e-1", "type": "sotay.identity.AccountApproved.v1"})
    return RawStreamMsg(subject="sotay.dlq.metrics-accounts", seq=seq, data=body,
                        hdrs=base64.b64encode(block.encode()).decode(), time="2026-11-28T10:11:12.123456789Z")


def test_a_letter_reads_what_the_consumer_recorded_in_utf8():
    dead = DeadLetter.from_raw(raw())
    assert (dead.seq, dead.consumer, dead.subject, dead.stream_seq, dead.deliveries) == \
        (7, "metrics-accounts", "sotay.identity.account_approved.ba-dinh", 42, 5)
    assert dead.reason.endswith("Trần Văn Độc") and dead.event_id == "e-1"
    assert dead.time is not None and dead.time.microsecond == 123456
    assert dead.redrivable
    assert "Trần Văn Độc" in format_table([dead]) and '"id": "e-1"' in format_letter(dead)


def test_a_redrive_keeps_the_original_headers_with_a_fresh_message_id():
    headers = redrive_headers(DeadLetter.from_raw(raw()))
    assert headers["Nats-Msg-Id"] == "redrive:7:e-1"  # fresh for the stream, the same for the same letter
    assert headers["traceparent"] == "00-abc-def-01"
    assert not [k for k in headers if k.startswith("Sotay-Dlq-")]


def test_an_undecodable_letter_cannot_be_redriven():
    assert not DeadLetter.from_raw(raw(data=b"{not json")).redrivable
    assert not DeadLetter.from_raw(raw(headers={})).redrivable
