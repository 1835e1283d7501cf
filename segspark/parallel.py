"""Independent Spark actions run side by side from threads of the one session.

On small data a Spark job is mostly fixed scheduling cost, and one action at a time leaves the
cores idle between its jobs; actions that do not depend on each other finish sooner together.
Their results do not depend on what runs beside them.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable


def concurrently(*actions: Callable[[], Any]) -> list[Any]:
    """Each action's result, in the order given.

    The first failure is raised once the other actions have ended: they all start at once, and a
    thread cannot be stopped from outside. An interrupt (Ctrl-C) in the waiting thread is raised at
    once, without waiting for the actions (segspark.edge.cli then ends the process).
    """
    pool = ThreadPoolExecutor(max_workers=max(1, len(actions)))
    try:
        futures = [pool.submit(_in_this_session(action)) for action in actions]
        done, pending = set(), futures
        while pending:  # in short waits, so that an interrupt is seen at once
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            done |= finished
            if any(future.exception() is not None for future in finished):
                break
        failed = [future for future in futures if future in done and future.exception() is not None]
        if not failed:
            results = [future.result() for future in futures]
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failed:
        raise failed[0].exception()
    return results


def _in_this_session(action: Callable[[], Any]) -> Callable[[], Any]:
    """A Spark Connect session is active only in the thread that made it, and spark.ml's readers and
    writers look for the active one: the action runs with this thread's (pyspark's
    inheritable_thread_target). A classic session is the process's: nothing to carry."""
    from pyspark.sql import SparkSession

    from segspark.engine import is_connect

    session = SparkSession.getActiveSession()
    if session is None or not is_connect(session):
        return action
    from pyspark.util import inheritable_thread_target

    return inheritable_thread_target(session)(action)
