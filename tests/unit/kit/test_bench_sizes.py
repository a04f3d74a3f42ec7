"""The sizes `sotay bench` runs: Hanoi's after the quick one, or one of your own."""

import pytest

from sotay.system.bench_suite import FULL, QUICK, suite_sizes


def test_the_quick_size_then_hanois():
    quick, full = suite_sizes(quick_only=False)
    assert (quick.members, quick.readers, full.members, full.registrations) == (
        QUICK.members, QUICK.readers, FULL.members, FULL.registrations)
    assert full.tree_scale == 1.0


def test_a_size_of_your_own_keeps_the_counts_not_given():
    [size] = suite_sizes(quick_only=True, members=475_000, tree_scale=1)
    assert (size.name, size.members, size.registrations, size.readers, size.tree_scale) == (
        "custom", 475_000, QUICK.registrations, QUICK.readers, 1)


@pytest.mark.parametrize("counts, reason", [
    ({"members": 100, "readers": 50}, "cannot exceed the members"),  # 1,000 registrations by default
    ({"members": 5000, "readers": 6000}, "cannot exceed the members"),
    ({"members": 5000, "tree_scale": 1.5}, "tree scale"),
])
def test_sizes_that_cannot_run_are_refused_before_anything_starts(counts, reason):
    with pytest.raises(ValueError, match=reason):
        suite_sizes(quick_only=True, **counts)
