"""Every place segspark reaches into Spark's own JVM classes through py4j, each in one small function.

(Files go through Hadoop's public FileSystem API, in segspark.edge.) PySpark's Python API has no way
to count the jobs a run started, no spark.ml KMeans that starts from given centres (SPARK-10780 was
never merged), no spark.ml model made from centres, and no way to read one Parquet file's schema
without a Spark job. Spark's JVM API has all four. Each public function here is covered by
tests/test_jvm.py, which fails if a Spark upgrade renames or changes what it calls. What it costs: py4j needs a classic (non-Connect)
SparkSession, which `spark-submit` always gives; over Spark Connect `segspark.connect` is their twin (`segspark.engine`).
"""

from __future__ import annotations

import json
from typing import Sequence

from pyspark import SparkContext
from pyspark.ml.clustering import KMeansModel as MLKMeansModel
from pyspark.mllib.common import _py2java
from pyspark.mllib.linalg import DenseVector
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T


def jobs_started(spark_context: SparkContext) -> int:
    """How many Spark jobs this SparkContext has started so far (its scheduler's next job id).

    Job ids are handed out one by one as jobs are submitted, from every thread, so the difference
    of two readings is exactly the number of jobs between them (adaptive execution's shuffle-stage
    jobs included), with none of the delay of the listener bus the status tracker reads.
    """
    counter = spark_context._jsc.sc().dagScheduler().nextJobId()
    return counter if isinstance(counter, int) else int(counter.get())


def vector_rdd(vectors: DataFrame, column: str):
    """The vector column of a DataFrame as a JVM RDD of spark.mllib vectors, in its partitioning and
    order, cached and materialised (one job) so that fits running side by side share it.

    Converted in the JVM (spark.ml's own DatasetUtils.columnToOldVector), not through Python workers.
    """
    jvm = vectors.sparkSession.sparkContext._jvm
    rdd = jvm.org.apache.spark.ml.util.DatasetUtils.columnToOldVector(vectors._jdf, column).cache()
    rdd.count()
    return rdd


def lloyd(
    spark_context: SparkContext, java_vectors, initial_centres: Sequence[Sequence[float]], max_iter: int, tol: float
) -> tuple[list[list[float]], float, int]:
    """spark.mllib KMeans (Lloyd's iterations, Euclidean) on `java_vectors` from `initial_centres`.

    Returns (centres, training cost, iterations). `java_vectors` must be cached (see `vector_rdd`):
    MLlib then leaves its storage alone, so several fits can share it from several threads. (The
    Python wrapper, pyspark.mllib KMeans.train, would unpersist it after each fit and drops the
    training cost and iteration count.)
    """
    clustering = spark_context._jvm.org.apache.spark.mllib.clustering
    centres = _java_vectors(spark_context, initial_centres)
    fitted = (
        clustering.KMeans()
        .setK(len(centres))
        .setMaxIterations(max_iter)
        .setEpsilon(tol)
        .setInitialModel(clustering.KMeansModel(centres))
        .run(java_vectors)
    )
    found = [[float(v) for v in centre.toArray()] for centre in fitted.clusterCenters()]
    return found, float(fitted.trainingCost()), int(fitted.numIter())


def kmeans_model(
    spark_context: SparkContext, centres: Sequence[Sequence[float]], features_col: str, prediction_col: str
) -> MLKMeansModel:
    """A spark.ml KMeansModel with these centres: it transforms, saves and loads as a fitted one."""
    jvm = spark_context._jvm
    parent = jvm.org.apache.spark.mllib.clustering.KMeansModel(_java_vectors(spark_context, centres))
    java_model = jvm.org.apache.spark.ml.clustering.KMeansModel(
        jvm.org.apache.spark.ml.util.Identifiable.randomUID("kmeans"), parent
    )
    model = MLKMeansModel(java_model)
    model._set(k=len(centres), featuresCol=features_col, predictionCol=prediction_col)
    model._transfer_params_to_java()
    return model


def _java_vectors(spark_context: SparkContext, centres: Sequence[Sequence[float]]) -> list:
    """Centres as JVM spark.mllib dense vectors."""
    return [_py2java(spark_context, DenseVector([float(v) for v in centre])) for centre in centres]


def parquet_schema(spark: SparkSession, path: str) -> T.StructType:
    """One Parquet file's schema as Spark reads it, from its footer, on the driver.

    `spark.read.parquet(file).schema` runs a Spark job per file to read the same footer: 30 files
    cost 5 s of jobs. This reads the footer through parquet-mr and converts it with Spark's own
    ParquetToSparkSchemaConverter (the session's settings), in milliseconds per file.
    """
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(
        spark.sparkContext._jsc.hadoopConfiguration(), hadoop_path
    )
    converter = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(
        spark._jsparkSession.sessionState().conf()
    )
    return T.StructType.fromJson(json.loads(converter.convert(footer.getFileMetaData().getSchema()).json()))


class ClassicEngine:
    """segspark.engine.Engine for a classic session: MLlib's Lloyd on a JVM RDD, the scheduler's job
    counter, parquet-mr's footers, all through py4j."""

    name = "classic"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.context = spark.sparkContext

    def jobs_started(self) -> int:
        return jobs_started(self.context)

    def training_points(self, vectors: DataFrame, columns: Sequence[str]):
        from pyspark.ml.feature import VectorAssembler

        assembled = VectorAssembler(inputCols=list(columns), outputCol="_point").transform(vectors)
        return vector_rdd(assembled, "_point")

    def lloyd(self, points, seeds: Sequence[Sequence[float]], max_iter: int, tol: float):
        return lloyd(self.context, points, seeds, max_iter, tol)

    def release(self, points) -> None:
        points.unpersist(False)

    def cancel_all(self) -> None:
        self.context.cancelAllJobs()

    def kmeans_model(self, centres: Sequence[Sequence[float]], features_col: str, prediction_col: str) -> MLKMeansModel:
        return kmeans_model(self.context, centres, features_col, prediction_col)

    def parquet_schema(self, path: str) -> T.StructType:
        return parquet_schema(self.spark, path)
