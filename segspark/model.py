"""The segmentation model: log features -> VectorAssembler -> MLlib KMeans, swept over k.

KMeans trains on weighted points. Up to `grid_above_points` customers, every customer is a point
of weight 1; past it, the customers in one cell of a `grid_step` grid in log space are one point
at their mean, weighted by their count (Lloyd on it is Lloyd on the customers as long as a cell's
customers share a centre). Either way every k's cost is measured on all customers, in one pass.
So the sweep's work stops growing with the number of customers.

k-means|| seeds each partition by its index, so the training points get a fixed partitioning:
one partition per `points_per_partition` points (hash of the point, sorted within each). It
depends on the data only, so the same customers, seed and settings give the same centres on a
laptop and on a cluster. Each MLlib iteration is a small Spark job whose cost is mostly fixed
overhead per task, so small inputs are fastest in one partition.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.schemas import LOG_FEATURE_COLUMNS

FEATURES_VECTOR = "features"
CLUSTER = "cluster"
POINT_ID = "point_id"
WEIGHT = "weight"


@dataclass(frozen=True)
class KMeansSettings:
    """What the fits share; all of it comes from conf/segspark.toml [model]."""

    seed: int = 42
    max_iter: int = 50
    tol: float = 1e-6
    init_steps: int = 2
    restarts: int = 1
    points_per_partition: int = 1_000_000
    grid_step: float = 0.01
    grid_above_points: int = 200_000
    silhouette_sample: int = 20_000
    parallel_fits: int = 4
    solver: str = "block"

    @classmethod
    def from_settings(cls, model_settings: dict, **overrides) -> "KMeansSettings":
        """From the [model] table of conf/segspark.toml (k_min and k_max are the sweep's, not a fit's)."""
        names = set(cls.__dataclass_fields__)
        values = {name: value for name, value in model_settings.items() if name in names}
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


@dataclass(frozen=True)
class SweepPoint:
    """One k of the elbow curve."""

    k: int
    cost: float
    silhouette: float | None
    seconds: float
    iterations: int
    training_cost: float | None = None

    def as_dict(self) -> dict:
        return {
            "k": self.k,
            "cost": self.cost,
            "training_cost": self.training_cost,
            "silhouette": self.silhouette,
            "seconds": round(self.seconds, 2),
            "iterations": self.iterations,
        }


def assembler() -> VectorAssembler:
    """The feature step of the pipeline: the three log features as one vector."""
    return VectorAssembler(inputCols=list(LOG_FEATURE_COLUMNS), outputCol=FEATURES_VECTOR)


def training_partitions(points: int, settings: KMeansSettings) -> int:
    """The partition count of the training points: a function of the data size only."""
    return max(1, math.ceil(points / settings.points_per_partition))


def customer_points(customers: DataFrame) -> DataFrame:
    """point_id, weight and the log features: every customer as a point of weight 1."""
    return customers.select(
        F.col("customer_id").alias(POINT_ID), F.lit(1.0).alias(WEIGHT), *LOG_FEATURE_COLUMNS
    )


def grid_points(customers: DataFrame, grid_step: float) -> DataFrame:
    """point_id, weight and the log features: the customers of each grid cell as one point at their mean.

    The weighted problem differs from the full one only where a cell's customers would go to
    different centres; Lloyd on the points is Lloyd on the customers otherwise.
    """
    cells = [F.floor(F.col(name) / grid_step).cast("long").alias(f"cell_{name}") for name in LOG_FEATURE_COLUMNS]
    keys = [F.col(f"cell_{name}") for name in LOG_FEATURE_COLUMNS]
    points = (
        customers.select(*cells, *LOG_FEATURE_COLUMNS)
        .groupBy(*keys)
        .agg(F.count(F.lit(1)).alias(WEIGHT), *[F.avg(name).alias(name) for name in LOG_FEATURE_COLUMNS])
    )
    return points.select(
        F.xxhash64(*keys).alias(POINT_ID), F.col(WEIGHT).cast("double").alias(WEIGHT), *LOG_FEATURE_COLUMNS
    )


def training_points(customers: DataFrame, customer_count: int, settings: KMeansSettings) -> tuple[DataFrame, int, float]:
    """The points the sweep trains on, their count, and the grid step used (0: every customer).

    Up to `grid_above_points` customers every customer is a point: merging only exact duplicates
    was measured to cost quality (k-means|| seeds from points, not weights: worst k 1.048 x
    scikit-learn against 1.003 x on the sample) for no speed, since small fits cost scheduling,
    not arithmetic.
    """
    if settings.grid_step > 0 and customer_count > settings.grid_above_points:
        points = grid_points(customers, settings.grid_step)
        return points, points.count(), settings.grid_step
    return customer_points(customers), customer_count, 0.0


def training_vectors(points: DataFrame, partitions: int) -> DataFrame:
    """The weighted points and their vector, in a fixed partitioning and order."""
    return (
        assembler()
        .transform(points)
        .repartition(partitions, POINT_ID)
        .sortWithinPartitions(POINT_ID, *LOG_FEATURE_COLUMNS)
    )


def squared_distance(centre: Sequence[float | Column]) -> Column:
    """A customer's squared Euclidean distance to `centre` in log-feature space (values or columns)."""
    squares = [F.pow(F.col(name) - F.lit(centre[axis]), 2) for axis, name in enumerate(LOG_FEATURE_COLUMNS)]
    return squares[0] + squares[1] + squares[2]


def single_cluster_cost(customers: DataFrame) -> float:
    """The k = 1 cost (MLlib refuses k = 1): squared distances to the mean, from one aggregate."""
    row = customers.agg(
        F.count(F.lit(1)).alias("n"), *[F.var_pop(name).alias(name) for name in LOG_FEATURE_COLUMNS]
    ).first()
    return float(sum((row[name] or 0.0) * row["n"] for name in LOG_FEATURE_COLUMNS))


def exact_costs(customers: DataFrame, centres_by_k: dict[int, Sequence[Sequence[float]]]) -> dict[int, float]:
    """Each k's cost on every customer (squared distance to the nearest centre), in one pass."""
    if not centres_by_k:
        return {}

    def nearest(centres: Sequence[Sequence[float]]) -> Column:
        distances = [squared_distance([float(value) for value in centre]) for centre in centres]
        return distances[0] if len(distances) == 1 else F.least(*distances)

    row = customers.agg(*[F.sum(nearest(c)).alias(f"k{k}") for k, c in sorted(centres_by_k.items())]).first()
    return {k: float(row[f"k{k}"] or 0.0) for k in centres_by_k}


def restart_order(vectors: DataFrame, restart: int) -> DataFrame:
    """The vectors as restart `restart` sees them: same partitions, another fixed order.

    k-means|| samples each partition in order, so a new seed alone tends to land in the same local
    minimum (measured: all ten seeds at k = 11 on the sample, 1.039 x scikit-learn's cost).
    Reordering each partition by a hash of (point, restart) gives the restarts different
    starting points while staying deterministic: it depends on the data and the restart only.
    """
    if restart == 0:
        return vectors
    return vectors.sortWithinPartitions(F.xxhash64(F.col(POINT_ID), F.lit(restart)), *LOG_FEATURE_COLUMNS)


def fit_once(vectors: DataFrame, k: int, restart: int, settings: KMeansSettings) -> KMeansModel:
    """Restart `restart` of k: seed `settings.seed + restart` on `restart_order(vectors, restart)`."""
    return KMeans(
        k=k,
        seed=settings.seed + restart,
        maxIter=settings.max_iter,
        tol=settings.tol,
        initSteps=settings.init_steps,
        solver=settings.solver,
        weightCol=WEIGHT,
        featuresCol=FEATURES_VECTOR,
        predictionCol=CLUSTER,
    ).fit(restart_order(vectors, restart))


def best_model(models: Sequence[KMeansModel]) -> KMeansModel:
    """The lowest training cost; the earliest seed among equals, whatever order they finished in."""
    return min(models, key=lambda model: (model.summary.trainingCost, model.getSeed()))


def fit_kmeans(vectors: DataFrame, k: int, settings: KMeansSettings) -> KMeansModel:
    """The best of `settings.restarts` fits (see `fit_once`) by training cost."""
    return best_model([fit_once(vectors, k, r, settings) for r in range(max(1, settings.restarts))])


def silhouette(model: KMeansModel, vectors: DataFrame, sample_size: int, seed: int) -> float | None:
    """Silhouette (squared Euclidean, weighted) on a sample stratified by cluster, small clusters whole.

    Cost stays flat at millions of customers: at most about `sample_size` points are scored.
    """
    sizes = model.summary.clusterSizes
    if sum(1 for size in sizes if size > 0) < 2:
        return None
    per_cluster = max(1, sample_size // len(sizes))
    fractions = {cluster: min(1.0, per_cluster / size) for cluster, size in enumerate(sizes) if size > 0}
    sample = model.transform(vectors).sampleBy(CLUSTER, fractions, seed)
    evaluator = ClusteringEvaluator(
        featuresCol=FEATURES_VECTOR, predictionCol=CLUSTER, weightCol=WEIGHT, distanceMeasure="squaredEuclidean"
    )
    return float(evaluator.evaluate(sample))


def sweep(
    vectors: DataFrame,
    customers: DataFrame,
    ks: Sequence[int],
    settings: KMeansSettings,
    progress: Callable[[str], None] = print,
) -> tuple[list[SweepPoint], dict[int, KMeansModel]]:
    """The elbow curve over `ks` and the best model of each k >= 2. `vectors` should be persisted.

    Fits train on `vectors` (the weighted points); every k's cost is then measured on `customers`.
    Every (k, restart) fit is independent, so they run from `settings.parallel_fits` threads on the
    one session: an MLlib iteration is a small Spark job and one fit alone leaves the cores idle
    between them. A fit's result does not depend on what runs beside it. A k's line (its training
    cost) is printed when its last restart ends.
    """
    restarts = max(1, settings.restarts)
    started = time.monotonic()
    points: dict[int, SweepPoint] = {}
    models: dict[int, KMeansModel] = {}
    if 1 in ks:
        points[1] = SweepPoint(1, single_cluster_cost(customers), None, time.monotonic() - started, 0)
        _report(progress, points[1], started, len(points), len(ks))

    fitted: dict[int, list[KMeansModel]] = {k: [] for k in ks if k >= 2}
    fit_seconds: dict[int, float] = {k: 0.0 for k in fitted}

    def timed_fit(k: int, restart: int) -> tuple[int, KMeansModel, float]:
        fit_started = time.monotonic()
        return k, fit_once(vectors, k, restart, settings), time.monotonic() - fit_started

    with ThreadPoolExecutor(max_workers=max(1, settings.parallel_fits)) as pool:
        futures = [pool.submit(timed_fit, k, r) for k in fitted for r in range(restarts)]
        for future in as_completed(futures):
            k, model, seconds = future.result()
            fitted[k].append(model)
            fit_seconds[k] += seconds
            if len(fitted[k]) < restarts:
                continue
            # restarts finish in any order: the best is chosen by cost, then by seed
            models[k] = best_model(fitted[k])
            score = silhouette(models[k], vectors, settings.silhouette_sample, settings.seed)
            training_cost = float(models[k].summary.trainingCost)
            points[k] = SweepPoint(k, training_cost, score, fit_seconds[k], models[k].summary.numIter, training_cost)
            _report(progress, points[k], started, len(points), len(ks))
    costs = exact_costs(customers, {k: centres(m) for k, m in models.items()})
    points.update({k: replace(points[k], cost=cost) for k, cost in costs.items()})
    return [points[k] for k in sorted(points)], models


def _report(progress: Callable[[str], None], point: SweepPoint, started: float, done: int, total: int) -> None:
    elapsed = time.monotonic() - started
    remaining = elapsed / done * (total - done)
    shown = "-" if point.silhouette is None else f"{point.silhouette:.3f}"
    progress(
        f"  k={point.k:>2}  cost={point.cost:>14,.2f}  silhouette={shown:>6}  "
        f"{point.seconds:6.1f} s  {point.iterations:>3} iterations  ~{remaining:.0f} s left"
    )


def pipeline_model(model: KMeansModel) -> PipelineModel:
    """The fitted model and its feature step as one artifact, saved and loaded as one."""
    return PipelineModel(stages=[assembler(), model])


def centres(model: KMeansModel) -> list[list[float]]:
    return [[float(value) for value in centre] for centre in model.clusterCenters()]


def expm1_centre(centre: Sequence[float]) -> list[float]:
    """A centre in the original units of the features (the inverse of log1p)."""
    return [math.expm1(value) for value in centre]
