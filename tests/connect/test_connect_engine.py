"""segspark.engine over Spark Connect against classic mode: Lloyd's iterations from the same seeds,
a KMeans model from centres and the sweep's fits agree, and the Connect client never starts a JVM."""

from __future__ import annotations

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from segspark import engine
from segspark.clustering import model
from tests.connect.conftest import run_over_connect

COLUMNS = ["x", "y", "z"]


def blobs(points_per_blob: int, seed: int = 7) -> np.ndarray:
    """Four blobs in 3-D and a few far points (hand-placed centres, normal noise)."""
    rng = np.random.default_rng(seed)
    centres = [[0, 0, 0], [3, 3, 0], [0, 4, 4], [5, 0, 5]]
    found = [rng.normal(centre, 0.6, size=(points_per_blob, 3)) for centre in centres]
    return np.concatenate([*found, [[9.0, 9.0, 9.0], [-4.0, 6.0, 1.0]]])


@pytest.fixture(scope="module")
def points(spark, tmp_path_factory):
    """point_id and x, y, z as Parquet (both modes read the same file) and as a classic DataFrame."""
    values = blobs(300)
    frame = spark.createDataFrame(
        [(f"c{i:05d}", *map(float, row)) for i, row in enumerate(values)], ["point_id", *COLUMNS]
    ).coalesce(2)
    path = tmp_path_factory.mktemp("connect-points") / "points.parquet"
    frame.write.parquet(str(path))
    return values, spark.read.parquet(str(path)), str(path)


def no_jvm(answer: dict) -> None:
    assert answer["engine"] == "connect"
    assert answer["jvm_started"] is False and answer["segspark_jvm_imported"] is False


def test_lloyd_over_connect_equals_mllib_from_the_same_seeds(spark, points, connect_server, tmp_path):
    values, frame, path = points
    seeds = {str(k): values[np.linspace(0, len(values) - 3, k).astype(int)].tolist() for k in range(2, 8)}
    seeds["5"][-1] = [40.0, 40.0, 40.0]  # a centre no point chooses: it stays where it is, as in MLlib
    request = {"points": path, "columns": COLUMNS, "seeds": seeds, "max_iter": 20, "tol": 1e-4}
    answer = run_over_connect(connect_server, "lloyd", request, tmp_path)
    no_jvm(answer)
    classic = engine.of(spark)
    assert classic.name == "classic"
    held = classic.training_points(frame, COLUMNS)
    try:
        for k, given in seeds.items():
            centres, cost, iterations = classic.lloyd(held, given, 20, 1e-4)
            over_connect = answer["fits"][k]
            assert over_connect["iterations"] == iterations
            assert over_connect["cost"] == pytest.approx(cost, rel=1e-9)
            assert np.allclose(over_connect["centres"], centres, rtol=0, atol=1e-9)
    finally:
        classic.release(held)
    assert answer["fits"]["5"]["centres"][-1] == [40.0, 40.0, 40.0]


def test_a_kmeans_model_from_centres_over_connect_is_the_classic_one(spark, points, connect_server, tmp_path):
    _, frame, path = points
    centres = [[5.0, 0.0, 5.0], [0.0, 0.0, 0.0], [0.0, 4.0, 4.0], [3.0, 3.0, 0.0], [9.0, 9.0, 9.5]]
    predictions = str(tmp_path / "predictions")
    request = {"points": path, "columns": COLUMNS, "centres": centres, "predictions": predictions}
    answer = run_over_connect(connect_server, "model", request, tmp_path)
    no_jvm(answer)
    assert answer["centres"] == centres and answer["k"] == 5  # exactly these, in this order
    classic = model.pipeline_model(engine.of(spark), centres, [model.assembler(COLUMNS)])
    expected = classic.transform(frame).select("point_id", model.CLUSTER)
    assert_df_equality(spark.read.parquet(predictions), expected, ignore_row_order=True, ignore_nullable=True)
    assert expected.where(F.col(model.CLUSTER) == 4).count() == 1  # the far point has its own centre


def test_the_sweep_over_connect_gives_the_classic_fits(spark, points, connect_server, tmp_path):
    _, frame, path = points
    settings = {"seed": 42, "max_iter": 10, "tol": 1e-3, "restarts": 2, "seeding_sample": 500, "parallel_fits": 3}
    ks = list(range(2, 9))
    customers = frame.withColumnRenamed("point_id", "customer_id")
    request = {"customers": path.replace("points.parquet", "customers.parquet"), "customers_count": frame.count(),
               "columns": COLUMNS, "settings": settings, "ks": ks}  # fmt: skip
    customers.write.parquet(request["customers"])
    answer = run_over_connect(connect_server, "sweep", request, tmp_path)
    no_jvm(answer)
    fitted = model.KMeansSettings(**settings)
    training = model.training_set(customers, request["customers_count"], fitted, COLUMNS)
    classic = model.fit_ks(engine.of(spark), training, ks, fitted)
    for k in ks:
        over_connect = answer["fits"][str(k)]
        assert over_connect["cost"] == pytest.approx(classic[k].training_cost, rel=1e-9)
        assert over_connect["iterations"] == classic[k].iterations
        assert np.allclose(over_connect["centres"], classic[k].centres, rtol=0, atol=1e-9)
