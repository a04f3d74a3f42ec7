"""The counters' folding and reader rules (services/metrics/domain/counters.py)."""

from datetime import date

from services.metrics.domain.counters import (
    CITY,
    TOUCH,
    Folded,
    above,
    add_up,
    adopt,
    content_changes,
    event_name,
    from_counts,
    new_values,
    oldest_reader_day,
    reader_window,
    readers_moved,
)

TODAY = date(2023, 3, 10)
C1 = "/city/ba-dinh/ba-dinh-g1/c1/"


def test_a_delta_goes_to_its_unit_and_every_unit_above_it():
    assert above(C1) == ["city", "ba-dinh", "ba-dinh-g1", "c1"]


def test_a_unit_the_tree_does_not_know_counts_at_the_city_alone():
    assert above(None) == [CITY]


def test_the_event_name_is_the_third_part_of_the_type():
    assert event_name({"type": "sotay.content.ArticleRead.v1"}) == "ArticleRead"


def test_readers_are_kept_a_day_longer_than_readers_7d_looks():
    assert oldest_reader_day(TODAY) == "readers:2023-03-03"
    assert reader_window(TODAY) == ("readers:2023-03-10", "readers:2023-03-04")
    assert oldest_reader_day(TODAY) < min(reader_window(TODAY))


def test_deltas_add_up_the_tree():
    moves = add_up([("c1", "members_total", 2, C1), ("c2", "members_total", 1, "/city/ba-dinh/ba-dinh-g1/c2/")],
                   TODAY)
    assert moves.totals[("ba-dinh", "members_total")] == 3 and moves.totals[("city", "members_total")] == 3
    assert moves.totals[("c1", "members_total")] == 2 and not moves.orphans


def test_an_unknown_units_delta_goes_to_the_city_and_is_kept_as_an_orphan():
    moves = add_up([("x9", "accounts_web", 2, None)], TODAY)
    assert dict(moves.totals) == {("city", "accounts_web"): 2}
    assert dict(moves.orphans) == {("x9", "accounts_web"): 2}


def test_zeros_and_readers_before_the_kept_window_are_left_out():
    moves = add_up([("c1", "members_total", 0, C1), ("c1", "readers:2023-03-02", 1, C1),
                    ("c1", "readers:2023-03-03", 1, C1)], TODAY)
    assert moves.moved() == [(u, "readers:2023-03-03") for u in sorted(above(C1))]


def test_a_touch_marks_a_known_unit_and_counts_nothing():
    moves = add_up([("c1", TOUCH, 0, C1), ("x9", TOUCH, 0, None)], TODAY)
    assert moves.touched == {"c1"} and not moves.totals and not moves.orphans


def test_changes_that_cancel_out_up_the_tree_are_not_written():
    moves = add_up([("c1", "members_total", 1, C1), ("c2", "members_total", -1, "/city/ba-dinh/ba-dinh-g1/c2/")],
                   TODAY)
    assert ("ba-dinh", "members_total") not in moves.moved() and ("c1", "members_total") in moves.moved()


def test_adopted_orphans_go_to_the_units_above_them_but_not_again_to_the_city():
    moves = add_up([], TODAY)
    adopt(moves, [("accounts_web", 2, "/city/tay-ho/x9/")])
    assert dict(moves.totals) == {("tay-ho", "accounts_web"): 2, ("x9", "accounts_web"): 2}


def test_new_values_are_what_is_held_plus_what_moved():
    moves = add_up([("c1", "members_total", 2, "/city/c1/")], TODAY)
    assert new_values(moves, {"city": {"members_total": 5}}) == {("c1", "members_total"): 2,
                                                                  ("city", "members_total"): 7}


def test_what_a_fold_moved_names_its_units():
    assert Folded({("a", "m"): 1, ("b", "m"): 2}, {"c"}).units == {"a", "b", "c"}


def read(account, unit, day, kind="ArticleRead"):
    return {"type": f"sotay.content.{kind}.v1", "data": {"account_id": account, "unit": unit, "day": day}}


def test_a_content_batch_keeps_each_readers_latest_read_and_counts_articles_and_feedback():
    deltas, last = content_changes([
        read("an", "c1", "2023-03-09"), read("an", "c2", "2023-03-10"), read("an", "c3", "2023-03-08"),
        read("staff", None, "2023-03-10"),
        {"type": "sotay.content.ArticlePublished.v1", "data": {"author_unit": "city"}},
        {"type": "sotay.content.FeedbackPosted.v1", "data": {"unit": "c1"}},
        {"type": "sotay.content.FeedbackPosted.v1", "data": {"unit": None}}])
    assert last == {"an": (date(2023, 3, 10), "c2")}
    assert sorted(deltas.rows()) == [("c1", "feedback_posted", 1), ("city", "articles_published", 1)]


def test_a_later_read_moves_a_reader_from_one_day_to_the_other():
    last = {"an": (date(2023, 3, 10), "c2"), "binh": (date(2023, 3, 9), "c1"), "cuc": (date(2023, 3, 10), "c1")}
    held = {"an": (date(2023, 3, 9), "c1"), "binh": (date(2023, 3, 9), "c1")}
    moved, rows = readers_moved(last, held)
    assert moved == ["an", "cuc"]  # binh read again on a day already counted
    assert rows == [("c1", "readers:2023-03-09", -1), ("c2", "readers:2023-03-10", 1),
                    ("c1", "readers:2023-03-10", 1)]


def test_figures_from_counts_count_todays_and_the_weeks_readers_and_reasons():
    u = {"unit_id": "u", "code": "c1", "name": "C1", "kind": "cell"}
    counts = {"readers:2023-03-10": 2, "readers:2023-03-05": 3, "readers:2023-03-03": 9, "not_eligible:ốm": 1,
              "not_eligible:x": 0, "members_total": 4}
    f = from_counts(u, counts, TODAY)
    assert (f["readers_today"], f["readers_7d"]) == (2, 5)
    assert f["without_account"]["not_eligible"] == {"ốm": 1}
    assert f["members_total"] == 4 and f["as_of"] == "2023-03-10"


def test_a_read_stamped_after_metrics_midnight_counts_today_while_metrics_clock_is_behind():
    # Content's clock turned the Hanoi day a few seconds before metrics' clock did:
    # the reader's last read is stamped tomorrow, and they did read today.
    tomorrow = date.fromordinal(TODAY.toordinal() + 1)
    counts = {f"readers:{tomorrow}": 1, f"readers:{TODAY}": 2, "readers:2023-03-05": 4}
    f = from_counts({"unit_id": "u", "code": "c1", "name": "C1", "kind": "cell"}, counts, TODAY)
    assert (f["readers_today"], f["readers_7d"]) == (3, 7)
