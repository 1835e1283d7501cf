"""Every k of the elbow measured on every customer: exact cost, cluster sizes and silhouette.

Two passes over the customers serve the whole sweep, however many ks it has:

1. `cluster_statistics`: each customer goes to its nearest centre for every k; per cluster, the
   number of customers, the sum of their log features, of their squared distances to the centre
   (the cost) and of their spending.
2. `silhouettes`: with squared Euclidean distances the silhouette has a closed form (the one Spark's
   ClusteringEvaluator uses): the mean squared distance from x to the customers of cluster C is
   |x - m_C|^2 + v_C, where m_C is C's mean and v_C their mean squared distance to m_C. Pass 1
   gives both, so each customer's silhouette is O(k) and the score is exact on every customer.

Both run as vectorised pandas functions (`mapInPandas`): numpy scores a batch against the ~120
centres of a sweep at once, where the same as Spark SQL columns is hundreds of expressions per
row. Each partition returns one row per cluster (or per k), summed in the driver: the rows it
gets grow with partitions x clusters, never with customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from segspark.schemas import LOG_FEATURE_COLUMNS


def _statistics(dimensions: int) -> tuple[str, ...]:
    """Per cluster: its customers, the sum of each point column, of the squared distances to the
    centre, and of the order column."""
    return ("customers", *(f"sum_{axis}" for axis in range(dimensions)), "squared_distance", "order_value")


@dataclass(frozen=True)
class ClusterStatistics:
    """One k's clusters on every customer. For k = 1 the centre is the mean of all customers."""

    k: int
    centres: np.ndarray  # k x dimensions, the points' space (the reference's: log features)
    sizes: np.ndarray  # customers per cluster
    sums: np.ndarray  # k x dimensions: the sum of the customers' points
    squared_distances: np.ndarray  # the sum of the customers' squared distances to the centre
    spending: np.ndarray  # the sum of the customers' order column (the reference's: total_spending)

    @property
    def cost(self) -> float:
        """The k-means cost on every customer: squared distances to the nearest centre, summed."""
        return float(self.squared_distances.sum())

    def means(self) -> np.ndarray:
        """Each cluster's mean in log-feature space (its centre where the cluster is empty)."""
        sizes = np.maximum(self.sizes, 1)[:, None]
        return np.where(self.sizes[:, None] > 0, self.sums / sizes, self.centres)

    def spreads(self) -> np.ndarray:
        """v_C: the mean squared distance of a cluster's customers to their mean (0 when empty)."""
        offset = ((self.means() - self.centres) ** 2).sum(axis=1)
        return np.maximum(self.squared_distances / np.maximum(self.sizes, 1) - offset, 0.0)

    def mean_spending(self) -> list[float | None]:
        return [float(s / n) if n else None for s, n in zip(self.spending, self.sizes)]


def squared_distances(log_features: np.ndarray, points: np.ndarray) -> np.ndarray:
    """rows x points: each row's squared Euclidean distance to each point.

    Column by column (a vector operation per point and axis): 7 x faster here than broadcasting a
    rows x points x axes array, and the same numbers to the bit.
    """
    distances = np.zeros((len(log_features), len(points)))
    for j, point in enumerate(points):
        for axis, value in enumerate(point):
            distances[:, j] += (log_features[:, axis] - value) ** 2
    return distances


def nearest_centres(log_features: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (the first among equals, as MLlib picks) and its squared distance."""
    distances = squared_distances(log_features, centres)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(log_features)), nearest]


def _points(batch: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    return batch[list(columns)].to_numpy(dtype=float)


def cluster_statistics(
    customers: DataFrame,
    centres_by_k: Mapping[int, Sequence[Sequence[float]]],
    columns: Sequence[str] = LOG_FEATURE_COLUMNS,
    order_column: str = "total_spending",
) -> dict[int, ClusterStatistics]:
    """Pass 1: every k's clusters on every customer, in one Spark job.

    k = 1 may be given any provisional centre (the seeding sample's mean): its statistics are
    re-centred on the exact mean, so its cost is the total sum of squares.
    """
    centres = {k: np.asarray(c, dtype=float) for k, c in centres_by_k.items()}
    names, dimensions = _statistics(len(columns)), len(columns)

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        totals = {k: np.zeros((len(c), len(names))) for k, c in centres.items()}
        for batch in batches:
            log_features, spending = _points(batch, columns), batch[order_column].to_numpy(dtype=float)
            for k, centre in centres.items():
                nearest, distance = nearest_centres(log_features, centre)
                weights = (None, *log_features.T, distance, spending)
                for column, weight in enumerate(weights):
                    totals[k][:, column] += np.bincount(nearest, weights=weight, minlength=len(centre))
        rows = [(k, cluster, *values) for k, table in totals.items() for cluster, values in enumerate(table)]
        yield pd.DataFrame(rows, columns=["k", "cluster", *names])

    schema = "k int, cluster int, " + ", ".join(f"{name} double" for name in names)
    selected = customers.select(*dict.fromkeys([*columns, order_column]))
    partials = selected.mapInPandas(per_partition, schema).collect()
    table: dict[tuple[int, int], np.ndarray] = {}
    for row in partials:  # a few hundred rows per partition: summed here, not in a Spark shuffle
        key = (row["k"], row["cluster"])
        table[key] = table.get(key, 0.0) + np.array([row[name] for name in names])
    statistics = {}
    for k, centre in centres.items():
        values = np.array([table[(k, c)] for c in range(len(centre))])
        statistics[k] = ClusterStatistics(
            k,
            centre,
            values[:, 0].round().astype(np.int64),
            values[:, 1 : 1 + dimensions],
            values[:, 1 + dimensions],
            values[:, 2 + dimensions],
        )
    if 1 in statistics:
        statistics[1] = _recentred(statistics[1])
    return statistics


def _recentred(single: ClusterStatistics) -> ClusterStatistics:
    """k = 1 about the exact mean: sum |x - m|^2 = sum |x - c|^2 - n |m - c|^2."""
    mean = single.means()
    shift = single.sizes * ((mean - single.centres) ** 2).sum(axis=1)
    return ClusterStatistics(1, mean, single.sizes, single.sums, np.maximum(single.squared_distances - shift, 0.0),
                             single.spending)  # fmt: skip


def silhouettes(
    customers: DataFrame, statistics: Mapping[int, ClusterStatistics], columns: Sequence[str] = LOG_FEATURE_COLUMNS
) -> dict[int, float | None]:
    """Pass 2: the mean silhouette (squared Euclidean) of every k >= 2 on every customer, in one Spark job.

    A customer alone in its cluster scores 0 (as scikit-learn and Spark do); a k with fewer than
    two non-empty clusters has no silhouette (None).
    """
    scored = {k: s for k, s in statistics.items() if k >= 2 and (s.sizes > 0).sum() >= 2}
    prepared = {k: (s.centres, s.means(), s.spreads(), s.sizes) for k, s in scored.items()}

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        totals = {k: 0.0 for k in prepared}
        count = 0
        for batch in batches:
            log_features = _points(batch, columns)
            rows = np.arange(len(log_features))
            count += len(log_features)
            for k, (centres, means, spreads, sizes) in prepared.items():
                nearest, _ = nearest_centres(log_features, centres)
                mean_distance = squared_distances(log_features, means) + spreads
                mean_distance[:, sizes == 0] = np.inf
                own_size = sizes[nearest]
                own = mean_distance[rows, nearest] * own_size / np.maximum(own_size - 1, 1)
                mean_distance[rows, nearest] = np.inf
                other = mean_distance.min(axis=1)
                larger = np.maximum(own, other)
                score = np.where((own_size > 1) & (larger > 0), (other - own) / np.where(larger > 0, larger, 1), 0.0)
                totals[k] += float(score.sum())
        yield pd.DataFrame({"k": list(totals), "silhouette_sum": list(totals.values()), "customers": count})

    if not prepared:
        return {k: None for k in statistics if k >= 2}
    partials = (
        customers.select(*columns).mapInPandas(per_partition, "k int, silhouette_sum double, customers long").collect()
    )
    totals: dict[int, list[float]] = {}
    for row in partials:  # one row per k and partition, summed here
        total = totals.setdefault(row["k"], [0.0, 0])
        total[0] += row["silhouette_sum"]
        total[1] += row["customers"]
    return {k: totals[k][0] / totals[k][1] if k in totals and totals[k][1] else None for k in statistics if k >= 2}


def jaccard_matrix(contingency: np.ndarray) -> np.ndarray:
    """The Jaccard index of every pair of clusters of two labellings, from their contingency table
    (points in cluster i of one and j of the other): |A and B| / |A or B|, 0 where both are empty."""
    contingency = np.asarray(contingency, dtype=float)
    union = contingency.sum(axis=1)[:, None] + contingency.sum(axis=0)[None, :] - contingency
    return np.divide(contingency, union, out=np.zeros_like(contingency), where=union > 0)
