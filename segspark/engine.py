"""The one seam between segspark and the way it reaches Spark: classic (py4j, as `spark-submit`
gives) or Spark Connect (a thin gRPC client, as Databricks serverless and shared clusters give).

What PySpark's DataFrame API cannot do in the same cost, an engine does: fit Lloyd's iterations from
given seeds (spark.ml KMeans has no initial model, SPARK-10780), make a spark.ml KMeansModel from
centres, count the Spark jobs a run started, read a Parquet file's schema. `of(spark)` picks the
engine for a session; the run's phases call the engine and never ask which one it is. Classic mode
is `segspark.jvm.ClassicEngine`; Connect mode is `segspark.connect.ConnectEngine`, which never
touches py4j. tests/connect holds both to the same results.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

Centres = list[list[float]]


class Engine(Protocol):
    #: "classic" or "connect"
    name: str

    def jobs_started(self) -> int | None:
        """How many Spark jobs the session has started so far; None where the engine cannot tell."""

    def training_points(self, vectors: DataFrame, columns: Sequence[str]) -> Any:
        """The points (`columns` of `vectors`, in its partitioning) cached and materialised for `lloyd`."""

    def lloyd(
        self, points: Any, seeds: Sequence[Sequence[float]], max_iter: int, tol: float
    ) -> tuple[Centres, float, int]:
        """Lloyd's iterations (Euclidean) from `seeds`, as spark.mllib KMeans runs them: (centres,
        training cost of the last iteration's assignment, iterations). Several may run at once."""

    def release(self, points: Any) -> None:
        """Free what `training_points` cached."""

    def cancel_all(self) -> None:
        """Cancel every running Spark job of the session (a failed sweep stops at once)."""

    def kmeans_model(self, centres: Sequence[Sequence[float]], features_col: str, prediction_col: str):
        """A spark.ml KMeansModel with exactly these centres in this order: it transforms, saves and loads."""

    def parquet_schema(self, path: str) -> T.StructType:
        """One Parquet file's schema as Spark reads it."""


def is_connect(spark: SparkSession) -> bool:
    """Whether `spark` is a Spark Connect session (pyspark.sql.connect), without importing its client."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def of(spark: SparkSession) -> Engine:
    """The engine of a session."""
    if is_connect(spark):
        from segspark.connect import ConnectEngine

        return ConnectEngine(spark)
    from segspark.jvm import ClassicEngine

    return ClassicEngine(spark)
