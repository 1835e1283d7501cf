"""Drift across refreshes: how far the shop's customers moved since the previous run, per feature.

Per feature, the population stability index (PSI) of this run's customers against the previous
run's deciles, from bounded histograms computed in Spark, and the medians before and after. PSI
above DRIFT_PSI reads as a shift that a refresh should be looked at for.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.refresh.identity import PreviousRun

#: The population stability index above which a feature is said to have shifted (the usual reading:
#: under 0.1 no real change, 0.1 to 0.25 some, above 0.25 a major shift).
DRIFT_PSI = 0.25
DRIFT_BINS = 10


def drift(
    previous_customers: DataFrame, current_customers: DataFrame, current_medians: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """Per feature: the PSI of this run's customers over the previous run's deciles, and the medians.

    Two Spark passes, bounded by features x bins: the previous run's deciles (percentile_approx),
    then both runs' customers counted into those bins. (PSI over deciles does not change with a
    monotone transform, so the raw features give the same index as their logs.)
    """
    features = list(current_medians)  # the run's features, in the order it profiled them
    levels = [b / DRIFT_BINS for b in range(1, DRIFT_BINS)]
    deciles = previous_customers.agg(
        *[F.percentile_approx(name, levels, 10_000).alias(name) for name in features]
    ).first()
    edges = {name: sorted({float(v) for v in deciles[name]}) for name in features}

    def binned(frame: DataFrame, run: str) -> DataFrame:
        bins = [
            F.struct(F.lit(name).alias("feature"), _bin(F.col(name), edges[name]).alias("bin")) for name in features
        ]
        return frame.select(F.lit(run).alias("run"), F.explode(F.array(*bins)).alias("b")).select("run", "b.*")

    counts = {
        (row["run"], row["feature"], row["bin"]): row["count"]
        for row in binned(previous_customers, "previous")
        .unionByName(binned(current_customers, "current"))
        .groupBy("run", "feature", "bin")
        .count()
        .collect()
    }
    result = {}
    for name in features:
        bins = range(len(edges[name]) + 1)
        index = psi(
            [counts.get(("previous", name, b), 0) for b in bins], [counts.get(("current", name, b), 0) for b in bins]
        )
        result[name] = {
            "psi": round(index, 4),
            "median_previous": float(deciles[name][DRIFT_BINS // 2 - 1]),
            "median_current": float(current_medians[name]),
            "shifted": index > DRIFT_PSI,
        }
    return result


def _bin(value: Column, edges: Sequence[float]) -> Column:
    """The bin of a value among sorted edges: how many edges lie below it (0 .. len(edges))."""
    index = F.lit(0)
    for edge in edges:
        index = index + F.when(value > F.lit(edge), 1).otherwise(0)
    return index


def drift_sentences(drift_by_feature: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One plain sentence per feature whose distribution moved more than DRIFT_PSI."""
    return [
        f"{name.replace('_', ' ')} shifted since the previous run: PSI {d['psi']:.2f} (above {DRIFT_PSI}), "
        f"median {d['median_previous']:,.4g} -> {d['median_current']:,.4g}"
        for name, d in drift_by_feature.items()
        if d["shifted"]
    ]


def psi(previous_counts: Sequence[float], current_counts: Sequence[float]) -> float:
    """Population stability index of two histograms over the same bins (empty bins get half a count)."""
    p = np.asarray(previous_counts, dtype=float) + 0.5
    q = np.asarray(current_counts, dtype=float) + 0.5
    p, q = p / p.sum(), q / q.sum()
    return float(((q - p) * np.log(q / p)).sum())


def with_drift(
    block: dict[str, Any], previous: PreviousRun, segmented: DataFrame, current_medians: Mapping[str, float]
) -> dict[str, Any]:
    """The refresh block with each feature's drift and the sentences for those that shifted (none
    where the previous run's customers were pruned: there is nothing to compare with)."""
    if previous.customers is None:
        return {**block, "drift": None, "drift_threshold": DRIFT_PSI, "drift_sentences": []}
    by_feature = drift(previous.customers, segmented, current_medians)
    return {**block, "drift": by_feature, "drift_threshold": DRIFT_PSI, "drift_sentences": drift_sentences(by_feature)}
