"""The three behavioural features per customer, exactly as the reference method defines them.

- products_ordered: distinct product types the customer ordered;
- average_return_rate: per order -sum(returned_item_quantity) / sum(ordered_item_quantity),
  averaged over the customer's orders;
- total_spending: sum of total_sales.

Lines are excluded by stated rules before any feature (`mark_line_exclusions`), and customers whose
spending has no log1p by `mark_customer_exclusions`; every rule has a name the run's counts use.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS

#: Line rules, in the order they are applied: a line is counted under the first that matches.
NO_CUSTOMER_ID = "no_customer_id"
NOT_ORDERED = "ordered_item_quantity_not_positive"
LINE_RULES = (NO_CUSTOMER_ID, NOT_ORDERED)

#: Customer rule: log1p is undefined at total_spending <= -1, so such a customer (a net refund of
#: more than one unit of currency) cannot be placed; its lines are counted under this rule.
SPENDING_WITHOUT_LOG = "customer_total_spending_at_most_minus_1"


def mark_line_exclusions(lines: DataFrame) -> DataFrame:
    """Add `exclusion_rule`: the name of the first line rule that leaves the line out, or null."""
    has_no_customer = F.col("customer_id").isNull()
    is_not_ordered = F.col("ordered_item_quantity") <= 0
    rule = (
        F.when(has_no_customer, F.lit(NO_CUSTOMER_ID))
        .when(is_not_ordered, F.lit(NOT_ORDERED))
        .otherwise(F.lit(None).cast("string"))
    )
    return lines.withColumn("exclusion_rule", rule)


def customer_features(usable_lines: DataFrame) -> DataFrame:
    """One row per customer with the three raw features and the number of lines behind them.

    `usable_lines` are lines no rule excluded. Orders are summed first (the return rate is a
    per-order ratio), then customers; product types travel up as per-order sets so the two levels
    need no join.
    """
    orders = usable_lines.groupBy("customer_id", "order_id").agg(
        F.sum("returned_item_quantity").alias("order_returned_quantity"),
        F.sum("ordered_item_quantity").alias("order_ordered_quantity"),
        F.sum("total_sales").alias("order_total_sales"),
        F.collect_set("product_type").alias("order_product_types"),
        F.count(F.lit(1)).alias("order_lines"),
    )
    order_return_rate = -F.col("order_returned_quantity") / F.col("order_ordered_quantity")
    return orders.groupBy("customer_id").agg(
        F.size(F.array_distinct(F.flatten(F.collect_list("order_product_types"))))
        .cast("long")
        .alias("products_ordered"),
        F.avg(order_return_rate).alias("average_return_rate"),
        F.sum("order_total_sales").alias("total_spending"),
        F.sum("order_lines").alias("order_lines"),
    )


def mark_customer_exclusions(customers: DataFrame) -> DataFrame:
    """Add `exclusion_rule` to customers: the customer rule's name where it applies, else null."""
    has_no_log = F.col("total_spending") <= -1
    rule = F.when(has_no_log, F.lit(SPENDING_WITHOUT_LOG)).otherwise(F.lit(None).cast("string"))
    return customers.withColumn("exclusion_rule", rule)


def with_log_features(customers: DataFrame) -> DataFrame:
    """The published customers table: id, the three features and their log1p, in this order."""
    return customers.select(
        F.col("customer_id"),
        *[F.col(name) for name in FEATURE_COLUMNS],
        *[F.log1p(name).alias(log_name) for name, log_name in zip(FEATURE_COLUMNS, LOG_FEATURE_COLUMNS)],
    )
