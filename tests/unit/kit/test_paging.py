"""Opaque keyset cursors (sotay/kit/http.py) and the scope rule (sotay/kit/scope.py)."""

import uuid
from datetime import UTC, datetime

import pytest

from sotay.kit.db import Where
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
    encode_cursor("yesterday", "9e74b558-6b0e-4d5a-aa49-a03139cde19f"), encode_cursor("2026-12-06T08:30:00", "not-a-uuid"),
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


def test_where_leaves_out_the_filters_not_asked_for_and_pages_after_a_key():
    where = (Where().within("m.unit_path", ["/city/a/", "/city/b/"]).add("m.status = :status", status=None)
             .add("m.kind = :kind", kind="cell").after("(m.unit_path, m.id)", ("/city/a/", "7"), "text", "uuid"))
    assert str(where) == ("(m.unit_path LIKE :subtree_0 OR m.unit_path LIKE :subtree_1) AND m.kind = :kind AND "
                          "(m.unit_path, m.id) > (CAST(:after_0 AS text), CAST(:after_1 AS uuid))")
    assert where.params == {"subtree_0": "/city/a/%", "subtree_1": "/city/b/%", "kind": "cell",
                            "after_0": "/city/a/", "after_1": "7"}
    assert str(Where().after("path", None)) == "true"
    assert str(Where().within("path", [])) == "false"  # no subtree: nothing, not everything
