"""The default sweep's costs against scikit-learn's KMeans (k-means++, n_init=10) on ~23,600 customers.

scikit-learn is the reference method's library. The sweep runs exactly as a default run does (conf
settings: seeds on a sample, MLlib's Lloyd on every customer, each k measured on all customers);
the floor is the issue's: every k within 1.01 x scikit-learn's best-of-10 inertia.
benchmarks/sweep_directions.py measures the other settings, benchmarks/run.py the large inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans

from segspark import engine
from segspark.clustering import model
from segspark.config import load_settings
from segspark.orders import datagen, features
from segspark.schemas import LOG_FEATURE_COLUMNS

KS = list(range(1, 16))
SETTINGS = model.KMeansSettings.from_settings(load_settings()["model"])  # what a default run uses


@pytest.fixture(scope="module")
def customers(spark):
    """The built-in sample's customers (the generator's default size and seed), persisted."""
    lines = datagen.generate_order_lines(spark, datagen.DEFAULT_LINES, seed=2019)
    usable = lines.transform(features.mark_line_exclusions).where("exclusion_rule is null")
    frame = (
        features.customer_features(usable)
        .transform(features.mark_customer_exclusions)
        .where("exclusion_rule is null")
        .transform(features.with_log_features)
        .persist()
    )
    yield frame
    frame.unpersist()


def test_every_k_is_within_1_01_of_scikit_learn_with_n_init_10(spark, customers):
    count = customers.count()
    assert 22_000 <= count <= 26_000
    training = model.training_set(customers, count, SETTINGS)
    assert training.every_customer and len(training.sample) == SETTINGS.seeding_sample < count
    swept = model.sweep(engine.of(spark), customers, training, KS, SETTINGS, progress=lambda line: None)

    log_features = np.array(customers.select(*LOG_FEATURE_COLUMNS).collect(), dtype=float)
    inertia = {k: SklearnKMeans(n_clusters=k, n_init=10, random_state=0).fit(log_features).inertia_ for k in KS[1:]}
    inertia[1] = float(((log_features - log_features.mean(axis=0)) ** 2).sum())
    ratios = {p.k: round(p.cost / inertia[p.k], 4) for p in swept.points}
    print(f"cost / scikit-learn inertia (n_init=10): {ratios}")
    assert ratios[1] == pytest.approx(1.0, abs=1e-9)
    assert max(ratios.values()) <= 1.01, ratios
    # the cost is measured on every customer: where training is every customer it is MLlib's own cost
    for point in swept.points[1:]:
        assert point.cost == pytest.approx(point.training_cost, rel=1e-3)
