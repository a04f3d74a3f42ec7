"""Every event type of the catalogue, written as the outbox writes it (sotay/kit/events.py), read by
the official CloudEvents Python SDK (`cloudevents`): the required attributes, our extensions, and
the Sequence extension as a string that sorts in the aggregate's order ("9" before "10")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat

from sotay.kit.events import message_from_payload
from sotay.system.registry import SERVICES, load

EVENT_TYPES = [event for service in SERVICES for event in load(service).catalogue]


def read(body: bytes):
    return JSONFormat().read(None, body)  # the SDK picks the CloudEvent class by specversion


def test_the_catalogue_is_all_there():
    assert len(EVENT_TYPES) >= 30
    assert {e.event_type() for e in EVENT_TYPES} >= {"sotay.members.MemberRegistered.v2",
                                                       "sotay.identity.AccountApproved.v1",
                                                       "sotay.content.ArticlePublished.v1",
                                                       "sotay.metrics.RolloutSnapshot.v1"}


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda e: e.event_type())
def test_the_sdk_reads_each_event_type_as_we_publish_it(event_type):
    aggregate = str(uuid.uuid4())
    nine, ten = (message_from_payload(event_type, {"probe": True}, aggregate_id=aggregate, committee="ba-dinh",
                                      orgunit="ba-dinh-g1-c1", sequence=version,
                                      at=datetime(2023, 2, 1, 8, 30, tzinfo=UTC)) for version in (9, 10))
    event = read(nine.body())
    assert event.get_specversion() == "1.0"
    assert event.get_id() == str(nine.id)
    assert event.get_source() == f"sotay/{event_type.service}"
    assert event.get_type() == event_type.event_type()
    assert event.get_subject() == aggregate
    assert event.get_time() == datetime(2023, 2, 1, 8, 30, tzinfo=UTC)
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == {"probe": True}
    assert event.get_extension("orgunit") == "ba-dinh-g1-c1"
    sequence, later = event.get_extension("sequence"), read(ten.body()).get_extension("sequence")
    assert isinstance(sequence, str) and sequence == "00000000000000000009"
    assert sequence < later == "00000000000000000010"  # as strings: the Sequence extension's order


def test_an_event_without_a_version_reads_without_a_sequence():
    event_type = EVENT_TYPES[0]
    message = message_from_payload(event_type, {}, aggregate_id="x", committee="city")
    assert read(message.body()).get_extension("sequence") is None  # JSON null: absent
