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
    thread cannot be stopped from outside.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(actions))) as pool:
        futures = [pool.submit(action) for action in actions]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [future for future in futures if future in done and future.exception() is not None]
        if failed:
            raise failed[0].exception()
        return [future.result() for future in futures]
