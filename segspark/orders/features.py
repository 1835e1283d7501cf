"""The three behavioural features per customer, exactly as the reference method defines them.

- products_ordered: distinct product types the customer ordered;
- average_return_rate: per order -sum(returned_item_quantity) / sum(ordered_item_quantity),
  averaged over the customer's orders (`per_order`, the reference method); or, for sources whose
  returns are separate lines not linked to their order, -sum(returned) / sum(ordered) over all the
  customer's lines (`per_customer`);
- total_spending: sum of total_sales.

Lines are excluded by stated rules before any feature (`mark_line_exclusions`), and customers whose
spending has no log1p by `mark_customer_exclusions`; every rule has a name the run's counts use.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from segspark.compat import try_cast
from segspark.expressions import first_of
from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS

#: Line rules, in the order they are applied (a source format's own rules go between the two):
#: a line is counted under the first that matches. Under `per_customer` return rates, a return
#: line (nothing ordered, units returned) is used, not excluded.
#: The version of the feature definitions below: a saved model records it, and scoring refuses a
#: model whose features were defined otherwise. Raise it with any change to what a feature means.
FEATURES_VERSION = 1

NO_CUSTOMER_ID = "no_customer_id"
NOT_ORDERED = "ordered_item_quantity_not_positive"
LINE_RULES = (NO_CUSTOMER_ID, NOT_ORDERED)
PER_ORDER = "per_order"
PER_CUSTOMER = "per_customer"
#: What each return-rate rule means, in words (summary.json, the report, the model's metadata).
RETURN_RATE_DEFINITIONS = {
    PER_ORDER: "per order -sum(returned units) / sum(ordered units), averaged over the customer's orders",
    PER_CUSTOMER: "-sum(returned units) / sum(ordered units) over all the customer's lines, returns included",
}

#: Customer rules. Under `per_customer`, a customer with returns but no ordered units has no rate.
#: log1p is undefined at total_spending <= -1, so such a customer (a net refund of more than one
#: unit of currency) cannot be placed. A customer's lines are counted under the first that holds.
WITHOUT_ORDERED_UNITS = "customer_without_ordered_units"
SPENDING_WITHOUT_LOG = "customer_total_spending_at_most_minus_1"
CUSTOMER_RULES = (WITHOUT_ORDERED_UNITS, SPENDING_WITHOUT_LOG)


def line_rule_names(format_rules: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every line rule in the order it applies."""
    return (NO_CUSTOMER_ID, *format_rules, NOT_ORDERED)


def mark_line_exclusions(lines: DataFrame, return_rate: str = PER_ORDER) -> DataFrame:
    """Add `exclusion_rule`: the name of the first line rule that leaves the line out, or null.

    A `format_rule` column, where present, holds the source format's own rule for the line.
    """
    has_no_customer = F.col("customer_id").isNull()
    is_not_ordered = F.col("ordered_item_quantity") <= 0
    if return_rate == PER_CUSTOMER:
        is_return = (F.col("ordered_item_quantity") == 0) & (F.col("returned_item_quantity") < 0)
        is_not_ordered = is_not_ordered & ~is_return
    format_rule = F.col("format_rule") if "format_rule" in lines.columns else F.lit(None).cast("string")
    rule = first_of(
        [
            (has_no_customer, F.lit(NO_CUSTOMER_ID)),
            (format_rule.isNotNull(), format_rule),
            (is_not_ordered, F.lit(NOT_ORDERED)),
        ]
    )
    return lines.withColumn("exclusion_rule", rule)


def customer_features(usable_lines: DataFrame, return_rate: str = PER_ORDER) -> DataFrame:
    """One row per customer: the three raw features, the ordered units and the lines behind them.

    `usable_lines` are lines no rule excluded. Per order, orders are summed first (the rate is a
    per-order ratio), then customers. Distinct product types are counted from distinct
    (customer, type) pairs and joined on: plain hash aggregates, which spill to disk, where
    collecting sets of types per group ran a 2 GB driver out of heap at 10M customers.
    """
    if return_rate == PER_CUSTOMER:
        ordered_units = _exact_sum("ordered_item_quantity")
        per_customer = usable_lines.groupBy("customer_id").agg(
            F.try_divide(-_exact_sum("returned_item_quantity").cast("double"), ordered_units.cast("double"))
            .cast("double")
            .alias("average_return_rate"),
            F.sum("total_sales").alias("total_spending"),
            try_cast(ordered_units, "long").alias("ordered_units"),  # null only past the long range: positive
            F.count(F.lit(1)).alias("order_lines"),
        )
        typed_lines = usable_lines.where(F.col("ordered_item_quantity") > 0)
    else:
        orders = usable_lines.groupBy("customer_id", "order_id").agg(
            _exact_sum("returned_item_quantity").alias("order_returned_quantity"),
            _exact_sum("ordered_item_quantity").alias("order_ordered_quantity"),
            F.sum("total_sales").alias("order_total_sales"),
            F.count(F.lit(1)).alias("order_lines"),
        )
        order_return_rate = -F.col("order_returned_quantity").cast("double") / F.col("order_ordered_quantity").cast(
            "double"
        )
        per_customer = orders.groupBy("customer_id").agg(
            F.avg(order_return_rate).alias("average_return_rate"),
            F.sum("order_total_sales").alias("total_spending"),
            try_cast(F.sum("order_ordered_quantity"), "long").alias("ordered_units"),  # null only past the long range
            F.sum("order_lines").alias("order_lines"),
        )
        typed_lines = usable_lines
    product_types = (
        typed_lines.where(F.col("product_type").isNotNull())
        .select("customer_id", "product_type")
        .distinct()
        .groupBy("customer_id")
        .agg(F.count(F.lit(1)).alias("products_ordered"))
    )
    return per_customer.join(product_types, "customer_id", "left").select(
        "customer_id",
        F.coalesce(F.col("products_ordered"), F.lit(0)).cast("long").alias("products_ordered"),
        "average_return_rate",
        "total_spending",
        "ordered_units",
        "order_lines",
    )


def _exact_sum(column: str):
    """A sum of whole numbers that cannot overflow (decimal(38,0)): quantities near the long range
    would overflow a long sum, which under ANSI SQL fails the run. Divided as doubles, as pandas
    divides its int64 sums."""
    return F.sum(F.col(column).cast("decimal(38,0)"))


def mark_customer_exclusions(customers: DataFrame) -> DataFrame:
    """Add `exclusion_rule` to customers: the first customer rule that applies, else null.

    Without a `total_spending` column (a feature set other than the reference's, whose features
    are checked by segspark.orders.feature_sets), only the ordered-units rule applies.
    """
    cases = [(F.col("ordered_units") <= 0, F.lit(WITHOUT_ORDERED_UNITS))]
    if "total_spending" in customers.columns:
        cases.append((F.col("total_spending") <= -1, F.lit(SPENDING_WITHOUT_LOG)))
    return customers.withColumn("exclusion_rule", first_of(cases))


def with_log_features(customers: DataFrame) -> DataFrame:
    """The published customers table: id, the three features and their log1p, in this order."""
    return customers.select(
        F.col("customer_id"),
        *[F.col(name) for name in FEATURE_COLUMNS],
        *[F.log1p(name).alias(log_name) for name, log_name in zip(FEATURE_COLUMNS, LOG_FEATURE_COLUMNS)],
    )
