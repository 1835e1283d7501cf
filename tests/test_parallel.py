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


def test_an_interrupt_ends_the_wait_at_once_without_waiting_for_the_actions():
    """Ctrl-C waited for every queued fit before: the actions were joined before the interrupt rose."""
    import os
    import signal

    release = threading.Event()
    interrupter = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    interrupter.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            concurrently(lambda: release.wait(60), lambda: release.wait(60))
        assert time.monotonic() - started < 30  # not the actions' 60 s
    finally:
        release.set()  # let the abandoned threads end


def test_seeding_from_two_threads_at_once_leaves_one_blas_thread_and_no_warning_state_behind():
    """threadpool_limits and catch_warnings are process-wide: entered and left per call from two
    threads at once, each restored the other's saved state in the wrong order."""
    import warnings

    import numpy as np
    from threadpoolctl import threadpool_info

    from segspark.clustering import model

    points = np.random.default_rng(1).normal(size=(2000, 3))
    filters_before = list(warnings.filters)
    concurrently(*[lambda k=k: model.kmeans_plus_plus(points, k, 2, 0) for k in range(2, 8)])
    assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    ours = [f for f in warnings.filters if f not in filters_before and f[2].__name__ == "ConvergenceWarning"]
    assert len(ours) <= 1  # the ConvergenceWarning filter, once (it may predate this test)
