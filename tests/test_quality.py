"""The elbow's costs against scikit-learn's KMeans (k-means++, n_init=10) on ~25,000 customers.

scikit-learn is a test and benchmark dependency only. Every (k, restart) fit of MLlib is made
once; the best of the first 8 restarts is what a default run keeps (conf: restarts = 8), the best
of all 10 what `--restarts 10` keeps.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans

from segspark import datagen, features, model
from segspark.config import load_settings
from segspark.schemas import LOG_FEATURE_COLUMNS

KS = range(2, 16)
MANY_RESTARTS = 10
SETTINGS = model.KMeansSettings.from_settings(load_settings()["model"])  # what a default run uses


@pytest.fixture(scope="module")
def training(spark):
    """Every customer's log features (for scikit-learn) and the weighted points MLlib trains on."""
    lines = datagen.generate_order_lines(spark, datagen.DEFAULT_LINES, seed=2019)
    usable = lines.transform(features.mark_line_exclusions).where("exclusion_rule is null")
    customers = (
        features.customer_features(usable)
        .transform(features.mark_customer_exclusions)
        .where("exclusion_rule is null")
        .transform(features.with_log_features)
    )
    points, n, grid_step = model.training_points(customers, customers.count(), SETTINGS)
    assert grid_step == 0.0  # the sample is small enough to train on every customer
    frame = model.training_vectors(points, model.training_partitions(n, SETTINGS)).persist()
    yield np.array(customers.select(*LOG_FEATURE_COLUMNS).collect(), dtype=float), frame
    frame.unpersist()


def test_costs_are_within_the_floors_of_scikit_learn(training):
    log_features, vectors = training
    assert SETTINGS.restarts == 8
    assert 22_000 <= len(log_features) <= 26_000
    assert vectors.agg({"weight": "sum"}).first()[0] == len(log_features)

    def cost(job):
        k, restart = job
        return k, restart, model.fit_once(vectors, k, restart, SETTINGS).summary.trainingCost

    with ThreadPoolExecutor(max_workers=4) as pool:
        costs = list(pool.map(cost, [(k, r) for k in KS for r in range(MANY_RESTARTS)]))
    inertia = {k: SklearnKMeans(n_clusters=k, n_init=10, random_state=0).fit(log_features).inertia_ for k in KS}

    def worst(restarts):
        best = {k: min(c for kk, r, c in costs if kk == k and r < restarts) for k in KS}
        return {k: round(best[k] / inertia[k], 4) for k in KS}

    for restarts in range(1, MANY_RESTARTS + 1):
        print(f"best of {restarts}: worst ratio {max(worst(restarts).values())}")
    default, many = worst(SETTINGS.restarts), worst(MANY_RESTARTS)
    print(f"cost / scikit-learn inertia, best of {SETTINGS.restarts}: {default}")
    print(f"cost / scikit-learn inertia, best of {MANY_RESTARTS}: {many}")
    assert max(default.values()) <= 1.03, default
    assert max(many.values()) <= 1.01, many
