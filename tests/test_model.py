"""The KMeans sweep and the model artifact (segspark/model.py, segments.py), on hand-made customers."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from segspark import io as segio
from segspark import model, segments
from segspark.schemas import CUSTOMER_FEATURES

SETTINGS = model.KMeansSettings(seed=7, max_iter=30, tol=1e-6, restarts=1, parallel_fits=2)
PARTITIONS = 3

# Three well-separated groups in log space: (products, return rate, spending) in original units.
GROUPS = {
    "low spenders": (1, 0.0, 20.0),
    "returners": (2, 0.8, 300.0),
    "big spenders": (6, 0.05, 5_000.0),
}


def customer_rows(per_group: int = 12):
    rows, customer_id = [], 0
    for products, rate, spending in GROUPS.values():
        for i in range(per_group):
            customer_id += 1
            wiggle = 1 + 0.01 * (i - per_group / 2)
            values = (products, rate * wiggle, spending * wiggle)
            rows.append((customer_id, values[0], values[1], values[2], *[math.log1p(v) for v in values]))
    return rows


@pytest.fixture(scope="module")
def customers(spark):
    frame = spark.createDataFrame(customer_rows(), CUSTOMER_FEATURES).persist()
    yield frame
    frame.unpersist()


@pytest.fixture(scope="module")
def vectors(customers):
    frame = model.training_vectors(model.customer_points(customers), PARTITIONS).persist()
    yield frame
    frame.unpersist()


def test_k1_cost_is_the_total_sum_of_squares(spark, customers):
    points = [row for row in customers.select(*model.LOG_FEATURE_COLUMNS).collect()]
    means = [sum(p[i] for p in points) / len(points) for i in range(3)]
    expected = sum((p[i] - means[i]) ** 2 for p in points for i in range(3))
    assert model.single_cluster_cost(customers) == pytest.approx(expected, rel=1e-12)


def test_costs_fall_with_k_and_the_knee_is_the_three_groups(customers, vectors):
    points, models = model.sweep(vectors, customers, [1, 2, 3, 4, 5], SETTINGS, progress=lambda line: None)
    costs = [p.cost for p in points]
    assert [p.k for p in points] == [1, 2, 3, 4, 5]
    assert all(a > b for a, b in zip(costs, costs[1:]))
    assert costs[2] < 0.01 * costs[0]  # three groups explain almost everything
    assert points[0].silhouette is None and points[2].silhouette > 0.9
    assert sorted(models) == [2, 3, 4, 5]


def test_same_input_seed_and_partitioning_give_identical_segments(customers, vectors):
    first = model.pipeline_model(model.fit_kmeans(vectors, 3, SETTINGS)).transform(customers)
    again_vectors = model.training_vectors(model.customer_points(customers), PARTITIONS)
    second = model.pipeline_model(model.fit_kmeans(again_vectors, 3, SETTINGS)).transform(customers)
    assert_df_equality(
        first.select("customer_id", model.CLUSTER).orderBy("customer_id"),
        second.select("customer_id", model.CLUSTER).orderBy("customer_id"),
    )


def test_customers_of_one_group_share_a_segment_numbered_by_spending(customers, vectors):
    fitted = model.fit_kmeans(vectors, 3, SETTINGS)
    clustered = model.pipeline_model(fitted).transform(customers)
    centres = model.centres(fitted)
    numbering = model_numbering = segments.segment_numbering(clustered, centres)
    segment_centres = [centres[c] for c in sorted(numbering, key=numbering.get)]
    segmented = segments.with_segments(clustered, model_numbering, segment_centres)
    by_group = (
        segmented.withColumn("group", F.floor((F.col("customer_id") - 1) / 12))
        .groupBy("group")
        .agg(F.collect_set(segments.SEGMENT).alias("segments"))
        .orderBy("group")
        .collect()
    )
    # groups are listed by ascending spending, so segment ids are 0, 1, 2 in that order
    assert [row["segments"] for row in by_group] == [[0], [1], [2]]


def test_distance_to_centre_is_euclidean_in_log_space(spark):
    clustered = spark.createDataFrame(
        [(1, 0.0, 0.0, 0.0, 4.0, 100.0, 1), (2, 3.0, 4.0, 0.0, 1.0, 5.0, 0)],
        "customer_id long, log_products_ordered double, log_average_return_rate double, "
        "log_total_spending double, total_spending double, unused double, cluster int",
    )
    numbering = {0: 1, 1: 0}  # cluster 1 spends more: segment 0
    segment_centres = [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    result = segments.with_segments(clustered, numbering, segment_centres).select("customer_id", "segment", "distance_to_centre")
    expected = spark.createDataFrame(
        [(1, 0, 1.0), (2, 1, 5.0)], "customer_id long, segment int, distance_to_centre double"
    )
    assert_approx_df_equality(result, expected, 1e-12, ignore_nullable=True)


def test_out_of_range_is_beyond_the_segment_99th_percentile(spark):
    segmented = spark.createDataFrame(
        [(1, 0, 0.5), (2, 0, 2.5), (3, 1, 2.5)], "customer_id long, segment int, distance_to_centre double"
    )
    result = segments.with_out_of_range(segmented, {0: 1.0, 1: 3.0}).select("customer_id", "out_of_range")
    expected = spark.createDataFrame([(1, False), (2, True), (3, False)], "customer_id long, out_of_range boolean")
    assert_df_equality(result, expected, ignore_nullable=True)


def test_a_saved_model_loads_and_predicts_the_same(spark, customers, vectors, tmp_path):
    pipeline = model.pipeline_model(model.fit_kmeans(vectors, 3, SETTINGS))
    path = str(tmp_path / "run" / "model")
    segio.save_model(spark, pipeline, path, {"k": 3, "format_version": 1})
    loaded, metadata = segio.load_model(spark, str(tmp_path / "run"))
    assert metadata == {"k": 3, "format_version": 1}
    assert isinstance(loaded, PipelineModel)
    assert_df_equality(
        pipeline.transform(customers).select("customer_id", model.CLUSTER).orderBy("customer_id"),
        loaded.transform(customers).select("customer_id", model.CLUSTER).orderBy("customer_id"),
    )


def test_a_folder_without_a_model_is_an_input_error(spark, tmp_path):
    with pytest.raises(segio.InputError, match="no segspark model here"):
        segio.load_model(spark, str(tmp_path))


def test_restarts_keep_the_cheapest_fit(vectors):
    single = model.fit_kmeans(vectors, 4, SETTINGS)
    best_of_three = model.fit_kmeans(vectors, 4, replace(SETTINGS, restarts=3))
    assert best_of_three.summary.trainingCost <= single.summary.trainingCost
    assert best_of_three.getSeed() in (7, 8, 9)


def test_the_customers_of_a_grid_cell_are_one_point_at_their_mean(spark):
    customers = spark.createDataFrame(
        [(1, 0.0, 0.0, 1.0), (2, 0.0, 0.0, 1.0), (3, 0.0, 0.0, 1.004), (4, 0.0, 0.0, 3.0)],
        "customer_id long, log_products_ordered double, log_average_return_rate double, log_total_spending double",
    )
    gridded = model.grid_points(customers, 0.01).drop(model.POINT_ID).orderBy("log_total_spending")
    expected = spark.createDataFrame(
        [(3.0, 0.0, 0.0, 1.004 / 3 + 2 / 3), (1.0, 0.0, 0.0, 3.0)],
        "weight double, log_products_ordered double, log_average_return_rate double, log_total_spending double",
    )
    assert_approx_df_equality(gridded, expected, 1e-12, ignore_nullable=True)


def test_exact_costs_measure_every_customer_against_its_nearest_centre(spark):
    customers = spark.createDataFrame(
        [(1, 0.0, 0.0, 1.0), (2, 0.0, 0.0, 2.0), (3, 0.0, 1.0, 5.0)],
        "customer_id long, log_products_ordered double, log_average_return_rate double, log_total_spending double",
    )
    costs = model.exact_costs(customers, {2: [[0.0, 0.0, 1.5], [0.0, 0.0, 5.0]], 3: [[0, 0, 1], [0, 0, 2], [0, 1, 5]]})
    assert costs == {2: pytest.approx(0.25 + 0.25 + 1.0, rel=1e-12), 3: 0.0}


def test_a_weighted_point_pulls_like_its_copies(spark, customers):
    """Lloyd on one point of weight w is Lloyd on w copies: the same centres and cost."""
    copies = customers.unionByName(customers.where("customer_id <= 12").withColumn("customer_id", F.col("customer_id") + 100))
    expanded = model.training_vectors(model.customer_points(copies), 1)
    weighted = model.training_vectors(model.grid_points(copies, 1e-9), 1)  # a cell per distinct customer
    a, b = model.fit_once(expanded, 3, 0, SETTINGS), model.fit_once(weighted, 3, 0, SETTINGS)
    flat = lambda m: [value for centre in sorted(model.centres(m)) for value in centre]  # noqa: E731
    assert flat(a) == pytest.approx(flat(b), rel=1e-9)
    assert a.summary.trainingCost == pytest.approx(b.summary.trainingCost, rel=1e-9)


def test_training_points_are_the_customers_until_the_grid_threshold(customers):
    settings = replace(SETTINGS, grid_step=0.5, grid_above_points=36)
    points, count, step = model.training_points(customers, 36, settings)
    assert (count, step, points.count()) == (36, 0.0, 36)
    points, count, step = model.training_points(customers, 37, replace(settings, grid_above_points=20))
    assert step == 0.5 and count == points.count() < 36
    assert points.agg(F.sum(model.WEIGHT)).first()[0] == 36


def test_the_training_partitioning_depends_on_the_data_size_only():
    settings = model.KMeansSettings(points_per_partition=1_000_000)
    assert [model.training_partitions(n, settings) for n in (1, 25_000, 1_000_000, 2_500_000)] == [1, 1, 1, 3]
