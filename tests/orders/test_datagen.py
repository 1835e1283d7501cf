"""The synthetic order generator: exact size, determinism, and the shape of a real export."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from segspark.orders import datagen, features
from tests.builders import SHOPIFY_ORDER_LINES


@pytest.fixture(scope="module")
def generated(spark):
    frame = datagen.generate_order_lines(spark, 20_000, seed=11).persist()
    yield frame
    frame.unpersist()


@pytest.mark.parametrize("lines", [1, 1_000, 12_345])
def test_exactly_the_requested_number_of_lines(spark, lines):
    assert datagen.generate_order_lines(spark, lines, seed=3).count() == lines


def test_same_seed_same_lines_whatever_the_partitioning(spark):
    one = datagen.generate_order_lines(spark, 3_000, seed=7, partitions=1)
    three = datagen.generate_order_lines(spark, 3_000, seed=7, partitions=3)
    assert_df_equality(one.orderBy("order_id", "variant_id", "day"), three.orderBy("order_id", "variant_id", "day"))
    other_seed = datagen.generate_order_lines(spark, 3_000, seed=8, partitions=1)
    assert one.exceptAll(other_seed).count() > 1_000


def test_schema_is_the_shopify_export(generated):
    assert generated.schema.fieldNames() == SHOPIFY_ORDER_LINES.fieldNames()
    assert [f.dataType for f in generated.schema.fields] == [f.dataType for f in SHOPIFY_ORDER_LINES.fields]


def test_customers_and_return_only_lines_look_like_the_export(generated):
    stats = generated.agg(
        F.countDistinct("customer_id").alias("customers"),
        F.avg((F.col("ordered_item_quantity") == 0).cast("double")).alias("return_only_share"),
        F.avg((F.col("discounts") < 0).cast("double")).alias("discounted_share"),
        F.sum(((F.col("gross_sales") > 0) & (F.col("discounts") == -F.col("gross_sales"))).cast("int")).alias("free"),
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
    ).first()
    # 70,000 lines make about 25,000 customers; 20,000 lines about 7,150.
    assert 6_400 <= stats["customers"] <= 7_900
    assert 0.13 <= stats["return_only_share"] <= 0.17
    assert 0.2 <= stats["discounted_share"] <= 0.35
    assert stats["free"] > 100
    assert stats["first_day"] >= dt.date(2018, 11, 1) and stats["last_day"] <= dt.date(2019, 4, 30)


def test_money_columns_add_up_like_the_export(generated):
    bad = generated.where(
        (F.abs(F.col("taxes") - F.round(F.col("net_sales") * 0.2, 2)) > 1e-9)
        | (F.abs(F.col("total_sales") - (F.col("net_sales") + F.col("taxes"))) > 1e-9)
        | (F.abs(F.col("net_sales") - (F.col("gross_sales") + F.col("discounts") + F.col("returns"))) > 1e-9)
        | (F.col("net_quantity") != F.col("ordered_item_quantity") + F.col("returned_item_quantity"))
        | (F.col("returned_item_quantity") > 0)
        | (F.col("returns") > 0)
    )
    assert bad.count() == 0
    return_only = generated.where("ordered_item_quantity = 0")
    assert return_only.where("returned_item_quantity >= 0 or total_sales > 0").count() == 0


def test_black_friday_is_the_peak(generated):
    per_day = {row["day"]: row["count"] for row in generated.groupBy("day").count().collect()}
    black_friday = per_day[dt.date(2018, 11, 23)]
    typical = sorted(per_day.values())[len(per_day) // 2]
    assert black_friday > 4 * typical


def test_the_latent_behaviours_show_in_the_features(generated):
    usable = generated.transform(features.mark_line_exclusions).where("exclusion_rule is null")
    customers = features.customer_features(usable)
    shares = customers.agg(
        F.avg((F.col("average_return_rate") >= 0.3).cast("double")).alias("heavy_returners"),
        F.avg((F.col("products_ordered") >= 4).cast("double")).alias("multi_category"),
        F.avg((F.col("total_spending") >= 1_000).cast("double")).alias("big_spenders"),
        F.avg((F.col("order_lines") == 1).cast("double")).alias("single_line"),
    ).first()
    assert 0.08 <= shares["heavy_returners"] <= 0.25
    assert 0.10 <= shares["multi_category"] <= 0.30
    assert 0.04 <= shares["big_spenders"] <= 0.15
    assert shares["single_line"] >= 0.3


def test_sizes_outside_the_range_are_refused(spark):
    with pytest.raises(ValueError, match="lines must be between"):
        datagen.generate_order_lines(spark, 0)
