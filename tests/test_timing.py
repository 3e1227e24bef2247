"""Timing helpers: the order of interleaved rounds (no timing is asserted anywhere)."""

from pe_bench.timing import interleaved


def test_interleaved_rounds_rotate_who_goes_first():
    assert list(interleaved(["a", "b", "c"], 3)) == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
