"""The steps both jobs share, from an input path to customers with every line accounted for.

Edge code (it reads a path and writes the quarantine), kept here so that scoring new orders runs
exactly the same ingest, rules and features as training did.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark import accounting, features, formats
from segspark import io as segio
from segspark.accounting import LineCounts
from segspark.config import PROJECT_ROOT
from segspark.formats import SourceFormat
from segspark.ingest import QUARANTINE_COLUMNS, require_lines
from segspark.parallel import concurrently

FORMATS_DIR = PROJECT_ROOT / "conf" / "formats"


@dataclass
class AccountedCustomers:
    """Customers with their features (persisted), the lines they came from, and where every line went."""

    customers: DataFrame
    counts: LineCounts
    usable_lines: DataFrame
    _persisted: tuple[DataFrame, ...]

    def release(self) -> None:
        for frame in self._persisted:
            frame.unpersist()


def load_source_format(name_or_path: str) -> SourceFormat:
    """A built-in format (conf/formats/<name>.toml) or a user's format file."""
    return formats.load_format(name_or_path, FORMATS_DIR)


def accounted_customers(
    spark: SparkSession, input_path: str, source_format: SourceFormat, quarantine_path: str
) -> AccountedCustomers:
    """Read, quarantine and exclude lines, compute the features; counts reconcile or this raises."""
    # Canonical lines, each marked with the first quarantine or exclusion rule that applies.
    # Persisted once: the counts, the quarantine and the features all read it.
    typed = segio.read_order_lines(
        spark,
        input_path,
        source_format.schema,
        source_format.required,
        source_format.date_format,
        source_format.timestamp_format,
    )
    lines = (
        formats.to_canonical(typed, source_format)
        .transform(lambda frame: features.mark_line_exclusions(frame, source_format.return_rate))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    line_outcomes = accounting.line_outcomes(lines)
    require_lines(sum(line_outcomes.values()), input_path)

    is_quarantined = F.col("quarantine_rule").isNotNull()
    is_usable = ~is_quarantined & F.col("exclusion_rule").isNull()

    # One shuffle by customer: the order and product-type aggregations and their join then run
    # within those partitions. Persisted with each customer's rule: the counts and every later
    # pass read it; the kept customers are a filter over it, not a second copy. The quarantine
    # is written meanwhile.
    all_customers = (
        features.customer_features(lines.where(is_usable).repartition("customer_id"), source_format.return_rate)
        .transform(features.mark_customer_exclusions)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    _, customer_outcomes = concurrently(
        lambda: lines.where(is_quarantined).select(*QUARANTINE_COLUMNS).write.json(quarantine_path),
        lambda: accounting.customer_outcomes(all_customers),
    )
    counts = accounting.reconcile(
        line_outcomes, customer_outcomes, features.line_rule_names(source_format.rule_names)
    )
    customers = all_customers.where(F.col("exclusion_rule").isNull()).transform(features.with_log_features)
    return AccountedCustomers(customers, counts, lines.where(is_usable), (all_customers, lines))
