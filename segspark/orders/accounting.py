"""Where every input line went: used, excluded by a named rule, or quarantined.

The counts come from small aggregates (a few rows per rule), so they cost one pass over data the
job has already persisted and never bring lines or customers to the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from segspark.orders.features import CUSTOMER_RULES, LINE_RULES
from segspark.orders.ingest import UNPARSED_UNREAD_COLUMN


@dataclass(frozen=True)
class LineCounts:
    """The run's line accounting; `lines_in` always equals the sum of the other three."""

    lines_in: int
    lines_used: int
    lines_excluded: dict[str, int]
    lines_quarantined: int
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    customers_excluded: dict[str, int] = field(default_factory=dict)
    #: lines with a value that does not parse in a column nothing reads, per column (the lines are
    #: placed like any other: the value costs no line)
    unparsed_unread_values: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The `counts` object of summary.json."""
        return {
            "lines_in": self.lines_in,
            "lines_used": self.lines_used,
            "lines_excluded": dict(self.lines_excluded),
            "lines_quarantined": self.lines_quarantined,
            "lines_quarantined_by_rule": dict(self.quarantined_by_rule),
            "customers": self.customers,
            "customers_excluded": dict(self.customers_excluded),
            "unparsed_unread_values": dict(self.unparsed_unread_values),
        }


#: How `line_outcomes` names a quarantine rule's outcome.
QUARANTINE_PREFIX = "quarantine:"


def line_outcomes(lines: DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """Lines per outcome ('quarantine:<rule>', an exclusion rule's name, or 'candidate'), and lines
    per unread column with a value that does not parse; one small aggregate.

    `lines` carries `quarantine_rule` (from ingest), `exclusion_rule` (from the features) and, from
    ingest, `unparsed_unread_columns`.
    """
    outcome = F.coalesce(
        F.concat(F.lit(QUARANTINE_PREFIX), F.col("quarantine_rule")),
        F.col("exclusion_rule"),
        F.lit("candidate"),
    )
    unread = F.col(UNPARSED_UNREAD_COLUMN) if UNPARSED_UNREAD_COLUMN in lines.columns else F.lit(None)
    rows = lines.groupBy(outcome.alias("outcome"), unread.cast("string").alias("unread")).count().collect()
    outcomes: dict[str, int] = {}
    unparsed: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + row["count"]
        for column in row["unread"].split(",") if row["unread"] else ():
            unparsed[column] = unparsed.get(column, 0) + row["count"]
    return outcomes, dict(sorted(unparsed.items()))


def customer_outcomes(customers: DataFrame) -> dict[str, tuple[int, int]]:
    """(customers, lines) per customer outcome: an exclusion rule's name, or 'kept'."""
    outcome = F.coalesce(F.col("exclusion_rule"), F.lit("kept"))
    rows = (
        customers.groupBy(outcome.alias("outcome"))
        .agg(F.count(F.lit(1)).alias("customers"), F.sum("order_lines").alias("lines"))
        .collect()
    )
    return {row["outcome"]: (row["customers"], row["lines"] or 0) for row in rows}


def reconcile(
    line_counts: dict[str, int],
    customer_counts: dict[str, tuple[int, int]],
    line_rules: tuple[str, ...] = LINE_RULES,
    unparsed_unread: dict[str, int] | None = None,
) -> LineCounts:
    """Combine both aggregates into the run's counts, and prove they add up."""
    quarantined = {
        outcome.split(":", 1)[1]: n for outcome, n in line_counts.items() if outcome.startswith(QUARANTINE_PREFIX)
    }
    excluded = {rule: line_counts.get(rule, 0) for rule in line_rules}
    customers_excluded = {}
    for rule in CUSTOMER_RULES:
        customers_excluded[rule], excluded[rule] = customer_counts.get(rule, (0, 0))
    kept_customers, used = customer_counts.get("kept", (0, 0))
    counts = LineCounts(
        lines_in=sum(line_counts.values()),
        lines_used=used,
        lines_excluded=excluded,
        lines_quarantined=sum(quarantined.values()),
        quarantined_by_rule=dict(sorted(quarantined.items())),
        customers=kept_customers,
        customers_excluded=customers_excluded,
        unparsed_unread_values=dict(unparsed_unread or {}),
    )
    accounted = counts.lines_used + sum(counts.lines_excluded.values()) + counts.lines_quarantined
    candidates = line_counts.get("candidate", 0)
    customer_lines = used + sum(excluded[rule] for rule in CUSTOMER_RULES)
    unknown = set(line_counts) - set(line_rules) - {"candidate"} - {f"{QUARANTINE_PREFIX}{r}" for r in quarantined}
    if unknown or accounted != counts.lines_in or customer_lines != candidates:
        raise AssertionError(
            f"line accounting does not reconcile: {counts.lines_in} in, {accounted} accounted for"
            + (f", unknown outcomes {sorted(unknown)}" if unknown else "")
        )
    return counts
