"""The steps both jobs share, from an input path to customers with every line accounted for.

Edge code (it reads a path and writes the quarantine), kept here so that scoring new orders runs
exactly the same ingest, rules and features as training did.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark import accounting, features
from segspark import io as segio
from segspark.accounting import LineCounts
from segspark.errors import UsageError
from segspark.ingest import QUARANTINE_COLUMNS, require_lines
from segspark.schemas import FEATURE_INPUT_COLUMNS, SHOPIFY_ORDER_LINES

SOURCE_FORMATS = {"shopify": SHOPIFY_ORDER_LINES}


@dataclass
class AccountedCustomers:
    """Customers with their features (persisted), and where every input line went."""

    customers: DataFrame
    counts: LineCounts
    _persisted: tuple[DataFrame, ...]

    def release(self) -> None:
        for frame in self._persisted:
            frame.unpersist()


def check_source_format(source_format: str) -> None:
    if source_format not in SOURCE_FORMATS:
        raise UsageError(f"unknown --format {source_format!r}; known: {', '.join(SOURCE_FORMATS)}")


def accounted_customers(
    spark: SparkSession, input_path: str, source_format: str, date_format: str, quarantine_path: str
) -> AccountedCustomers:
    """Read, quarantine and exclude lines, compute the features; counts reconcile or this raises."""
    # Typed lines, each marked with the first quarantine or exclusion rule that applies. Persisted
    # once: the counts, the quarantine and the features all read it.
    lines = (
        segio.read_order_lines(spark, input_path, SOURCE_FORMATS[source_format], FEATURE_INPUT_COLUMNS, date_format)
        .transform(features.mark_line_exclusions)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    line_outcomes = accounting.line_outcomes(lines)
    require_lines(sum(line_outcomes.values()), input_path)

    is_quarantined = F.col("quarantine_rule").isNotNull()
    is_usable = ~is_quarantined & F.col("exclusion_rule").isNull()
    lines.where(is_quarantined).select(*QUARANTINE_COLUMNS).write.json(quarantine_path)

    all_customers = (
        features.customer_features(lines.where(is_usable))
        .transform(features.mark_customer_exclusions)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = accounting.reconcile(line_outcomes, accounting.customer_outcomes(all_customers))
    customers = (
        all_customers.where(F.col("exclusion_rule").isNull())
        .transform(features.with_log_features)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    return AccountedCustomers(customers, counts, (customers, all_customers, lines))
