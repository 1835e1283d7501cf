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
from segspark.errors import QualityError
from segspark.formats import SourceFormat
from segspark.ingest import QUARANTINE_COLUMNS, require_lines
from segspark.parallel import concurrently


@dataclass
class AccountedCustomers:
    """Customers with their features (persisted), the lines they came from, and where every line went."""

    customers: DataFrame
    counts: LineCounts
    usable_lines: DataFrame
    quarantined_lines: DataFrame
    _persisted: tuple[DataFrame, ...]

    def release(self) -> None:
        for frame in self._persisted:
            frame.unpersist()


def load_source_format(name_or_path: str) -> SourceFormat:
    """A built-in format (conf/formats/<name>.toml) or a user's format file."""
    return formats.load_format(name_or_path)


def accounted_customers(
    spark: SparkSession, input_path: str, source_format: SourceFormat, quarantine_path: str
) -> AccountedCustomers:
    """Read, quarantine and exclude lines, compute the features; counts reconcile or this raises."""
    # Canonical lines, each marked with the first quarantine or exclusion rule that applies.
    # Persisted once: the counts, the quarantine and the features all read it.
    typed = segio.read_order_lines(spark, input_path, source_format)
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
    return AccountedCustomers(
        customers, counts, lines.where(is_usable), lines.where(is_quarantined), (all_customers, lines)
    )


def check_quality(accounted: AccountedCustomers, max_share: float, accepted: bool, quarantine_path: str) -> dict:
    """The data-quality gate: summary.json's `quality`, or a QualityError when more than `max_share`
    of the input lines were quarantined and the run was not told to accept it.

    A common export quirk can quarantine half the lines and silently cost a sixth of the
    customers; such a run stops before publishing and says which rule, how often, and an example.
    """
    counts = accounted.counts
    share = counts.lines_quarantined / counts.lines_in if counts.lines_in else 0.0
    quality = {"max_quarantined_share": max_share, "quarantined_share": round(share, 6), "accepted": False}
    if share <= max_share:
        return quality
    if accepted:
        return {**quality, "accepted": True}
    rule, lines = max(counts.quarantined_by_rule.items(), key=lambda item: (item[1], item[0]))
    example = (
        accounted.quarantined_lines.where(F.col("quarantine_rule") == rule)
        .select("source_file", "quarantine_reason", "raw_line")
        .first()
    )
    raise QualityError(
        f"{share:.1%} of the {counts.lines_in:,} input lines were quarantined, more than the {max_share:.0%} "
        f"allowed ([quality] max_quarantined_share): most under {rule} ({lines:,} line{'s' * (lines != 1)}), e.g. "
        f"{example['source_file'].rsplit('/', 1)[-1]}: {example['quarantine_reason']} "
        f"(line: {example['raw_line'][:120]!r}). Nothing was published; the quarantined lines are in "
        f"{quarantine_path}. Fix the export or its format file, or pass --accept-quarantine to publish anyway."
    )
