"""The KMeans sweep and the model artifact (segspark/model.py, segments.py), on hand-made customers."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from segspark import engine, jvm
from segspark.clustering import model, segments
from segspark.edge import inputs as segio
from segspark.edge import outputs
from segspark.report import profiles
from segspark.schemas import CUSTOMER_FEATURES

SETTINGS = model.KMeansSettings(seed=7, max_iter=20, tol=1e-4, restarts=3, parallel_fits=2)

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
def training(customers):
    return model.training_set(customers, 36, SETTINGS)


def clusters_of(pipeline: PipelineModel, customers) -> list[set[int]]:
    """Which customers share a cluster, whatever the cluster ids."""
    rows = pipeline.transform(customers).groupBy(model.CLUSTER).agg(F.collect_set("customer_id")).collect()
    return sorted((set(row[1]) for row in rows), key=min)


def test_costs_fall_with_k_and_the_knee_is_the_three_groups(spark, customers, training):
    swept = model.sweep(engine.of(spark), customers, training, [1, 2, 3, 4, 5], SETTINGS, progress=lambda line: None)
    costs = [p.cost for p in swept.points]
    assert [p.k for p in swept.points] == [1, 2, 3, 4, 5]
    assert all(a > b for a, b in zip(costs, costs[1:]))
    assert costs[2] < 0.01 * costs[0]  # three groups explain almost everything
    assert swept.points[0].silhouette is None and swept.points[2].silhouette > 0.9
    assert sorted(swept.fits) == [2, 3, 4, 5]
    pipeline = model.pipeline_model(engine.of(spark), swept.fits[3].centres)
    assert clusters_of(pipeline, customers) == [set(range(1, 13)), set(range(13, 25)), set(range(25, 37))]


def test_k1_cost_is_the_total_sum_of_squares(spark, customers, training):
    swept = model.sweep(engine.of(spark), customers, training, [1, 2], SETTINGS, progress=lambda line: None)
    points = np.array([row for row in customers.select(*model.LOG_FEATURE_COLUMNS).collect()])
    assert swept.points[0].cost == pytest.approx(((points - points.mean(axis=0)) ** 2).sum(), rel=1e-12)


def test_a_given_k_outside_the_elbow_is_fitted_but_not_listed(spark, customers, training):
    swept = model.sweep(engine.of(spark), customers, training, [1, 2], SETTINGS, given_k=3, progress=lambda line: None)
    assert [p.k for p in swept.points] == [1, 2] and sorted(swept.fits) == [2, 3]


def test_same_input_seed_and_partitioning_give_identical_centres(spark, customers, training):
    again = model.training_set(customers, 36, SETTINGS)
    first = model.fit_ks(engine.of(spark), training, [3, 4], SETTINGS)
    second = model.fit_ks(engine.of(spark), again, [3, 4], SETTINGS)
    assert np.array_equal(training.sample, again.sample)
    assert {k: f.centres for k, f in first.items()} == {k: f.centres for k, f in second.items()}


def test_the_seeding_sample_is_bounded_uniform_and_deterministic(spark):
    points = spark.range(5_000).select(
        F.col("id").alias(model.POINT_ID), *[F.rand(s).alias(n) for s, n in enumerate(model.LOG_FEATURE_COLUMNS)]
    )
    sample = model.seeding_sample(points, 5_000, 500, seed=1)
    assert sample.shape == (500, 3)
    assert np.array_equal(sample, model.seeding_sample(points, 5_000, 500, seed=1))
    assert not np.array_equal(sample, model.seeding_sample(points, 5_000, 500, seed=2))
    assert abs(sample.mean() - 0.5) < 0.05  # uniform draws of uniform values
    assert model.seeding_sample(points, 5_000, 10_000, seed=1).shape == (5_000, 3)  # at most all of them


def test_training_points_are_every_customer_until_the_cap_then_a_uniform_sample(spark):
    customers = spark.range(1, 4_001).select(
        F.col("id").alias("customer_id"), *[F.lit(0.5).alias(name) for name in model.LOG_FEATURE_COLUMNS]
    )
    points, count = model.training_points(customers, 4_000, replace(SETTINGS, training_sample=4_000))
    assert (count, points.count()) == (4_000, 4_000)
    points, count = model.training_points(customers, 4_000, replace(SETTINGS, training_sample=1_000))
    assert count == 1_000 and 850 <= points.count() <= 1_150
    assert points.agg(F.countDistinct(model.POINT_ID)).first()[0] == points.count()


def test_the_training_partitioning_depends_on_the_data_size_only():
    settings = model.KMeansSettings(points_per_partition=1_000_000)
    assert [model.training_partitions(n, settings) for n in (1, 25_000, 1_000_000, 2_500_000)] == [1, 1, 1, 3]


def test_many_duplicate_points_never_crash_the_fit(spark):
    """Four distinct customers repeated 50 times: the sweep is cut to 4, and k = 6 seeded on them still fits.

    (spark.ml's block solver indexes out of bounds when initialisation finds fewer centres than k;
    segspark never calls it.)
    """
    rows = [(i, *[math.log1p(v) for v in (1 + i % 4, 0.0, 10.0 * (i % 4))]) for i in range(200)]
    customers = spark.createDataFrame(
        rows, "customer_id long, log_products_ordered double, log_average_return_rate double, log_total_spending double"
    )
    training = model.training_set(customers, 200, SETTINGS)
    assert training.distinct_points() == 4
    fits = model.fit_ks(engine.of(spark), training, [4, 6], SETTINGS)
    assert fits[4].training_cost == pytest.approx(0.0, abs=1e-9)
    assert len(fits[6].centres) == 6 and fits[6].training_cost == pytest.approx(0.0, abs=1e-9)


def test_the_first_failing_fit_stops_the_sweep_at_once(spark, customers, training, monkeypatch):
    started = []

    def failing_lloyd(spark_context, vectors, seeds, max_iter, tol):
        started.append(len(seeds))
        raise RuntimeError("injected failure")

    monkeypatch.setattr(jvm, "lloyd", failing_lloyd)
    with pytest.raises(RuntimeError, match="injected failure"):
        model.fit_ks(engine.of(spark), training, list(range(2, 16)), replace(SETTINGS, parallel_fits=1))
    assert len(started) <= 2  # the first failure stops the queue: no run of all 14 fits first


def test_customers_of_one_group_share_a_segment_numbered_by_spending(spark, customers, training):
    fits = model.fit_ks(engine.of(spark), training, [3], SETTINGS)
    pipeline = model.pipeline_model(engine.of(spark), fits[3].centres)
    centres = model.centres_of(pipeline)
    measured = segments.with_distance(pipeline.transform(customers), centres)
    numbering = segments.segment_numbering(profiles.profile(measured, model.CLUSTER).mean_spending, centres)
    segmented = segments.with_segments(measured, numbering)
    by_group = (
        segmented.withColumn("group", F.floor((F.col("customer_id") - 1) / 12))
        .groupBy("group")
        .agg(F.collect_set(segments.SEGMENT).alias("segments"))
        .orderBy("group")
        .collect()
    )
    # groups are listed by ascending spending, so segment ids are 0, 1, 2 in that order
    assert [row["segments"] for row in by_group] == [[0], [1], [2]]


def test_distance_to_centre_is_euclidean_in_log_space_and_clusters_become_segments(spark):
    clustered = spark.createDataFrame(
        [(1, 0.0, 0.0, 0.0, 4.0, 100.0, 1), (2, 3.0, 4.0, 0.0, 1.0, 5.0, 0)],
        "customer_id long, log_products_ordered double, log_average_return_rate double, "
        "log_total_spending double, total_spending double, unused double, cluster int",
    )
    cluster_centres = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    numbering = {0: 1, 1: 0}  # cluster 1 spends more: segment 0
    measured = segments.with_distance(clustered, cluster_centres)
    result = segments.with_segments(measured, numbering).select("customer_id", "segment", "distance_to_centre")
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
    assert segments.sizes_and_out_of_range(segments.with_out_of_range(segmented, {0: 1.0, 1: 3.0})) == {
        0: (2, 1),
        1: (1, 0),
    }


def test_a_saved_model_loads_and_predicts_the_same(spark, customers, training, tmp_path):
    fits = model.fit_ks(engine.of(spark), training, [3], SETTINGS)
    pipeline = model.pipeline_model(engine.of(spark), fits[3].centres)
    path = str(tmp_path / "run" / "model")
    pipeline.write().save(path)  # as the job saves it: the model, then its metadata (written last)
    outputs.write_model_metadata(spark, path, {"k": 3, "format_version": 1})
    loaded, metadata = outputs.load_model(spark, str(tmp_path / "run"))
    assert metadata == {"k": 3, "format_version": 1}
    assert isinstance(loaded, PipelineModel)
    assert model.centres_of(loaded) == model.centres_of(pipeline) == fits[3].centres
    assert_df_equality(
        pipeline.transform(customers).select("customer_id", model.CLUSTER).orderBy("customer_id"),
        loaded.transform(customers).select("customer_id", model.CLUSTER).orderBy("customer_id"),
    )


def test_a_folder_without_a_model_is_an_input_error(spark, tmp_path):
    with pytest.raises(segio.InputError, match="no segspark model here"):
        outputs.load_model(spark, str(tmp_path))
