"""From clusters to segments: stable ids, distances to the centre, and out-of-range customers.

KMeans numbers its clusters arbitrarily; segments are numbered by ascending mean total spending
of their customers, so segment 0 means the same thing across reruns and data refreshes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.model import CLUSTER, squared_distance
from segspark.schemas import LOG_FEATURE_COLUMNS

SEGMENT = "segment"
DISTANCE = "distance_to_centre"
OUT_OF_RANGE = "out_of_range"
DISTANCE_QUANTILES = (0.5, 0.9, 0.99)


def segment_numbering(clustered: DataFrame, centres: Sequence[Sequence[float]]) -> dict[int, int]:
    """cluster -> segment, by ascending mean total_spending (an empty cluster by its centre)."""
    means = {
        row[CLUSTER]: row["mean_spending"]
        for row in clustered.groupBy(CLUSTER).agg(F.avg("total_spending").alias("mean_spending")).collect()
    }
    spending_axis = LOG_FEATURE_COLUMNS.index("log_total_spending")

    def order(cluster: int) -> tuple:
        mean = means.get(cluster)
        # ties and empty clusters: by the centre's spending, then its other coordinates
        return (mean if mean is not None else float("inf"), centres[cluster][spending_axis], tuple(centres[cluster]))

    return {cluster: segment for segment, cluster in enumerate(sorted(range(len(centres)), key=order))}


def _literal_map(mapping: Mapping) -> Column:
    """A Spark map literal of a small driver-side dict (cluster -> segment, segment -> distance)."""
    return F.create_map(*[F.lit(x) for pair in sorted(mapping.items()) for x in pair])


def _lookup(values: Sequence[float], index: Column) -> Column:
    return F.element_at(F.array(*[F.lit(float(v)) for v in values]), index + 1)


def with_segments(
    clustered: DataFrame, numbering: Mapping[int, int], segment_centres: Sequence[Sequence[float]]
) -> DataFrame:
    """Replace the cluster column by `segment` and add the Euclidean `distance_to_centre`.

    `segment_centres[s]` is the centre of segment s in log-feature space.
    """
    segment = _literal_map(numbering)[F.col(CLUSTER)]
    centre = [_lookup([c[axis] for c in segment_centres], segment) for axis in range(len(LOG_FEATURE_COLUMNS))]
    distance = F.sqrt(squared_distance(centre))
    columns = [name for name in clustered.columns if name not in (CLUSTER, "features")]
    return clustered.select(*columns, segment.cast("int").alias(SEGMENT), distance.alias(DISTANCE))


def distance_quantiles(segmented: DataFrame) -> dict[int, list[float]]:
    """Per segment, the 50th, 90th and 99th percentile of distance_to_centre (approximate)."""
    rows = (
        segmented.groupBy(SEGMENT)
        .agg(F.percentile_approx(DISTANCE, list(DISTANCE_QUANTILES), 10_000).alias("quantiles"))
        .collect()
    )
    return {row[SEGMENT]: [float(q) for q in row["quantiles"]] for row in rows}


def with_out_of_range(segmented: DataFrame, p99_by_segment: Mapping[int, float]) -> DataFrame:
    """Flag customers farther from their centre than the training's 99th-percentile distance."""
    p99 = _literal_map(p99_by_segment)[F.col(SEGMENT)]
    return segmented.withColumn(OUT_OF_RANGE, F.col(DISTANCE) > p99)


def segment_sizes(segmented: DataFrame) -> dict[int, int]:
    return {row[SEGMENT]: row["count"] for row in segmented.groupBy(SEGMENT).count().collect()}
