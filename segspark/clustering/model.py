"""The segmentation model: log features -> VectorAssembler -> MLlib KMeans, swept over k.

Each k is fitted in two steps (Bradley and Fayyad, "Refining initial points for k-means", 1998):

1. seeds: k-means++ with `restarts` initialisations, the best kept (scikit-learn), on a bounded,
   uniform sample of the training points in the driver (`seeding_sample` points at most);
2. MLlib's Lloyd iterations from those seeds on every training point (spark.mllib KMeans with an
   initial model, through the session's `segspark.engine`): the k's centres and its training cost.

Training points are all customers up to `training_sample`, else a uniform sample of that many
(the lowest hashes of customer id and seed). Every k's cost and silhouette are then measured on
all customers in two passes for the whole sweep (`segspark.evaluation`).

Why: on small data a Spark job costs tens of milliseconds whatever it does, and MLlib runs one job
per Lloyd iteration. Its own k-means|| initialisation costs ~7 jobs per fit and lands in local
minima that only many restarts escape (8 restarts: ~4,900 jobs for the elbow of the built-in
sample); seeds that are already good need one fit per k and few iterations (docs/benchmarks.md).

The training points get a fixed partitioning (one partition per `points_per_partition` points,
hash of the point, sorted within each) and the seeding sample is chosen by hash, so the same
customers, seed and settings give the same centres on a laptop and on a cluster.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import warnings
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segspark.clustering import evaluation
from segspark.engine import Engine
from segspark.expressions import among_lowest, hash_rank
from segspark.schemas import LOG_FEATURE_COLUMNS

FEATURES_VECTOR = "features"
CLUSTER = "cluster"
POINT_ID = "point_id"


@dataclass(frozen=True)
class KMeansSettings:
    """What the fits share; all of it comes from conf/segspark.toml [model]."""

    seed: int = 42
    max_iter: int = 10
    tol: float = 1e-3
    restarts: int = 10
    seeding_sample: int = 20_000
    training_sample: int = 200_000
    points_per_partition: int = 1_000_000
    parallel_fits: int = 4
    stability_resamples: int = 5

    @classmethod
    def from_settings(cls, model_settings: dict, **overrides) -> "KMeansSettings":
        """From the [model] table of conf/segspark.toml (k_min and k_max are the sweep's, not a fit's)."""
        names = set(cls.__dataclass_fields__)
        values = {name: value for name, value in model_settings.items() if name in names}
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)


@dataclass(frozen=True)
class Fit:
    """One k fitted on the training points: MLlib's centres, training cost and iterations."""

    k: int
    centres: list[list[float]]
    training_cost: float
    iterations: int
    seconds: float


@dataclass(frozen=True)
class TrainingSet:
    """The training points (in their fixed partitioning), their number, and the seeding sample."""

    vectors: DataFrame
    points: int
    partitions: int
    sample: np.ndarray
    every_customer: bool
    columns: tuple[str, ...] = LOG_FEATURE_COLUMNS  # the point columns, in the order of a centre's axes

    def distinct_points(self) -> int | None:
        """How many distinct feature vectors the customers have, when the sample holds every customer."""
        complete = self.every_customer and len(self.sample) == self.points
        return len(np.unique(self.sample, axis=0)) if complete else None


def assembler(columns: Sequence[str] = LOG_FEATURE_COLUMNS) -> VectorAssembler:
    """The point columns as one vector (the reference's space: its three log features)."""
    return VectorAssembler(inputCols=list(columns), outputCol=FEATURES_VECTOR)


def training_partitions(points: int, settings: KMeansSettings) -> int:
    """The partition count of the training points: a function of the data size only."""
    return max(1, math.ceil(points / settings.points_per_partition))


def training_points(
    customers: DataFrame, customer_count: int, settings: KMeansSettings, columns: Sequence[str] = LOG_FEATURE_COLUMNS
) -> tuple[DataFrame, int]:
    """point_id and the log features of the points KMeans trains on, and their (expected) number.

    Every customer up to `training_sample` customers; past it a uniform sample of about that many
    (the lowest hashes of customer id and seed). Lloyd's centres on 200,000 uniform points differ
    from those on all customers by far less than the spread within a segment, and every k's cost
    is measured on all customers anyway.
    """
    points = customers.select(F.col("customer_id").alias(POINT_ID), *columns)
    if customer_count <= settings.training_sample:
        return points, customer_count
    fraction = settings.training_sample / customer_count
    sampled = points.where(among_lowest(hash_rank(POINT_ID, settings.seed), fraction))
    return sampled, settings.training_sample


def training_vectors(points: DataFrame, partitions: int) -> DataFrame:
    """The points in a fixed partitioning and order (hash of the point id, sorted within each)."""
    return points.repartition(partitions, POINT_ID).sortWithinPartitions(*points.columns)


def seeding_sample(points: DataFrame, point_count: int, size: int, seed: int) -> np.ndarray:
    """The log features of the `size` points with the lowest hashes of (point id, seed): uniform,
    deterministic and bounded. One Spark job: a hash threshold keeps about 10% more than `size`
    (no sort in Spark), the driver keeps the lowest `size` of those."""
    fraction = min(1.0, 1.1 * size / max(point_count, 1) + 1e-3)
    rows = (
        points.withColumn("_rank", hash_rank(POINT_ID, seed))
        .where(among_lowest(F.col("_rank"), fraction))
        .select("_rank", *points.columns)
        .collect()
    )
    columns = [name for name in points.columns if name != POINT_ID]
    rows.sort(key=lambda row: (row["_rank"], row[POINT_ID]))
    sample = np.array([[row[name] for name in columns] for row in rows[:size]], dtype=float)
    return sample.reshape(-1, len(columns))


def training_set(
    customers: DataFrame, customer_count: int, settings: KMeansSettings, columns: Sequence[str] = LOG_FEATURE_COLUMNS
) -> TrainingSet:
    """The training points and the seeding sample drawn from them (one bounded collect)."""
    points, count = training_points(customers, customer_count, settings, columns)
    partitions = training_partitions(count, settings)
    sample = seeding_sample(points, count, settings.seeding_sample, settings.seed)
    vectors = training_vectors(points, partitions)
    return TrainingSet(vectors, count, partitions, sample, count == customer_count, tuple(columns))


def seed_centres(sample: np.ndarray, k: int, settings: KMeansSettings) -> list[list[float]]:
    """k initial centres: scikit-learn's k-means++ with `restarts` initialisations on the sample.

    k = 1 is the sample's mean. Where the sample has fewer distinct points than k, the extra
    centres repeat a point; MLlib's Lloyd then leaves them empty (no crash, unlike spark.ml's
    block solver, which indexes out of bounds there).
    """
    if k == 1:
        return [list(map(float, sample.mean(axis=0)))]
    return [list(map(float, centre)) for centre in kmeans_plus_plus(sample, k, settings.restarts, settings.seed)]


def kmeans_plus_plus(points: np.ndarray, k: int, restarts: int, seed: int) -> np.ndarray:
    """k x 3 centres: scikit-learn's KMeans (k-means++ seeding, Lloyd), the best of `restarts` runs.

    The seeds of every k and the refits of segspark.stability: one method for both.
    """
    from sklearn.cluster import (
        KMeans,  # imported here: a run that fits nothing does not pay for it
    )

    _one_blas_thread_quietly()
    return KMeans(n_clusters=k, n_init=max(1, restarts), random_state=seed).fit(points).cluster_centers_


_quiet = threading.Lock()
_quieted: list[bool] = []


def _one_blas_thread_quietly() -> None:
    """One BLAS/OpenMP thread for this fit, and no ConvergenceWarning (fewer distinct points than k:
    the run says so itself).

    One thread was measured 2.5 x faster than two on 20,000 points here, and it leaves the other core
    to the MLlib fits that run meanwhile. The seeds and the stability refits call this from two
    threads at once, so nothing is entered and left per call: `threadpool_limits` and
    `warnings.catch_warnings` save process-wide state on entry and restore it on exit, and two
    threads doing so restore each other's state in the wrong order. The limit is set and kept
    (BLAS's is process-wide, OpenMP's per thread, so each calling thread sets it); the warning filter
    is added once.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # set, never restored: the driver keeps one thread for these fits
    with _quiet:
        if not _quieted:
            from sklearn.exceptions import ConvergenceWarning

            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            _quieted.append(True)


def ks_to_fit(ks: Sequence[int], given_k: int | None = None) -> list[int]:
    """The ks that get a fit: every k >= 2 of the sweep, and a given k wherever it lies."""
    return sorted({k for k in ks if k >= 2} | ({given_k} if given_k else set()))


def fit_ks(
    engine: Engine,
    training: TrainingSet,
    ks: Sequence[int],
    settings: KMeansSettings,
    progress: Callable[[Fit], None] = lambda fit: None,
) -> dict[int, Fit]:
    """Every k >= 2 of `ks` fitted: seeds in this thread, MLlib's Lloyd from `parallel_fits` threads.

    A k's MLlib fit starts as soon as its seeds are ready, so the driver's seeding overlaps Spark's
    jobs. A fit's result does not depend on what runs beside it. The first fit that fails stops
    the sweep at once: queued fits are dropped and running Spark jobs cancelled.
    """
    failures: list[BaseException] = []  # the first failure, set by whichever thread sees it

    def fit(k: int, seeds: list[list[float]]) -> Fit | None:
        if failures:
            return None  # the sweep has failed: queued fits do not start
        points = vectors.result()
        started = time.monotonic()
        centres, cost, iterations = engine.lloyd(points, seeds, settings.max_iter, settings.tol)
        return Fit(k, centres, cost, iterations, time.monotonic() - started)

    def settled(done: Future) -> None:
        if done.cancelled():
            return
        if done.exception() is not None:
            failures.append(done.exception())
        elif done.result() is not None:
            progress(done.result())

    pool = ThreadPoolExecutor(max_workers=max(1, settings.parallel_fits))
    # the training points are cached while the first seeds are computed here
    vectors = pool.submit(engine.training_points, training.vectors, training.columns)
    vectors.add_done_callback(lambda done: done.exception() is None or failures.append(done.exception()))
    futures: list[Future] = []
    try:
        for k in (k for k in ks if k >= 2):
            if failures:
                break
            futures.append(pool.submit(fit, k, seed_centres(training.sample, k, settings)))
            futures[-1].add_done_callback(settled)
        wait([vectors, *futures], return_when=FIRST_EXCEPTION)
        if failures:
            raise failures[0]
        return {f.result().k: f.result() for f in futures}
    except BaseException:
        for future in futures:
            future.cancel()
        engine.cancel_all()  # the running fits end at their next job
        raise
    finally:
        pool.shutdown(wait=True)
        if vectors.exception() is None:
            engine.release(vectors.result())


@dataclass(frozen=True)
class SweepPoint:
    """One k of the elbow curve: cost and silhouette on every customer, and how its fit went."""

    k: int
    cost: float
    silhouette: float | None
    seconds: float
    iterations: int
    training_cost: float | None = None
    stability: dict | None = None  # segspark.stability.Stability.as_dict(), k >= 2 where measured

    def as_dict(self) -> dict:
        return {
            "k": self.k,
            "cost": self.cost,
            "training_cost": self.training_cost,
            "silhouette": self.silhouette,
            "seconds": round(self.seconds, 2),
            "iterations": self.iterations,
            "stability": self.stability,
        }


@dataclass(frozen=True)
class Sweep:
    """The elbow curve, every fit (by k) and every k's clusters measured on all customers."""

    points: list[SweepPoint]
    fits: dict[int, Fit]
    statistics: dict[int, evaluation.ClusterStatistics]

    def with_stability(self, by_k: dict[int, dict]) -> "Sweep":
        """The same sweep with each k's stability (an as_dict of segspark.stability.Stability) on its point."""
        return Sweep([replace(p, stability=by_k.get(p.k)) for p in self.points], self.fits, self.statistics)


def sweep(
    engine: Engine,
    customers: DataFrame,
    training: TrainingSet,
    ks: Sequence[int],
    settings: KMeansSettings,
    given_k: int | None = None,
    progress: Callable[[str], None] = print,
    order_column: str = "total_spending",
) -> Sweep:
    """Fit every k of `ks` (and `given_k`), then measure them all on every customer in two passes
    (the silhouettes on the training points, which are every customer up to `training_sample`).

    `customers` (persisted) carries the training set's point columns and `order_column` (by whose
    mean segments are numbered: total_spending for the reference's features). The elbow lists `ks`.
    """
    started = time.monotonic()
    to_fit = ks_to_fit(ks, given_k)

    def fitted(fit: Fit) -> None:
        progress(
            f"  k={fit.k:>2} fitted: training cost {fit.training_cost:,.2f}, {fit.iterations} iterations, "
            f"{fit.seconds:.1f} s ({time.monotonic() - started:.0f} s into the sweep)"
        )

    fits = fit_ks(engine, training, to_fit, settings, fitted)
    centres = {k: fit.centres for k, fit in fits.items()}
    if 1 in ks:
        centres[1] = seed_centres(training.sample, 1, settings)
    statistics = evaluation.cluster_statistics(customers, centres, training.columns, order_column)
    # past `training_sample` customers, silhouettes are averaged over the uniform training sample
    # (each scored against the clusters of all customers): standard error under 0.001, a tenth of the time
    scores = evaluation.silhouettes(
        customers if training.every_customer else training.vectors, statistics, training.columns
    )
    points = []
    for k in ks:
        fit = fits.get(k)
        points.append(
            SweepPoint(
                k,
                statistics[k].cost,
                scores.get(k),
                fit.seconds if fit else 0.0,
                fit.iterations if fit else 0,
                fit.training_cost if fit else None,
            )
        )
        shown = "-" if points[-1].silhouette is None else f"{points[-1].silhouette:.3f}"
        progress(f"  k={k:>2}  cost={points[-1].cost:>14,.2f}  silhouette={shown:>6}")
    return Sweep(points, fits, statistics)


def squared_distance(centre: Sequence[float | Column], columns: Sequence[str] = LOG_FEATURE_COLUMNS) -> Column:
    """A customer's squared Euclidean distance to `centre` in the points' space (values or columns)."""
    squares = [F.pow(F.col(name) - F.lit(centre[axis]), 2) for axis, name in enumerate(columns)]
    return functools.reduce(lambda a, b: a + b, squares)


def pipeline_model(engine: Engine, centres: Sequence[Sequence[float]], stages: Sequence | None = None) -> PipelineModel:
    """The feature steps (`stages`: by default the reference's assembler) and a KMeans model with
    these centres, as one artifact saved and loaded as one."""
    kmeans = engine.kmeans_model(centres, FEATURES_VECTOR, CLUSTER)
    return PipelineModel(stages=[*(stages if stages is not None else [assembler()]), kmeans])


def centres_of(pipeline: PipelineModel) -> list[list[float]]:
    """The centres of a pipeline's KMeans stage, in its cluster order."""
    return [[float(value) for value in centre] for centre in pipeline.stages[-1].clusterCenters()]
