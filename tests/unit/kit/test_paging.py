"""Opaque keyset cursors (sotay/kit/http.py) and the scope rule (sotay/kit/scope.py)."""

import uuid
from datetime import UTC, datetime

import pytest

from sotay.kit.http import Problem, decode_cursor, encode_cursor, parse_time_cursor, time_cursor
from sotay.kit.scope import covers


def test_a_time_cursor_round_trips_and_shows_nothing_of_its_content():
    at, row = datetime(2026, 12, 6, 8, 30, 1, 250000, tzinfo=UTC), uuid.uuid4()
    cursor = time_cursor(at, row)
    assert "|" not in cursor and str(row) not in cursor and "2026" not in cursor
    assert parse_time_cursor(cursor) == (at, str(row))
    assert parse_time_cursor(None) is None and parse_time_cursor("") is None


@pytest.mark.parametrize("cursor", [
    "nonsense", "2026-12-06T08:30:00|7e0c…",  # the raw form lists once used
    encode_cursor("2026-12-06T08:30:00"),  # one part where two are expected
    encode_cursor("yesterday", str(uuid.uuid4())), encode_cursor("2026-12-06T08:30:00", "not-a-uuid"),
])
def test_a_cursor_this_service_did_not_issue_is_a_422_on_the_cursor_field(cursor):
    with pytest.raises(Problem) as refused:
        parse_time_cursor(cursor)
    assert refused.value.status == 422
    assert refused.value.errors == [{"field": "cursor", "reason": "is not a cursor this service issued"}]


def test_cursors_of_any_parts():
    assert decode_cursor(encode_cursor("/city/ba-dinh/", "a b", "ồ"), 3) == ["/city/ba-dinh/", "a b", "ồ"]


def test_a_subtree_covers_what_lies_under_it_and_nothing_beside_it():
    paths = ["/city/ba-dinh/g1/"]
    assert covers(paths, "/city/ba-dinh/g1/") and covers(paths, "/city/ba-dinh/g1/c3/")
    assert not covers(paths, "/city/ba-dinh/g10/") and not covers(paths, "/city/ba-dinh/")
    assert not covers([], "/city/")
