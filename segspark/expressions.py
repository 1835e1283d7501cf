"""Column expressions every stage writes the same way: the first rule that holds, and a uniform,
deterministic sample by hash."""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F


def first_of(cases: Sequence[tuple[Column, Column]], null_type: str = "string") -> Column:
    """CASE WHEN c0 THEN v0 WHEN c1 THEN v1 ... END: the value of the first condition that holds,
    else a null of `null_type`. How every "the first rule that applies names the line" is written."""
    if not cases:
        return F.lit(None).cast(null_type)
    column = F.when(*cases[0])
    for condition, value in cases[1:]:
        column = column.when(condition, value)
    return column  # no ELSE: null, of the values' type


def hash_rank(column: str, seed: int) -> Column:
    """A uniform, deterministic rank: xxhash64 of (`column`, seed). The same seed ranks the same rows
    alike on any machine and partitioning."""
    return F.xxhash64(F.col(column), F.lit(seed))


def among_lowest(rank: Column, fraction: float) -> Column:
    """True for about `fraction` of the rows: those whose `hash_rank` is in the lowest slice of the
    longs (xxhash64 is uniform over them)."""
    threshold = min(2**63 - 1, int(-(2**63) + fraction * 2**64))
    return rank <= F.lit(threshold)
