"""segspark/evaluation.py: every k measured on every customer, against numpy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from segspark.clustering import evaluation
from segspark.schemas import LOG_FEATURE_COLUMNS


@pytest.fixture(scope="module")
def customers(spark):
    rng = np.random.default_rng(3)
    centres = np.array([[0.5, 0.0, 2.0], [1.5, 0.3, 5.0], [0.7, 0.6, 4.0]])
    points = np.concatenate([rng.normal(c, 0.3, size=(n, 3)) for c, n in zip(centres, (120, 60, 20))])
    spending = rng.uniform(0, 100, size=len(points))
    rows = [(i, *map(float, p), float(s)) for i, (p, s) in enumerate(zip(points, spending))]
    frame = spark.createDataFrame(
        rows, "customer_id long, " + ", ".join(f"{n} double" for n in LOG_FEATURE_COLUMNS) + ", total_spending double"
    ).repartition(3)
    return frame, points, spending


CENTRES = {
    2: [[0.6, 0.1, 2.1], [1.2, 0.4, 4.6]],
    3: [[0.5, 0.0, 2.0], [1.5, 0.3, 5.0], [0.7, 0.6, 4.0]],
    5: [[0.5, 0.0, 2.0], [1.5, 0.3, 5.0], [0.7, 0.6, 4.0], [0.4, 0.0, 1.5], [9.0, 9.0, 9.0]],  # one empty
}


def assignment(points, centres):
    distances = ((points[:, None, :] - np.asarray(centres)[None]) ** 2).sum(axis=2)
    return distances.argmin(axis=1), distances.min(axis=1)


def test_cluster_statistics_are_exact_on_every_customer(customers):
    frame, points, spending = customers
    statistics = evaluation.cluster_statistics(frame, {1: [[0.0, 0.0, 0.0]], **CENTRES})
    for k, centres in CENTRES.items():
        nearest, distance = assignment(points, centres)
        measured = statistics[k]
        assert measured.cost == pytest.approx(distance.sum(), rel=1e-12)
        assert measured.sizes.tolist() == np.bincount(nearest, minlength=k).tolist()
        for cluster in range(k):
            members = nearest == cluster
            assert measured.sums[cluster] == pytest.approx(points[members].sum(axis=0), rel=1e-12, abs=1e-12)
            assert measured.spending[cluster] == pytest.approx(spending[members].sum(), rel=1e-12, abs=1e-12)
    assert statistics[5].sizes[4] == 0 and statistics[5].mean_spending()[4] is None
    # k = 1 is re-centred on the exact mean, whatever centre it was given: the total sum of squares
    assert statistics[1].cost == pytest.approx(((points - points.mean(axis=0)) ** 2).sum(), rel=1e-12)
    assert statistics[1].centres[0] == pytest.approx(points.mean(axis=0), rel=1e-12)


def test_silhouettes_equal_scikit_learns_squared_euclidean_score(customers):
    frame, points, _ = customers
    statistics = evaluation.cluster_statistics(frame, {1: [[0.0, 0.0, 0.0]], **CENTRES})
    scores = evaluation.silhouettes(frame, statistics)
    assert set(scores) == set(CENTRES)
    for k, centres in CENTRES.items():
        labels, _ = assignment(points, centres)
        assert scores[k] == pytest.approx(silhouette_score(points, labels, metric="sqeuclidean"), abs=1e-9)


def test_a_customer_alone_in_its_cluster_scores_zero_and_one_cluster_has_no_silhouette(spark):
    points = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [5.0, 5.0, 5.0]])
    frame = spark.createDataFrame(
        [(i, *map(float, p), 1.0) for i, p in enumerate(points)],
        "customer_id long, " + ", ".join(f"{n} double" for n in LOG_FEATURE_COLUMNS) + ", total_spending double",
    )
    centres = {2: [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]], 3: [[0.0, 0.0, 0.0], [9.0, 9.0, 9.0], [8.0, 8.0, 8.0]]}
    statistics = evaluation.cluster_statistics(frame, centres)
    scores = evaluation.silhouettes(frame, statistics)
    # customer 3 is alone in cluster 1 and scores 0, as scikit-learn scores it
    assert scores[2] == pytest.approx(silhouette_score(points, [0, 0, 0, 1], metric="sqeuclidean"), abs=1e-12)
    assert statistics[3].sizes.tolist() == [3, 0, 1]
    alone = evaluation.cluster_statistics(frame.where("customer_id < 3"), {2: centres[2]})
    assert evaluation.silhouettes(frame.where("customer_id < 3"), alone) == {2: None}  # one non-empty cluster
