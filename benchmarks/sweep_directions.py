"""The elbow sweep's design choices, measured side by side on one input's customers.

    ./spark-submit.sh benchmarks/sweep_directions.py [--input data/sample/orders] [--old]

For each variant: the Spark jobs and seconds of the fits for k = 2..15 (the evaluation passes and
ingest are common to all and left out), and each k's cost measured on every customer against
scikit-learn's k-means++ with n_init=10 on the same customers (worst and mean ratio). `--old` adds
the sweep segspark shipped before (spark.ml KMeans, k-means||, best of 8 restarts: ~5,000 jobs).
docs/benchmarks.md has a run and what was kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.ml.clustering import KMeans as MLKMeans  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from sklearn.cluster import KMeans as SklearnKMeans  # noqa: E402

from segspark import jvm  # noqa: E402
from segspark.clustering import model  # noqa: E402
from segspark.config import load_settings  # noqa: E402
from segspark.edge import workflow  # noqa: E402
from segspark.schemas import LOG_FEATURE_COLUMNS  # noqa: E402

KS = range(2, 16)


def measured(spark, name, run, log_features, reference):
    """Run one variant (returns {k: centres}); its jobs, seconds and cost ratios as a table row."""
    jobs, started = jvm.jobs_started(spark.sparkContext), time.monotonic()
    centres = run()
    seconds, jobs = time.monotonic() - started, jvm.jobs_started(spark.sparkContext) - jobs
    ratios = []
    for k in KS:
        distances = ((log_features[:, None, :] - np.asarray(centres[k])[None]) ** 2).sum(axis=2)
        ratios.append(distances.min(axis=1).sum() / reference[k])
    worst = int(np.argmax(ratios))
    row = f"| {name} | {jobs:,} | {seconds:,.1f} | {ratios[worst]:.4f} (k={KS[worst]}) | {np.mean(ratios):.4f} |"
    print(row, flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(REPO / "data" / "sample" / "orders"))
    parser.add_argument("--old", action="store_true", help="also the pre-0.2 sweep (about 3 minutes)")
    parser.add_argument("--only", help="comma-separated variant numbers (1 = the default) to run")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("segspark-sweep-directions").getOrCreate()
    sc = spark.sparkContext
    settings = model.KMeansSettings.from_settings(load_settings()["model"])
    source_format = workflow.load_source_format("shopify")
    accounted = workflow.accounted_customers(
        spark, args.input, source_format, f"/tmp/segspark-bench-q-{time.time_ns()}"
    )
    customers, count = accounted.customers, accounted.counts.customers
    log_features = np.array(customers.select(*LOG_FEATURE_COLUMNS).collect(), dtype=float)
    reference = {k: SklearnKMeans(n_clusters=k, n_init=10, random_state=0).fit(log_features).inertia_ for k in KS}
    print(f"{count:,} customers; reference: scikit-learn k-means++, n_init=10, on all of them\n")
    print("| variant | Spark jobs | seconds | worst k cost ratio | mean ratio |\n|---|---:|---:|---:|---:|")

    def seeded(variant: model.KMeansSettings, warm: bool = False):
        def run():
            training = model.training_set(customers, count, variant)
            vectors = jvm.vector_rdd(model.assembler().transform(training.vectors), model.FEATURES_VECTOR)
            try:
                if not warm:
                    seeds = {k: model.seed_centres(training.sample, k, variant) for k in KS}
                    with ThreadPoolExecutor(variant.parallel_fits) as pool:
                        fits = pool.map(
                            lambda k: (k, jvm.lloyd(sc, vectors, seeds[k], variant.max_iter, variant.tol)), KS
                        )
                        return {k: fit[0] for k, fit in fits}
                # warm start: k + 1 from k's refined centres plus the sample point farthest from them
                found, previous = {}, model.seed_centres(training.sample, 2, variant)
                for k in KS:
                    found[k] = jvm.lloyd(sc, vectors, previous, variant.max_iter, variant.tol)[0]
                    gaps = ((training.sample[:, None, :] - np.asarray(found[k])[None]) ** 2).sum(axis=2).min(axis=1)
                    previous = [*found[k], list(training.sample[int(gaps.argmax())])]
                return found
            finally:
                vectors.unpersist(False)

        return run

    def spark_ml(restarts: int, max_iter: int = 50, tol: float = 1e-6):
        def run():
            points = model.training_vectors(model.training_points(customers, count, settings)[0], 1)
            vectors = model.assembler().transform(points).persist()

            def fit(job):
                k, restart = job
                fitted = MLKMeans(k=k, seed=settings.seed + restart, maxIter=max_iter, tol=tol).fit(vectors)
                return k, fitted.summary.trainingCost, [list(c) for c in fitted.clusterCenters()]

            with ThreadPoolExecutor(4) as pool:
                fits = list(pool.map(fit, [(k, r) for k in KS for r in range(restarts)]))
            vectors.unpersist()
            return {k: min((f for f in fits if f[0] == k), key=lambda f: f[1])[2] for k in KS}

        return run

    rows = []
    only = set(args.only.split(",")) if args.only else None
    variants = [
        ("default (conf/segspark.toml)", seeded(settings)),
        ("seeds on 5,000", seeded(replace(settings, seeding_sample=5_000))),
        ("seeds on 10,000", seeded(replace(settings, seeding_sample=10_000))),
        ("seeds on 20,000, n_init 3", seeded(replace(settings, restarts=3))),
        ("seeds on 20,000, n_init 1", seeded(replace(settings, restarts=1))),
        ("Lloyd at most 5 iterations", seeded(replace(settings, max_iter=5))),
        ("Lloyd at most 10 iterations", seeded(replace(settings, max_iter=10))),
        ("Lloyd at most 20 iterations, tol 1e-4", seeded(replace(settings, max_iter=20, tol=1e-4))),
        ("Lloyd at most 50 iterations, tol 1e-6", seeded(replace(settings, max_iter=50, tol=1e-6))),
        ("1 thread", seeded(replace(settings, parallel_fits=1))),
        ("2 threads", seeded(replace(settings, parallel_fits=2))),
        ("8 threads", seeded(replace(settings, parallel_fits=8))),
        ("warm start k -> k + 1 (sequential)", seeded(settings, warm=True)),
        ("spark.ml k-means||, 1 fit per k, 50 it / tol 1e-6", spark_ml(1)),
        ("seeds on 25,000", seeded(replace(settings, seeding_sample=25_000))),
        ("seeds on 30,000", seeded(replace(settings, seeding_sample=30_000))),
        ("Lloyd tol 1e-2", seeded(replace(settings, tol=1e-2))),
        ("Lloyd tol 5e-3", seeded(replace(settings, tol=5e-3))),
        ("Lloyd tol 3e-3", seeded(replace(settings, tol=3e-3))),
        ("Lloyd tol 2e-3", seeded(replace(settings, tol=2e-3))),
    ]
    if args.old:
        variants.append(("spark.ml k-means||, best of 8 restarts (the old default)", spark_ml(8)))
    for number, (name, run) in enumerate(variants, start=1):
        if only and str(number) not in only:
            continue
        rows.append(measured(spark, name, run, log_features, reference))
    accounted.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
