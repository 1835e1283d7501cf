"""The report: bounded Spark summaries (profiles.py), names (naming.py), charts and the page."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pyspark.sql import functions as F

from segspark.clustering.space import FeatureSpace
from segspark.report import charts, naming, profiles, report
from segspark.report.profiles import ALL_SEGMENTS
from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS

SEGMENTED_SCHEMA = (
    "customer_id long, segment int, products_ordered long, average_return_rate double, total_spending double, "
    "log_products_ordered double, log_average_return_rate double, log_total_spending double"
)


def segmented_rows(per_segment: dict[int, int]):
    rows, customer_id = [], 0
    for segment, count in per_segment.items():
        for i in range(count):
            customer_id += 1
            products, rate, spending = 1 + segment, 0.1 * segment, 10.0 * (segment + 1) + i
            rows.append(
                (
                    customer_id,
                    segment,
                    products,
                    rate,
                    spending,
                    math.log1p(products),
                    math.log1p(rate),
                    math.log1p(spending),
                )
            )
    return rows


@pytest.fixture(scope="module")
def segmented(spark):
    return spark.createDataFrame(segmented_rows({0: 50, 1: 7, 2: 300}), SEGMENTED_SCHEMA).persist()


def test_one_profile_aggregation_gives_sizes_spending_distances_quantiles_and_ranges(segmented):
    measured = segmented.withColumn("distance_to_centre", F.col("customer_id").cast("double"))
    profile = profiles.profile(measured, "segment")
    assert profile.sizes == {0: 50, 1: 7, 2: 300}
    assert profile.mean_spending[1] == pytest.approx(20.0 + 3.0)  # 20 + (0..6) averaged
    assert profile.distance_quantiles[1] == [54.0, 57.0, 57.0]  # customers 51..57: median, p90, p99
    medians = profile.feature_quantiles[
        (profile.feature_quantiles["quantile"] == 0.5) & (profile.feature_quantiles["feature"] == "products_ordered")
    ]
    assert dict(zip(medians["segment"], medians["value"])) == {ALL_SEGMENTS: 3.0, 0: 1.0, 1: 2.0, 2: 3.0}
    assert profile.ranges["products_ordered"] == (1.0, 3.0)
    assert profile.ranges["log_total_spending"] == pytest.approx((math.log1p(10.0), math.log1p(329.0)))
    assert profile.ranges["total_spending"][1] < 329  # raw ranges end at the 99th percentile
    renumbered = profile.renumbered({0: 2, 1: 0, 2: 1})
    assert renumbered.sizes == {2: 50, 0: 7, 1: 300}
    assert set(renumbered.feature_quantiles["segment"]) == {ALL_SEGMENTS, 0, 1, 2}
    medians = renumbered.feature_quantiles[
        (renumbered.feature_quantiles["quantile"] == 0.5)
        & (renumbered.feature_quantiles["feature"] == "products_ordered")
    ]
    assert dict(zip(medians["segment"], medians["value"])) == {ALL_SEGMENTS: 3.0, 2: 1.0, 0: 2.0, 1: 3.0}


def test_histograms_count_every_customer_once_per_feature_and_clip_the_raw_tail(segmented):
    ranges = profiles.profile(segmented.withColumn("distance_to_centre", F.lit(0.0)), "segment").ranges
    bins = profiles.histograms(segmented, ranges, bins=10)
    assert (bins.groupby("feature")["customers"].sum() == 357).all()
    assert set(bins.groupby("feature").size()) == {10}
    spending = bins[bins["feature"] == "total_spending"]
    assert spending["bin_end"].iloc[-1] < 329  # the raw range ends at the 99th percentile, not the max (329)
    assert spending["customers"].iloc[-1] >= 357 // 100  # and the tail lands in the last bin


def test_the_scatter_sample_is_capped_per_segment_deterministic_and_keeps_small_segments(segmented):
    sizes = {0: 50, 1: 7, 2: 300}
    first = profiles.scatter_sample(segmented, sizes, per_segment=20, seed=1)
    again = profiles.scatter_sample(segmented, sizes, per_segment=20, seed=1)
    assert first.groupby("segment").size().to_dict() == {0: 20, 1: 7, 2: 20}
    pd.testing.assert_frame_equal(first, again)
    other_seed = profiles.scatter_sample(segmented, sizes, per_segment=20, seed=2)
    assert not first.equals(other_seed)


def test_top_product_types_rank_by_customers_then_name(spark):
    lines = spark.createDataFrame(
        [(1, "Shirts"), (1, "Shirts"), (2, "Shirts"), (2, "Hats"), (3, "Jeans"), (3, None), (4, "Socks")],
        "customer_id long, product_type string",
    )
    segmented = spark.createDataFrame([(1, 0), (2, 0), (3, 1), (4, 1)], "customer_id long, segment int")
    top = profiles.top_product_types(lines, segmented, per_segment=1)
    expected = pd.DataFrame({"segment": [0, 1], "product_type": ["Shirts", "Jeans"], "customers": [2, 1]})
    pd.testing.assert_frame_equal(top, expected, check_dtype=False)


def quantile_frame(
    medians: dict[int, dict[str, float]], overall: dict[str, tuple[float, float, float]]
) -> pd.DataFrame:
    rows = []
    for feature, (q25, q50, q75) in overall.items():
        for level, value in zip(profiles.PROFILE_QUANTILES, (q25, q25, q50, q75, q75)):
            rows.append((ALL_SEGMENTS, feature, level, value))
    for segment, values in medians.items():
        for feature, value in values.items():
            rows += [(segment, feature, level, value) for level in profiles.PROFILE_QUANTILES]
    return pd.DataFrame(rows, columns=["segment", "feature", "quantile", "value"])


OVERALL = {
    "total_spending": (50.0, 120.0, 400.0),
    "products_ordered": (1.0, 1.0, 1.0),  # ties: most customers order one product type
    "average_return_rate": (0.0, 0.0, 0.05),
}


def test_levels_compare_the_segment_median_with_the_overall_quartiles():
    assert naming.feature_level(500.0, 50.0, 120.0, 400.0) == 2
    assert naming.feature_level(30.0, 50.0, 120.0, 400.0) == 0
    assert naming.feature_level(120.0, 50.0, 120.0, 400.0) == 1
    assert [naming.feature_level(m, 1.0, 1.0, 1.0) for m in (0.0, 1.0, 3.0)] == [0, 1, 2]
    assert [naming.feature_level(m, 0.0, 0.0, 0.0) for m in (0.0, 0.2)] == [0, 2]  # most return nothing


def test_names_and_actions_follow_the_data_not_the_segment_ids():
    quantiles = quantile_frame(
        {
            0: {"total_spending": 0.0, "products_ordered": 1.0, "average_return_rate": 0.0},
            1: {"total_spending": 900.0, "products_ordered": 4.0, "average_return_rate": 0.0},
            2: {"total_spending": 150.0, "products_ordered": 2.0, "average_return_rate": 0.5},
            3: {"total_spending": 150.0, "products_ordered": 1.0, "average_return_rate": 0.0},
        },
        OVERALL,
    )
    names = {n.segment: n for n in naming.segment_names(quantiles)}
    assert names[0].name == "No net spend · some products · low returns"
    assert names[0].action == naming.ACTIONS["win back"]
    assert names[1].name == "High spend · many products · low returns"
    assert names[1].action == naming.ACTIONS["retain"]
    assert names[2].name == "Mid spend · many products · high returns"
    assert names[2].action == naming.ACTIONS["reduce returns"]
    assert names[3].action == naming.ACTIONS["upsell"]


def test_two_segments_with_the_same_levels_get_distinct_names():
    same = {"total_spending": 900.0, "products_ordered": 4.0, "average_return_rate": 0.0}
    names = naming.segment_names(quantile_frame({0: same, 1: same}, OVERALL))
    assert [n.name for n in names] == [
        "High spend · many products · low returns (0)",
        "High spend · many products · low returns (1)",
    ]


def test_the_chart_builders_take_small_frames_and_draw_every_segment():
    labels = {0: "Low", 1: "High"}
    sample = pd.DataFrame(
        {
            "segment": [0, 0, 1],
            "customer": ["c-a", "c-b", "c-c"],
            **{name: [1.0, 2.0, 3.0] for name in ("products_ordered", "average_return_rate", "total_spending")},
            **{
                f"log_{name}": [0.1, 0.2, 0.3] for name in ("products_ordered", "average_return_rate", "total_spending")
            },
        }
    )
    scatter = charts.customers_3d(sample, {0: [0, 0, 0], 1: [1, 1, 1]}, labels)
    assert [trace.name for trace in scatter.data] == ["0 · Low", "1 · High", "centres"]
    assert [row[3] for row in scatter.data[0].customdata] == ["c-a", "c-b"]  # pseudonyms on hover
    assert list(charts.segment_sizes({0: 3, 1: 1}, labels).data[0].y) == [3, 1]
    elbow = pd.DataFrame({"k": [1, 2, 3], "cost": [9.0, 4.0, 3.0], "silhouette": [None, 0.6, 0.5]})
    figure = charts.elbow(elbow, chosen_k=2)
    assert figure.data[2].name == "chosen k = 2" and list(figure.data[2].y) == [4.0]
    bins = pd.DataFrame(
        [(f, 0.0, 1.0, 5) for f in (*FEATURE_COLUMNS, *LOG_FEATURE_COLUMNS)],
        columns=["feature", "bin_start", "bin_end", "customers"],
    )
    assert len(charts.distributions(bins).data) == 6
    quantiles = quantile_frame({0: {f: 1.0 for f in OVERALL}, 1: {f: 2.0 for f in OVERALL}}, OVERALL)
    assert len(charts.profiles(quantiles, labels).data) == 3


def test_a_two_feature_set_is_drawn_on_a_plane_not_a_padded_third_axis():
    space = FeatureSpace(
        features=("recency_days", "net_spending"), transforms=("none", "log1p"),
        labels=("days since the last purchase", "net spending"), order_feature="net_spending",
    )  # fmt: skip
    sample = pd.DataFrame(
        {"segment": [0, 1], "customer": ["c-a", "c-b"], "recency_days": [3.0, 90.0], "net_spending": [50.0, 5.0],
         "log_net_spending": [3.9, 1.8]}
    )  # fmt: skip
    figure = charts.customers_3d(sample, {0: [3.0, 3.9], 1: [90.0, 1.8]}, {0: "Active", 1: "Lapsed"}, space)
    assert {trace.type for trace in figure.data} == {"scatter"}
    assert list(figure.data[0].x) == [3.0] and list(figure.data[0].y) == [3.9]
    assert list(figure.data[-1].x) == [3.0, 90.0] and list(figure.data[-1].y) == [3.9, 1.8]
    assert figure.layout.xaxis.title.text and figure.layout.yaxis.title.text


def test_text_from_the_input_is_escaped_in_the_page():
    payload = "</script><script>alert(1)</script>"
    summary = {
        "run_id": "r1",
        "input": payload,
        "source_format": "shopify",
        "counts": {
            "lines_in": 1,
            "lines_used": 1,
            "lines_excluded": {},
            "lines_quarantined": 0,
            "lines_quarantined_by_rule": {},
            "customers": 1,
        },
        "model": {
            "k": 1,
            "rule": "given",
            "explanation": payload,
            "seed": 1,
            "restarts": 1,
            "training_points": 1,
            "training": "every customer",
            "seeding_points": 1,
        },
        "run": {
            "spark_master": "local[1]",
            "segspark_version": "0",
            "spark_version": "4",
            "seconds": 1.0,
            "pseudonym_key": "random for this run",
        },
        "definitions": {"return_rate_definition": "x"},
    }
    page = report.render(summary, [], "")
    assert payload not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
