"""segspark/jvm.py: each reach into Spark's JVM, checked so that a Spark upgrade that changes it fails here."""

from __future__ import annotations

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from segspark import jvm
from segspark.clustering import model

pytestmark = pytest.mark.spark_lines  # also run on every Spark line (make test-spark-lines)

POINTS = [(0.0, 0.0, 0.0), (0.0, 0.2, 0.0), (5.0, 5.0, 5.0), (5.0, 5.4, 5.0), (5.0, 5.2, 5.0)]


@pytest.fixture(scope="module")
def points(spark):
    rows = [(i, *p) for i, p in enumerate(POINTS)]
    return spark.createDataFrame(
        rows, f"{model.POINT_ID} long, " + ", ".join(f"{n} double" for n in model.LOG_FEATURE_COLUMNS)
    )


def test_jobs_started_counts_every_job_exactly(spark):
    sc = spark.sparkContext
    before = jvm.jobs_started(sc)
    sc.parallelize(range(10), 2).count()
    sc.parallelize(range(10), 2).collect()
    assert jvm.jobs_started(sc) - before == 2


def test_vector_rdd_holds_the_vectors_in_order_and_stays_cached(spark, points):
    vectors = jvm.vector_rdd(model.assembler().transform(points.coalesce(1)), model.FEATURES_VECTOR)
    try:
        assert vectors.getStorageLevel().useMemory()
        assert [tuple(v.toArray()) for v in vectors.collect()] == POINTS
    finally:
        vectors.unpersist(False)


def test_lloyd_starts_from_the_given_centres_and_leaves_the_input_cached(spark, points):
    vectors = jvm.vector_rdd(model.assembler().transform(points.coalesce(1)), model.FEATURES_VECTOR)
    try:
        centres, cost, iterations = jvm.lloyd(spark.sparkContext, vectors, [[1.0, 1.0, 1.0], [4.0, 4.0, 4.0]], 20, 1e-6)
        assert vectors.getStorageLevel().useMemory()  # several fits share it
    finally:
        vectors.unpersist(False)
    assert centres[0] == pytest.approx([0.0, 0.1, 0.0]) and centres[1] == pytest.approx([5.0, 5.2, 5.0])
    assert cost == pytest.approx(0.01 * 2 + 0.04 * 2, rel=1e-9)  # squared distances to the final centres
    assert 2 <= iterations <= 3


def test_a_kmeans_model_from_centres_predicts_saves_and_loads(spark, points, tmp_path):
    kmeans = jvm.kmeans_model(spark.sparkContext, [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]], model.FEATURES_VECTOR, "cluster")
    pipeline = PipelineModel(stages=[model.assembler(), kmeans])
    predicted = [row["cluster"] for row in pipeline.transform(points).orderBy(model.POINT_ID).collect()]
    assert predicted == [0, 0, 1, 1, 1]
    pipeline.write().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    assert model.centres_of(loaded) == [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]
    assert loaded.stages[-1].getK() == 2 and loaded.stages[-1].getPredictionCol() == "cluster"
    reloaded = loaded.transform(points).orderBy(model.POINT_ID).select("cluster")
    assert [row[0] for row in reloaded.collect()] == predicted
    assert pipeline.transform(points).where(F.col("cluster") > 1).count() == 0


def test_a_parquet_footer_reads_as_the_schema_spark_reads(spark, tmp_path):
    import datetime as dt

    import pandas as pd

    frame = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "product_type": ["a", None],
            "total_sales": [1.5, 2.0],
            "day": [dt.date(2019, 1, 1), dt.date(2019, 1, 2)],
            "quantity": pd.array([1, 2], dtype="int32"),
        }
    )
    frame.to_parquet(tmp_path / "a.parquet", index=False)
    path = f"file://{tmp_path}/a.parquet"
    assert jvm.parquet_schema(spark, path) == spark.read.parquet(path).schema
    before = jvm.jobs_started(spark.sparkContext)
    jvm.parquet_schema(spark, path)
    assert jvm.jobs_started(spark.sparkContext) == before  # no Spark job
