"""Feature sets (segspark/orders/feature_sets.py): the TOML shape, RFM's features against an
independent pandas computation, and the one-line refusals of bad definitions."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.errors import InputError
from segspark.orders import feature_sets
from segspark.orders.feature_sets import load_feature_set, parse_feature_set
from tests.conftest import REPO

#: Usable canonical order lines, as the features read them (after the exclusion rules).
LINES = T.StructType(
    [
        T.StructField("customer_id", T.LongType()),
        T.StructField("order_id", T.StringType()),
        T.StructField("product_type", T.StringType()),
        T.StructField("ordered_item_quantity", T.LongType()),
        T.StructField("returned_item_quantity", T.LongType()),
        T.StructField("total_sales", T.DoubleType()),
        T.StructField("order_date", T.DateType()),
    ]
)
D = datetime.date
ANALYSIS_DATE = D(2024, 3, 31)
EXAMPLE = REPO / "conf" / "features" / "examples" / "rfm_returns.toml"


def lines(spark, *rows):
    return spark.createDataFrame(list(rows), LINES)


# --- the hand-checked cases ---------------------------------------------------------------------

HAND = [
    # 1: one order of two lines on 2024-03-01: 30 days, 1 purchase, 50.0
    (1, "a1", "T", 2, 0, 20.0, D(2024, 3, 1)),
    (1, "a1", "U", 1, 0, 30.0, D(2024, 3, 1)),
    # 2: two orders on the same day (two purchases), the last 2024-03-31 (0 days)
    (2, "b1", "T", 1, 0, 10.0, D(2024, 3, 31)),
    (2, "b2", "T", 1, 0, 15.0, D(2024, 3, 31)),
    # 3: a purchase on 2024-01-31, and its return in an order of its own on 2024-03-15: the return
    #    is not a purchase (recency from 2024-01-31: 60 days) and is netted from the spend (40 - 40 = 0)
    (3, "c1", "T", 4, 0, 40.0, D(2024, 1, 31)),
    (3, "c2", "T", 0, -4, -40.0, D(2024, 3, 15)),
    # 4: cancellations only: no purchase at all (the customer rule leaves them out: no ordered units)
    (4, "d1", "T", 0, -1, -5.0, D(2024, 2, 1)),
    # 5: net spend below zero (a refund bigger than the purchase): monetary clamped to 0
    (5, "e1", "T", 1, 0, 10.0, D(2024, 3, 30)),
    (5, "e2", "T", 0, -1, -25.0, D(2024, 3, 30)),
]


def test_rfm_on_hand_checked_cases(spark):
    rfm = load_feature_set("rfm")
    values = feature_sets.customer_values(lines(spark, *HAND), rfm, ANALYSIS_DATE).orderBy("customer_id")
    got = {row["customer_id"]: row.asDict() for row in values.collect()}
    assert got[1] == {"customer_id": 1, "recency_days": 30.0, "purchase_orders": 1.0, "net_spending": 50.0,
                           "ordered_units": 3, "order_lines": 2}  # fmt: skip
    assert (got[2]["recency_days"], got[2]["purchase_orders"], got[2]["net_spending"]) == (0.0, 2.0, 25.0)
    assert (got[3]["recency_days"], got[3]["purchase_orders"], got[3]["net_spending"]) == (60.0, 1.0, 0.0)
    assert (got[4]["recency_days"], got[4]["purchase_orders"], got[4]["ordered_units"]) == (None, 0.0, 0)
    assert got[5]["net_spending"] == -15.0  # raw: the floor applies after the counts
    published = feature_sets.with_model_features(values.where("ordered_units > 0"), rfm).orderBy("customer_id")
    assert [row["net_spending"] for row in published.collect()] == [50.0, 25.0, 0.0, 0.0]
    assert published.columns == ["customer_id", "recency_days", "purchase_orders", "net_spending",
                                 "log_recency_days", "log_purchase_orders", "log_net_spending"]  # fmt: skip
    stats = feature_sets.value_stats(values.where("ordered_units > 0"), rfm)
    assert stats["net_spending"]["clamped"] == 1
    assert stats["recency_days"] == {"missing": 0, "infinite": 0, "clamped": 0, "no_log": 0, "min": 0.0, "max": 60.0}


# --- against pandas, on generated lines ---------------------------------------------------------


def generated_lines(customers: int = 300, seed: int = 7) -> pd.DataFrame:
    """Random purchases over a year, some returns in orders of their own, some cancellation-only customers."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(1, customers + 1):
        if customer % 37 == 0:  # cancellations only
            rows.append((customer, f"{customer}-x", "T", 0, -2, -12.5, D(2023, 6, 1)))
            continue
        for order in range(int(rng.integers(1, 7))):
            date = D(2023, 4, 1) + datetime.timedelta(days=int(rng.integers(0, 366)))
            for line in range(int(rng.integers(1, 4))):
                units = int(rng.integers(1, 5))
                rows.append(
                    (customer, f"{customer}-{order}", f"T{line}", units, 0, round(units * rng.uniform(1, 40), 2), date)
                )
            if rng.random() < 0.3:  # a return, in an order of its own, a few days later
                rows.append((customer, f"{customer}-{order}r", "T0", 0, -1, -round(rng.uniform(1, 60), 2),
                             date + datetime.timedelta(days=int(rng.integers(0, 20)))))  # fmt: skip
    return pd.DataFrame(rows, columns=LINES.fieldNames())


def pandas_rfm(frame: pd.DataFrame, analysis_date: datetime.date) -> pd.DataFrame:
    """RFM as docs/segments.md defines it, in pandas: the independent computation."""
    orders = frame.groupby(["customer_id", "order_id"]).agg(
        order_date=("order_date", "min"),
        ordered=("ordered_item_quantity", "sum"),
        returned=("returned_item_quantity", "sum"),
        sales=("total_sales", "sum"),
    )
    orders["purchase"] = orders["ordered"] > 0
    purchases = orders[orders["purchase"]].groupby("customer_id")
    out = pd.DataFrame(
        {
            "recency_days": purchases["order_date"].max().map(lambda last: float((analysis_date - last).days)),
            "purchase_orders": purchases.size().astype(float),
            "net_spending": orders.groupby("customer_id")["sales"].sum().clip(lower=0),
            "returned_share": -frame.groupby("customer_id")["returned_item_quantity"].sum()
            / frame.groupby("customer_id")["ordered_item_quantity"].sum(),
        }
    ).dropna(subset=["recency_days"])
    return out.reset_index().sort_values("customer_id")


def test_rfm_and_a_custom_set_equal_pandas_on_generated_lines(spark):
    frame = generated_lines()
    analysis_date = frame["order_date"].max()
    custom = load_feature_set(str(EXAMPLE))
    values = feature_sets.customer_values(spark.createDataFrame(frame, LINES), custom, analysis_date)
    got = feature_sets.with_model_features(values.where("ordered_units > 0"), custom).select(
        "customer_id", *custom.columns
    )
    expected = spark.createDataFrame(pandas_rfm(frame, analysis_date)[["customer_id", *custom.columns]])
    assert got.count() == 300 - 300 // 37
    assert_approx_df_equality(
        got.orderBy("customer_id"), expected.orderBy("customer_id"), precision=1e-9, ignore_nullable=True
    )


# --- the TOML shape and bad definitions ---------------------------------------------------------


def test_a_custom_set_adds_a_feature_in_three_lines():
    extended = parse_feature_set(
        {
            "extends": "rfm",
            "features": [{"name": "average_order_value", "sql": "AVG(CASE WHEN is_purchase THEN sales END)"}],
        },
        "aov.toml",
        "aov",
    )
    assert extended.columns == ("recency_days", "purchase_orders", "net_spending", "average_order_value")
    assert extended.features[-1].label == "average order value" and extended.features[-1].transform == "log1p"
    assert extended.rfm and extended.scale and extended.returns_used and len(extended.segments) == 10


def test_built_in_sets():
    rfm = load_feature_set("rfm")
    assert rfm.needs_dates and rfm.scale and rfm.returns_used
    assert feature_sets.unscored_combinations(rfm) == []  # the name table covers every score combination
    seed = load_feature_set("seed")
    assert seed.built_in and not seed.scale and not seed.needs_dates
    assert seed.columns == ("products_ordered", "average_return_rate", "total_spending")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"features": [{"name": "only", "sql": "COUNT(*)"}]}, "1 feature(s); segmenting needs at least two"),
        ({"features": [{"name": "a", "sql": "COUNT(*)"}, {"name": "a", "sql": "SUM(sales)"}]}, "feature 'a' is defined twice"),
        ({"features": [{"name": "a", "sql": "COUNT(*)", "transform": "log"}, {"name": "b", "sql": "SUM(sales)"}]},
         "feature 'a': transform = 'log'; use one of log1p, none"),
        ({"features": [{"name": "Spend", "sql": "SUM(sales)"}]}, "feature name 'Spend'"),
        ({"features": [{"name": "a", "sql": "COUNT(*)", "weight": 2}]}, "unknown key 'weight' in a [[features]] entry"),
        ({"extends": "rfm", "segments": [{"name": "Top", "r": "6"}]}, "segment 'Top' r: '6' is not a score"),
        ({"extends": "nope"}, "unknown feature set 'nope'"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_naming_what(data, message):
    with pytest.raises(InputError) as refused:
        parse_feature_set(data, "mine.toml", "mine")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "feature, message",
    [
        ({"name": "days", "sql": "DATEDIFF(analysis_date, order_date)"}, "not an aggregate"),
        ({"name": "tips", "sql": "SUM(tip_amount)"}, "names a column its view does not have"),
        ({"name": "when", "sql": "MAX(order_date)"}, "gives date, not a number"),
        ({"name": "bad", "sql": "SUM(sales"}, "not Spark SQL"),
    ],
)
def test_bad_definitions_are_refused_before_any_job(spark, feature, message):
    bad = parse_feature_set({"extends": "rfm", "features": [feature]}, "mine.toml", "mine")
    jobs_before = spark.sparkContext.statusTracker().getJobIdsForGroup()
    with pytest.raises(InputError) as refused:
        feature_sets.definition_problems(lines(spark, *HAND), bad)
    assert f"feature {feature['name']!r}" in str(refused.value) and message in str(refused.value)
    assert spark.sparkContext.statusTracker().getJobIdsForGroup() == jobs_before


def test_values_no_customer_can_be_segmented_on_are_refused_with_counts(spark):
    values = spark.createDataFrame(
        [(1, 1.0, 3.0, None, -2.0, 1.0), (2, 1.0, 4.0, 5.0, 0.0, 2.0), (3, 1.0, float("inf"), 6.0, 1.0, 3.0)],
        "customer_id long, same double, infinite double, missing double, negative double, fine double",
    )

    def problem(feature: dict) -> str | None:
        stated = parse_feature_set({"features": [feature, {"name": "fine", "sql": "COUNT(*)"}]}, "mine.toml", "mine")
        return feature_sets.value_problems(feature_sets.value_stats(values, stated), stated)

    assert problem({"name": "same", "sql": "COUNT(*)"}) == (
        "feature 'same' ('COUNT(*)') is 1.0 for every customer: a constant feature cannot separate segments (remove it)"
    )
    assert (
        problem({"name": "infinite", "sql": "COUNT(*)"})
        == "feature 'infinite' ('COUNT(*)') is infinite for 1 customers"
    )
    assert problem({"name": "missing", "sql": "COUNT(*)"}) == (
        "feature 'missing' ('COUNT(*)') has no value for 1 customers (null or NaN)"
    )
    assert problem({"name": "negative", "sql": "COUNT(*)"}).startswith(
        "feature 'negative' ('COUNT(*)') is at or below -1 for 1 customers, where log1p has no value"
    )
    assert problem({"name": "negative", "sql": "COUNT(*)", "transform": "none"}) is None
    assert problem({"name": "negative", "sql": "COUNT(*)", "floor": 0}) is None
    floored = parse_feature_set(
        {"features": [{"name": "negative", "sql": "COUNT(*)", "floor": 0}, {"name": "fine", "sql": "COUNT(*)"}]},
        "m",
        "m",
    )
    assert feature_sets.value_stats(values, floored)["negative"] == {
        "missing": 0, "infinite": 0, "clamped": 1, "no_log": 0, "min": 0.0, "max": 1.0,
    }  # fmt: skip


def test_order_view_marks_purchases_and_dates_orders_by_their_first_line(spark):
    view = feature_sets.order_view(lines(spark, *HAND), ANALYSIS_DATE).where(F.col("customer_id") == 3)
    rows = sorted((r["order_id"], r["order_date"], r["ordered_units"], r["returned_units"], r["sales"], r["is_purchase"])
                  for r in view.collect())  # fmt: skip
    assert rows == [("c1", D(2024, 1, 31), 4, 0, 40.0, True), ("c2", D(2024, 3, 15), 0, -4, -40.0, False)]
