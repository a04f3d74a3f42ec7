"""Publishing runs of messages on a real nats-server: one atomic batch with a
single acknowledgement where the stream allows it, one acknowledged message
at a time otherwise, and duplicates dropped either way."""

from __future__ import annotations

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from sotay.kit.publishing import ATOMIC_MAX, BatchPublisher, server_has_atomic_batches, without_batch_headers

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_url):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="ATOMIC", subjects=["atomic.>"], allow_atomic=True, duplicate_window=600))
    await js.add_stream(StreamConfig(name="PLAIN", subjects=["plain.>"], duplicate_window=600))
    yield nc
    for name in ("ATOMIC", "PLAIN"):
        await js.delete_stream(name)
    await nc.close()


def messages(prefix: str, ids: range) -> list[tuple[str, bytes, dict]]:
    return [(f"{prefix}.{i % 3}", f"body {i}".encode(), {"Nats-Msg-Id": f"{prefix}-{i}"}) for i in ids]


async def stored(js, stream: str) -> list:
    last = (await js.stream_info(stream)).state.last_seq
    sub = await js.pull_subscribe(">", stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    out = []
    while not out or out[-1].metadata.sequence.stream < last:
        out += await sub.fetch(500, timeout=5)
    await sub.unsubscribe()
    return out


async def test_a_run_goes_as_atomic_batches_and_a_resent_one_is_deduplicated(nc):
    js = nc.jetstream()
    assert server_has_atomic_batches(nc)  # the embedded server is recent enough
    publisher = BatchPublisher(js, nc)
    first = messages("atomic", range(ATOMIC_MAX + 5))  # two batches
    assert await publisher.publish(first) == [None] * len(first)
    got = await stored(js, "ATOMIC")
    assert [m.data for m in got] == [body for _, body, _ in first]  # in order, each once
    assert "Nats-Batch-Id" in got[0].headers and "Nats-Batch-Id" not in without_batch_headers(got[0].headers)
    # A relay that died before marking its rows sends them again, with new ones: the server refuses
    # the atomic batch (duplicate ids), then takes them one by one and drops the duplicates.
    again = first[-10:] + messages("atomic", range(5000, 5003))
    assert await publisher.publish(again) == [None] * len(again)
    assert len(await stored(js, "ATOMIC")) == len(first) + 3


async def test_a_stream_without_atomic_batches_gets_one_message_at_a_time(nc):
    js = nc.jetstream()
    publisher = BatchPublisher(js, nc)
    assert await publisher.publish(messages("plain", range(20))) == [None] * 20
    assert not publisher.atomic_allowed(messages("plain", [0])[0][0])  # not tried again
    assert await publisher.publish(messages("plain", range(15, 30))) == [None] * 15
    got = await stored(js, "PLAIN")
    assert len(got) == 30 and "Nats-Batch-Id" not in (got[0].headers or {})


async def test_a_message_no_stream_takes_is_reported_not_dropped(nc):
    js = nc.jetstream()
    results = await BatchPublisher(js, nc, timeout=2).publish([("nowhere.1", b"x", None), ("nowhere.2", b"y", None)])
    assert all(isinstance(r, BaseException) for r in results)
