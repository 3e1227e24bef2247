"""Measurements the suites share that are not suites themselves: the positional part of a
step timed alone (positional_work.py), shift invariance and numeric precision (positions.py)."""
