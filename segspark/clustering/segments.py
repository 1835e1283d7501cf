"""From clusters to segments: stable ids, distances to the centre, and out-of-range customers.

KMeans numbers its clusters arbitrarily; segments are numbered by ascending mean total spending
of their customers (under another feature set, of its order feature: segspark.clustering.space), so segment 0 means the same thing across reruns (and a refresh keeps the ids
of the previous run's segments it matches: segspark.refresh).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.clustering.model import CLUSTER, FEATURES_VECTOR, squared_distance
from segspark.schemas import LOG_FEATURE_COLUMNS

SEGMENT = "segment"
DISTANCE = "distance_to_centre"
OUT_OF_RANGE = "out_of_range"
DISTANCE_QUANTILES = (0.5, 0.9, 0.99)


def segment_numbering(
    mean_spending: Mapping[int, float | None],
    centres: Sequence[Sequence[float]],
    spending_axis: int = LOG_FEATURE_COLUMNS.index("log_total_spending"),
) -> dict[int, int]:
    """cluster -> segment, by ascending mean total_spending (the order feature's; an empty cluster
    by its centre's coordinate on that feature's axis)."""

    def order(cluster: int) -> tuple:
        mean = mean_spending.get(cluster)
        # ties and empty clusters: by the centre's spending, then its other coordinates
        return (mean if mean is not None else float("inf"), centres[cluster][spending_axis], tuple(centres[cluster]))

    return {cluster: segment for segment, cluster in enumerate(sorted(range(len(centres)), key=order))}


def _literal_map(mapping: Mapping) -> Column:
    """A Spark map literal of a small driver-side dict (cluster -> segment, segment -> distance)."""
    return F.create_map(*[F.lit(x) for pair in sorted(mapping.items()) for x in pair])


def _lookup(values: Sequence[float], index: Column) -> Column:
    return F.element_at(F.array(*[F.lit(float(v)) for v in values]), index + 1)


def with_distance(
    clustered: DataFrame, cluster_centres: Sequence[Sequence[float]], columns: Sequence[str] = LOG_FEATURE_COLUMNS
) -> DataFrame:
    """Add the Euclidean `distance_to_centre` in the points' space (the reference's: log features);
    `cluster_centres[c]` is cluster c's."""
    centre = [_lookup([c[axis] for c in cluster_centres], F.col(CLUSTER)) for axis in range(len(columns))]
    return clustered.withColumn(DISTANCE, F.sqrt(squared_distance(centre, columns)))


def with_segments(measured: DataFrame, numbering: Mapping[int, int]) -> DataFrame:
    """Replace the cluster column (and the feature vector) by `segment`, keeping the distance last."""
    columns = [name for name in measured.columns if name not in (CLUSTER, FEATURES_VECTOR, DISTANCE)]
    segment = _literal_map(numbering)[F.col(CLUSTER)].cast("int")
    return measured.select(*columns, segment.alias(SEGMENT), F.col(DISTANCE))


def with_out_of_range(segmented: DataFrame, p99_by_segment: Mapping[int, float]) -> DataFrame:
    """Flag customers farther from their centre than the training's 99th-percentile distance."""
    p99 = _literal_map(p99_by_segment)[F.col(SEGMENT)]
    return segmented.withColumn(OUT_OF_RANGE, F.col(DISTANCE) > p99)


def sizes_and_out_of_range(scored: DataFrame) -> dict[int, tuple[int, int]]:
    """segment -> (customers, customers out of range), from one aggregation."""
    rows = scored.groupBy(SEGMENT).agg(
        F.count(F.lit(1)).alias("customers"), F.sum(F.col(OUT_OF_RANGE).cast("long")).alias("out_of_range")
    )
    return {row[SEGMENT]: (row["customers"], row["out_of_range"] or 0) for row in rows.collect()}
