"""What the report needs from the segmented customers, reduced in Spark to a bounded size.

Every function here returns a small pandas frame whose size depends on k, the number of bins and
the sample cap, never on the number of customers: the driver stays small at any scale.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS
from segspark.segments import SEGMENT

PROFILE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
ALL_SEGMENTS = -1  # the segment value of the overall rows in `feature_quantiles`
RAW_CLIP_QUANTILE = 0.99  # raw features are binned up to this quantile; the rest go in the last bin


def feature_quantiles(segmented: DataFrame) -> pd.DataFrame:
    """segment, feature, quantile, value: each feature's quantiles per segment and overall (-1)."""
    levels = list(PROFILE_QUANTILES)
    aggregates = [F.percentile_approx(name, levels, 10_000).alias(name) for name in FEATURE_COLUMNS]
    rows = segmented.groupBy(SEGMENT).agg(*aggregates).collect()
    rows.append(segmented.agg(*aggregates).withColumn(SEGMENT, F.lit(ALL_SEGMENTS)).first())
    return pd.DataFrame(
        [
            (row[SEGMENT], name, level, float(value))
            for row in rows
            for name in FEATURE_COLUMNS
            for level, value in zip(levels, row[name])
        ],
        columns=["segment", "feature", "quantile", "value"],
    ).sort_values(["segment", "feature", "quantile"], ignore_index=True)


def histograms(segmented: DataFrame, bins: int = 40) -> pd.DataFrame:
    """feature, bin_start, bin_end, customers: each raw and log feature binned in Spark.

    Log features span their full range; raw features span min .. 99th percentile, the customers
    above it counted in the last bin (the raw spending tail would otherwise flatten the chart).
    """
    ranges = segmented.agg(
        *[F.min(name).alias(f"min_{name}") for name in (*FEATURE_COLUMNS, *LOG_FEATURE_COLUMNS)],
        *[F.max(name).alias(f"max_{name}") for name in LOG_FEATURE_COLUMNS],
        *[F.percentile_approx(name, RAW_CLIP_QUANTILE, 10_000).alias(f"max_{name}") for name in FEATURE_COLUMNS],
    ).first()
    names = (*FEATURE_COLUMNS, *LOG_FEATURE_COLUMNS)
    edges, bin_of_feature = {}, []
    for position, name in enumerate(names):
        low, high = float(ranges[f"min_{name}"]), float(ranges[f"max_{name}"])
        width = (high - low) / bins if high > low else 1.0
        edges[name] = [low + b * width for b in range(bins + 1)]
        index = F.least(F.greatest(F.floor((F.col(name) - F.lit(low)) / F.lit(width)), F.lit(0)), F.lit(bins - 1))
        bin_of_feature.append(F.struct(F.lit(position).alias("feature"), index.cast("int").alias("bin")))
    # One pass for all six: each customer becomes one (feature, bin) pair per feature.
    pairs = segmented.select(F.explode(F.array(*bin_of_feature)).alias("pair")).select("pair.feature", "pair.bin")
    counts = {(row["feature"], row["bin"]): row["count"] for row in pairs.groupBy("feature", "bin").count().collect()}
    frames = [
        pd.DataFrame(
            {
                "feature": name,
                "bin_start": edges[name][:-1],
                "bin_end": edges[name][1:],
                "customers": [counts.get((position, b), 0) for b in range(bins)],
            }
        )
        for position, name in enumerate(names)
    ]
    return pd.concat(frames, ignore_index=True)


def scatter_sample(segmented: DataFrame, sizes: dict[int, int], per_segment: int, seed: int) -> pd.DataFrame:
    """At most `per_segment` customers of each segment: the lowest hashes of (customer_id, seed).

    A deterministic, uniform sample within each segment; a prefilter keeps the ranking small.
    The raw customer_id comes back for the caller to pseudonymise; it must not reach a page as is.
    """
    fractions = {s: min(1.0, 3.0 * per_segment / size) for s, size in sizes.items() if size > 0}
    rank = F.xxhash64(F.col("customer_id"), F.lit(seed))
    keep = F.lit(False)
    for segment, fraction in fractions.items():
        # xxhash64 is uniform over the longs: keep a `fraction` slice of it before ranking
        threshold = min(2**63 - 1, int(-(2**63) + fraction * 2**64))
        keep = keep | ((F.col(SEGMENT) == segment) & (rank <= F.lit(threshold)))
    ranked = segmented.where(keep).withColumn("_rank", F.row_number().over(Window.partitionBy(SEGMENT).orderBy(rank)))
    sample = ranked.where(F.col("_rank") <= per_segment).select(
        SEGMENT, "customer_id", *FEATURE_COLUMNS, *LOG_FEATURE_COLUMNS
    )
    return sample.toPandas().sort_values([SEGMENT, *LOG_FEATURE_COLUMNS], ignore_index=True)


def top_product_types(usable_lines: DataFrame, segmented: DataFrame, per_segment: int = 3) -> pd.DataFrame:
    """segment, product_type, customers: the product types most customers of a segment ordered."""
    buyers = usable_lines.where(F.col("product_type").isNotNull()).select("customer_id", "product_type").distinct()
    counted = (
        buyers.join(segmented.select("customer_id", SEGMENT), "customer_id")
        .groupBy(SEGMENT, "product_type")
        .agg(F.count(F.lit(1)).alias("customers"))
    )
    order = Window.partitionBy(SEGMENT).orderBy(F.desc("customers"), "product_type")
    top = counted.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") <= per_segment)
    return top.select(SEGMENT, "product_type", "customers").toPandas().sort_values(
        [SEGMENT, "customers", "product_type"], ascending=[True, False, True], ignore_index=True
    )
