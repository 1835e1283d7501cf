"""segspark.parallel: independent actions side by side."""

from __future__ import annotations

import threading
import time

import pytest

from segspark.parallel import concurrently


def test_results_come_in_the_order_the_actions_were_given():
    assert concurrently(lambda: time.sleep(0.05) or "slow", lambda: "fast") == ["slow", "fast"]


def test_the_actions_run_side_by_side():
    both = threading.Barrier(2, timeout=5)  # each waits for the other: one at a time would time out
    assert sorted(concurrently(both.wait, both.wait)) == [0, 1]  # each thread its own arrival index


def test_a_failure_is_raised_as_itself():
    def failing():
        raise ValueError("no such column")

    with pytest.raises(ValueError, match="no such column"):
        concurrently(lambda: 1, failing)
