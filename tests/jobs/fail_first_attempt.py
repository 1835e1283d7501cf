"""jobs/segment_customers.py with one injected task failure, for the fault tests.

The first task that reads order lines raises on its first attempt; the marker file named by
SEGSPARK_FAULT_MARKER makes it one failure per run (its retry, and every later task, pass).
Under local[2,2] Spark retries the task; under plain local[2] the run must fail cleanly.
"""

from __future__ import annotations

import os

from pyspark import TaskContext
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import segment_customers
from segspark.edge import cli
from segspark.edge import inputs as segio

MARKER = os.environ["SEGSPARK_FAULT_MARKER"]
read_order_lines = segio.read_order_lines


def first_attempt_fails(customer_id: object) -> bool:
    """True for every line, except that the first attempt of the first task to get here raises."""
    if TaskContext.get().attemptNumber() == 0:
        try:
            os.close(os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return True
        raise RuntimeError(f"injected failure: stage {TaskContext.get().stageId()}, attempt 0")
    return True


def flaky_order_lines(*args, **kwargs):
    lines = read_order_lines(*args, **kwargs)
    keep = F.udf(first_attempt_fails, T.BooleanType(), useArrow=False).asNondeterministic()
    return lines.where(keep(F.col("customer_id")))


segio.read_order_lines = flaky_order_lines

if __name__ == "__main__":
    cli.run(segment_customers.main, "segment_customers")
