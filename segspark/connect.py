"""segspark.engine.Engine over Spark Connect: the same results as classic mode from DataFrame
operations only (no py4j, no RDD, no SparkContext), so a thin client runs them.

- Lloyd's iterations from given seeds, as spark.mllib KMeans runs them, each iteration one
  aggregation: every point's nearest centre (the first of equals, as MLlib), then per centre the
  count and the sum of each axis, and the sum of the points' squared distances (the iteration's
  cost). A centre no point chose stays where it was; the fit stops after `max_iter` iterations or
  once no centre moved more than `tol`; the training cost is the last iteration's, as MLlib's is.
- A spark.ml KMeansModel with given centres: spark.ml KMeans takes no initial model (SPARK-10780),
  but fitted with k = n on n distinct points and random initialisation it starts from exactly those
  points, and one iteration leaves each where it is (the mean of one point). Its random start is a
  shuffle of the rows that depends on k and the seed only, so a first fit shows the shuffle and a
  second fit, on the rows in the order that undoes it, gives the centres in the order asked for
  (checked value for value: anything else is an error, never a model with other centres).
- The job counter: Spark Connect does not expose one (None, never a made-up count).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

#: The seed of the fits that build a model from centres (any fixed value: the shuffle is undone).
_MODEL_SEED = 1


@dataclass(frozen=True)
class ConnectPoints:
    """The cached training points and the columns that are their axes."""

    frame: DataFrame
    columns: tuple[str, ...]


class ConnectEngine:
    name = "connect"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def jobs_started(self) -> None:
        return None

    def training_points(self, vectors: DataFrame, columns: Sequence[str]) -> ConnectPoints:
        frame = vectors.select(*(F.col(name).cast("double").alias(name) for name in columns)).cache()
        frame.count()
        return ConnectPoints(frame, tuple(columns))

    def release(self, points: ConnectPoints) -> None:
        points.frame.unpersist()

    def cancel_all(self) -> None:
        self.spark.interruptAll()

    def lloyd(
        self, points: ConnectPoints, seeds: Sequence[Sequence[float]], max_iter: int, tol: float
    ) -> tuple[list[list[float]], float, int]:
        centres = [[float(value) for value in centre] for centre in seeds]
        cost, iteration, converged = 0.0, 0, False
        while iteration < max_iter and not converged:
            sums = assignment_sums(points.frame, points.columns, centres)
            converged = True
            for cluster, (count, axis_sums, _) in sums.items():
                moved = [total * (1.0 / count) for total in axis_sums]  # MLlib's centroid: sum scaled by 1/n
                if converged and sum((a - b) ** 2 for a, b in zip(moved, centres[cluster])) > tol * tol:
                    converged = False
                centres[cluster] = moved
            cost = sum(distance for _, _, distance in sums.values())
            iteration += 1
        return centres, cost, iteration

    def kmeans_model(self, centres: Sequence[Sequence[float]], features_col: str, prediction_col: str):
        from pyspark.ml.clustering import KMeans
        from pyspark.ml.linalg import Vectors

        wanted = [[float(value) for value in centre] for centre in centres]
        if len({tuple(centre) for centre in wanted}) < len(wanted):
            raise ValueError("a KMeans model needs distinct centres; two of these are equal")

        def fitted(rows: list[list[float]]):
            frame = self.spark.createDataFrame([(Vectors.dense(row),) for row in rows], [features_col])
            kmeans = KMeans(
                k=len(rows), initMode="random", maxIter=1, seed=_MODEL_SEED,
                featuresCol=features_col, predictionCol=prediction_col,
            )  # fmt: skip
            model = kmeans.fit(frame)
            return model, [[float(value) for value in centre] for centre in model.clusterCenters()]

        _, shuffled = fitted(wanted)
        if sorted(map(tuple, shuffled)) != sorted(map(tuple, wanted)):
            raise RuntimeError(
                "spark.ml KMeans did not start from the given points; cannot build the model over Connect"
            )
        taken_from = [wanted.index(centre) for centre in shuffled]  # centre i of the model was row taken_from[i]
        rows: list[list[float]] = [[] for _ in wanted]
        for position, source in enumerate(taken_from):
            rows[source] = wanted[position]
        model, found = fitted(rows)
        if found != wanted:
            raise RuntimeError(
                "spark.ml KMeans's random start was not the same shuffle twice; cannot build the model over Connect"
            )
        return model

    def parquet_schema(self, path: str) -> T.StructType:
        literal = re.sub(r"([{}\[\]*?\\])", r"\\\1", path)  # not a glob (as segspark.edge.paths.glob_escaped)
        return self.spark.read.parquet(literal).schema


def nearest(columns: Sequence[str], centres: Sequence[Sequence[float]]) -> tuple[Column, Column]:
    """(index of the nearest centre, its squared distance) of each point: the first of equals."""
    distances = [
        functools.reduce(
            lambda a, b: a + b, [(F.col(name) - F.lit(centre[axis])) ** 2 for axis, name in enumerate(columns)]
        )
        for centre in centres
    ]
    listed = F.array(*distances)
    closest = F.array_min(listed)
    return (F.array_position(listed, closest) - 1).cast("int"), closest


def assignment_sums(
    frame: DataFrame, columns: Sequence[str], centres: Sequence[Sequence[float]]
) -> dict[int, tuple[int, list[float], float]]:
    """One Lloyd iteration's aggregation: cluster -> (points, sum of each axis, sum of squared
    distances), for the clusters that have points."""
    cluster, distance = nearest(columns, centres)
    assigned = frame.select(cluster.alias("_cluster"), distance.alias("_distance"), *columns)
    rows = (
        assigned.groupBy("_cluster")
        .agg(
            F.count(F.lit(1)).alias("_n"),
            F.sum("_distance").alias("_cost"),
            *(F.sum(name).alias(name) for name in columns),
        )
        .collect()
    )
    return {row["_cluster"]: (row["_n"], [float(row[name]) for name in columns], float(row["_cost"])) for row in rows}
