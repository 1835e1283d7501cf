"""RFM scores 1-5 and named RFM segments.

Each of recency, frequency and monetary gets a score 1-5 by quintile over all the customers a run
segments: four breakpoints, the exact 20th, 40th, 60th and 80th percentiles (linear interpolation,
as pandas' and numpy's default), a value's score being 1 + the number of breakpoints below it.
Recency is reversed (fewer days since the last purchase scores higher). Where ties make two
percentiles equal (most customers order once), the breakpoints are chosen among the feature's
distinct values instead (`cut_points`), so that five scores exist wherever five distinct values
do. A named segment is the first rule of the set's table that the scores satisfy.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.expressions import first_of
from segspark.orders.feature_sets import FeatureSet, SegmentRule

QUINTILES = (0.2, 0.4, 0.6, 0.8)
SCORE_COLUMNS = {"recency": "r_score", "frequency": "f_score", "monetary": "m_score"}
SEGMENT_NAME = "rfm_segment"
#: At most this many distinct values are collected to place tied breakpoints; past it (a feature
#: with more distinct values than that and a value shared by a fifth of the customers), the
#: percentiles' distinct breakpoints are kept and fewer than five scores exist; summary.json says so.
MAX_DISTINCT_VALUES = 100_000


def cut_points(histogram: Sequence[tuple[float, int]], shares: Sequence[float] = QUINTILES) -> list[float]:
    """Breakpoints among a feature's distinct values, for a histogram (value, customers) sorted by
    value: each the value whose cumulative share of customers is nearest its quintile, leaving at
    least one distinct value for every later score (so 5 distinct values give 5 scores; fewer give
    as many scores as values)."""
    values = [value for value, _ in histogram]
    total = sum(count for _, count in histogram)
    cumulative, running = [], 0
    for _, count in histogram:
        running += count
        cumulative.append(running / total)
    cuts: list[float] = []
    start = 0
    wanted = min(len(shares), len(values) - 1)
    for i, share in enumerate(shares[:wanted]):
        last = len(values) - 1 - (wanted - i)  # leave one value for each score after this one
        best = min(range(start, last + 1), key=lambda j: (abs(cumulative[j] - share), j))
        cuts.append(float(values[best]))
        start = best + 1
    return cuts


def breakpoints(customers: DataFrame, feature_set: FeatureSet) -> dict[str, dict]:
    """Per RFM role: its feature, breakpoints and how they were found. One Spark job for the
    percentiles, and one per role whose percentiles tie (its distinct values and their counts)."""
    roles = feature_set.rfm
    row = customers.agg(
        *[F.percentile(F.col(column), list(QUINTILES)).alias(role) for role, column in roles.items()]
    ).first()
    found = {}
    for role, column in roles.items():
        percentiles = [float(value) for value in row[role]]
        method = "percentiles"
        if len(set(percentiles)) < len(percentiles):
            counted = customers.groupBy(column).count().orderBy(column).limit(MAX_DISTINCT_VALUES + 1).collect()
            if len(counted) <= MAX_DISTINCT_VALUES:
                percentiles = cut_points([(r[column], r["count"]) for r in counted])
                method = "distinct values (tied percentiles)"
            else:
                percentiles = sorted(set(percentiles))
                method = "percentiles, ties merged"
        found[role] = {"feature": column, "breakpoints": percentiles, "method": method}
    return found


def score(value: Column, cuts: Sequence[float], reverse: bool = False) -> Column:
    """1 + the number of breakpoints below the value; reversed (6 - that) for recency."""
    above = sum((value > F.lit(cut)).cast("int") for cut in cuts) if cuts else F.lit(0)
    scored = F.lit(1) + above
    return (F.lit(6) - scored if reverse else scored).cast("int")


def score_of(value: float, cuts: Sequence[float], reverse: bool = False) -> int:
    """`score` for one value in the driver (a segment's centre)."""
    scored = 1 + sum(value > cut for cut in cuts)
    return 6 - scored if reverse else scored


def with_scores(customers: DataFrame, found: dict[str, dict]) -> DataFrame:
    """The customers with r_score, f_score and m_score."""
    return customers.withColumns(
        {
            SCORE_COLUMNS[role]: score(F.col(spec["feature"]), spec["breakpoints"], reverse=role == "recency")
            for role, spec in found.items()
        }
    )


def with_rfm_segments(customers: DataFrame, found: dict[str, dict], rules: Sequence[SegmentRule]) -> DataFrame:
    """The customers with their R, F and M scores on `found`'s breakpoints and their named segment."""
    return with_scores(customers, found).withColumn(SEGMENT_NAME, segment_name(rules))


def customers_per_name(scored: DataFrame, rules: Sequence[SegmentRule]) -> dict[str, int]:
    """Customers per named RFM segment, in the rule table's order (one aggregation); those no rule
    names, if any, under "(no rule)"."""
    counted = {row[0]: row[1] for row in scored.groupBy(SEGMENT_NAME).count().collect()}
    in_order = {rule.name: counted.get(rule.name, 0) for rule in rules}
    if counted.get(None):
        in_order["(no rule)"] = counted[None]
    return in_order


def segment_name(rules: Sequence[SegmentRule]) -> Column:
    """The name of the first rule the customer's scores satisfy (null if none: a table that covers
    every combination, as the built-in one, never gives null)."""

    def within(column: str, bounds: tuple[int, int]) -> Column:
        return F.col(column).between(*bounds)

    cases = [
        (
            within("r_score", rule.recency) & within("f_score", rule.frequency) & within("m_score", rule.monetary),
            F.lit(rule.name),
        )
        for rule in rules
    ]
    return first_of(cases)


def name_of(rules: Sequence[SegmentRule], recency: int, frequency: int, monetary: int) -> str | None:
    """`segment_name` for one set of scores in the driver."""
    return next((rule.name for rule in rules if rule.holds(recency, frequency, monetary)), None)
