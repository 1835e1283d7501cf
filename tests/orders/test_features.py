"""The features and exclusion rules of segspark/features.py on hand-written lines."""

from __future__ import annotations

import math

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.orders import features
from segspark.schemas import CUSTOMER_FEATURES
from tests.builders import order_lines

RAW_FEATURES = T.StructType(
    [
        T.StructField("customer_id", T.LongType()),
        T.StructField("products_ordered", T.LongType()),
        T.StructField("average_return_rate", T.DoubleType()),
        T.StructField("total_spending", T.DoubleType()),
        T.StructField("ordered_units", T.LongType()),
        T.StructField("order_lines", T.LongType()),
    ]
)


def raw_features(lines):
    return features.customer_features(lines).orderBy("customer_id")


def test_products_ordered_counts_distinct_types_across_orders(spark):
    lines = order_lines(
        spark,
        {"customer_id": 1, "order_id": 10, "product_type": "Shirts"},
        {"customer_id": 1, "order_id": 10, "product_type": "Shirts"},
        {"customer_id": 1, "order_id": 11, "product_type": "Jeans"},
        {"customer_id": 1, "order_id": 11, "product_type": "Shirts"},
        {"customer_id": 2, "order_id": 20, "product_type": "Hats"},
    )
    result = raw_features(lines).select("customer_id", "products_ordered")
    expected = spark.createDataFrame([(1, 2), (2, 1)], "customer_id long, products_ordered long")
    assert_df_equality(result, expected, ignore_nullable=True)


def test_products_ordered_ignores_a_missing_type_like_the_reference(spark):
    lines = order_lines(
        spark,
        {"customer_id": 1, "order_id": 10, "product_type": None},
        {"customer_id": 1, "order_id": 10, "product_type": "Shirts"},
        {"customer_id": 2, "order_id": 20, "product_type": None},
    )
    result = raw_features(lines).select("customer_id", "products_ordered")
    expected = spark.createDataFrame([(1, 1), (2, 0)], "customer_id long, products_ordered long")
    assert_df_equality(result, expected, ignore_nullable=True)


def test_average_return_rate_is_the_mean_of_per_order_ratios(spark):
    # order 10: 1 of 4 units returned (0.25); order 11: 2 of 2 returned (1.0) -> mean 0.625,
    # not the pooled 3 / 6 = 0.5.
    lines = order_lines(
        spark,
        {"order_id": 10, "ordered_item_quantity": 3, "returned_item_quantity": -1},
        {"order_id": 10, "ordered_item_quantity": 1, "returned_item_quantity": 0},
        {"order_id": 11, "ordered_item_quantity": 2, "returned_item_quantity": -2},
    )
    rate = raw_features(lines).first()["average_return_rate"]
    assert rate == pytest.approx(0.625, abs=1e-15)


def test_total_spending_sums_total_sales_including_negative_returns(spark):
    lines = order_lines(
        spark,
        {"order_id": 10, "total_sales": 120.0},
        {"order_id": 10, "total_sales": -30.5},
        {"order_id": 11, "total_sales": 0.25},
    )
    assert raw_features(lines).first()["total_spending"] == pytest.approx(89.75, abs=1e-12)


def test_customer_features_counts_the_lines_behind_each_customer(spark):
    lines = order_lines(
        spark,
        {"customer_id": 1, "order_id": 10},
        {"customer_id": 1, "order_id": 11},
        {"customer_id": 2, "order_id": 20, "ordered_item_quantity": 2, "returned_item_quantity": -1},
    )
    expected = spark.createDataFrame([(1, 1, 0.0, 24.0, 2, 2), (2, 1, 0.5, 12.0, 2, 1)], RAW_FEATURES)
    assert_approx_df_equality(raw_features(lines), expected, 1e-12, ignore_nullable=True)


def test_line_rules_name_the_first_rule_that_applies(spark):
    lines = order_lines(
        spark,
        {"order_id": 1, "customer_id": None, "ordered_item_quantity": 0},
        {"order_id": 2, "customer_id": 5, "ordered_item_quantity": 0, "returned_item_quantity": -1},
        {"order_id": 3, "customer_id": 5, "ordered_item_quantity": -2},
        {"order_id": 4, "customer_id": 5, "ordered_item_quantity": 1},
    )
    result = lines.transform(features.mark_line_exclusions).select("order_id", "exclusion_rule").orderBy("order_id")
    expected = spark.createDataFrame(
        [
            (1, features.NO_CUSTOMER_ID),
            (2, features.NOT_ORDERED),
            (3, features.NOT_ORDERED),
            (4, None),
        ],
        "order_id long, exclusion_rule string",
    )
    assert_df_equality(result, expected, ignore_nullable=True)


def test_customer_rule_leaves_out_spending_at_or_below_minus_one(spark):
    customers = spark.createDataFrame(
        [(1, 1, 0.0, -1.0, 1, 1), (2, 1, 0.0, -0.99, 1, 1), (3, 1, 0.0, -250.0, 3, 3), (4, 0, None, -9.0, 0, 2)],
        RAW_FEATURES,
    )
    result = customers.transform(features.mark_customer_exclusions).select("customer_id", "exclusion_rule")
    expected = spark.createDataFrame(
        [
            (1, features.SPENDING_WITHOUT_LOG),
            (2, None),
            (3, features.SPENDING_WITHOUT_LOG),
            (4, features.WITHOUT_ORDERED_UNITS),
        ],
        "customer_id long, exclusion_rule string",
    )
    assert_df_equality(result, expected, ignore_nullable=True)


def test_log_features_are_log1p_of_each_feature_in_contract_order(spark):
    customers = spark.createDataFrame([(7, 3, 0.5, 99.0, 4, 4), (8, 1, 0.0, -0.5, 1, 1)], RAW_FEATURES)
    result = customers.transform(features.with_log_features)
    expected = spark.createDataFrame(
        [
            (7, 3, 0.5, 99.0, math.log1p(3), math.log1p(0.5), math.log1p(99.0)),
            (8, 1, 0.0, -0.5, math.log1p(1), 0.0, math.log1p(-0.5)),
        ],
        CUSTOMER_FEATURES,
    )
    assert_approx_df_equality(result, expected, 1e-15, ignore_nullable=True)
    assert result.columns == CUSTOMER_FEATURES.fieldNames()


def test_a_customer_whose_every_line_is_a_return_has_no_features(spark):
    lines = order_lines(
        spark,
        {"customer_id": 1, "ordered_item_quantity": 0, "returned_item_quantity": -1, "total_sales": -12.0},
        {"customer_id": 2, "ordered_item_quantity": 1},
    )
    usable = lines.transform(features.mark_line_exclusions).where(F.col("exclusion_rule").isNull())
    assert [row["customer_id"] for row in raw_features(usable).collect()] == [2]


def test_per_customer_return_rate_uses_separate_return_lines(spark):
    # An invoice of 10 units and a cancellation of 4 of them on another invoice: 0.4, not 0.
    lines = order_lines(
        spark,
        {"customer_id": 1, "order_id": 10, "ordered_item_quantity": 6, "total_sales": 60.0, "product_type": "A"},
        {"customer_id": 1, "order_id": 11, "ordered_item_quantity": 4, "total_sales": 40.0, "product_type": "B"},
        {
            "customer_id": 1,
            "order_id": 12,
            "ordered_item_quantity": 0,
            "returned_item_quantity": -4,
            "total_sales": -40.0,
            "product_type": "C",
        },
        {
            "customer_id": 2,
            "order_id": 20,
            "ordered_item_quantity": 0,
            "returned_item_quantity": -1,
            "total_sales": -5.0,
        },
        {"customer_id": 3, "order_id": 30, "ordered_item_quantity": 0, "returned_item_quantity": 0},
    )
    marked = lines.transform(lambda frame: features.mark_line_exclusions(frame, features.PER_CUSTOMER))
    assert [r["exclusion_rule"] for r in marked.orderBy("order_id").collect()] == [
        None,
        None,
        None,
        None,
        features.NOT_ORDERED,
    ]
    usable = marked.where("exclusion_rule is null")
    result = (
        features.customer_features(usable, features.PER_CUSTOMER)
        .transform(features.mark_customer_exclusions)
        .orderBy("customer_id")
    )
    expected = spark.createDataFrame(
        [(1, 2, 0.4, 60.0, 10, 3, None), (2, 0, None, -5.0, 0, 1, features.WITHOUT_ORDERED_UNITS)],
        "customer_id long, products_ordered long, average_return_rate double, total_spending double, "
        "ordered_units long, order_lines long, exclusion_rule string",
    )
    assert_approx_df_equality(result, expected, 1e-12, ignore_nullable=True)


def test_a_format_rule_comes_between_the_customer_and_the_ordered_rules(spark):
    lines = order_lines(
        spark,
        {"order_id": 1, "customer_id": None},
        {"order_id": 2, "ordered_item_quantity": 0},
        {"order_id": 3},
    ).withColumn("format_rule", F.when(F.col("order_id") <= 2, F.lit("unit_price_not_positive")))
    result = [r["exclusion_rule"] for r in features.mark_line_exclusions(lines).orderBy("order_id").collect()]
    assert result == [features.NO_CUSTOMER_ID, "unit_price_not_positive", None]
