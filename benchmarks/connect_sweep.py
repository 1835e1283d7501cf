"""The elbow's fits over Spark Connect against classic mode, on one input's customers.

    ./spark-submit.sh benchmarks/connect_sweep.py [--input data/sample/orders]

Classic mode (this process: MLlib's Lloyd through py4j) and Spark Connect (a child process, a thin
client of a local Connect server started here: Lloyd's iterations as DataFrame aggregations,
segspark.connect) fit k = 2..15 from the same k-means++ seeds on the same training points. Prints
each k's training cost in both modes and their ratio, iterations, and the seconds of the whole set
of fits in each (seeding included in both; the evaluation passes, the same DataFrame code in both
modes, are left out). docs/benchmarks.md has a run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import SparkSession  # noqa: E402

from segspark import engine  # noqa: E402
from segspark.clustering import model  # noqa: E402
from segspark.config import load_settings  # noqa: E402
from segspark.edge import workflow  # noqa: E402
from segspark.schemas import LOG_FEATURE_COLUMNS  # noqa: E402
from tests.connect import server  # noqa: E402

KS = list(range(2, 16))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(REPO / "data" / "sample" / "orders"))
    args = parser.parse_args()
    spark = SparkSession.builder.appName("segspark-connect-sweep").getOrCreate()
    settings = model.KMeansSettings.from_settings(load_settings()["model"])
    folder = Path(tempfile.mkdtemp(prefix="segspark-connect-bench-"))
    accounted = workflow.accounted_customers(
        spark, args.input, workflow.load_source_format("shopify"), f"file://{folder}/quarantine"
    )
    count = accounted.counts.customers
    customers = accounted.customers.select("customer_id", *LOG_FEATURE_COLUMNS)
    customers.write.parquet(f"file://{folder}/customers")
    customers = spark.read.parquet(f"file://{folder}/customers").cache()
    customers.count()

    training = model.training_set(customers, count, settings)
    started = time.monotonic()
    classic = model.fit_ks(engine.of(spark), training, KS, settings)
    classic_seconds = time.monotonic() - started

    connect_server = server.start(folder)
    try:
        request = {
            "customers": f"file://{folder}/customers", "customers_count": count, "columns": list(LOG_FEATURE_COLUMNS),
            "settings": {name: getattr(settings, name) for name in model.KMeansSettings.__dataclass_fields__},
            "ks": KS,
        }  # fmt: skip
        (folder / "request.json").write_text(json.dumps(request))
        # a thin client's environment: not spark-submit's (its master would clash with the remote)
        client_env = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_"))}
        client_env.pop("MASTER", None)
        client_env["PYTHONPATH"] = str(REPO)
        wall = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "tests.connect.runner", connect_server.url, "sweep",
             str(folder / "request.json"), str(folder / "answer.json")],
            cwd=REPO, check=True, env=client_env,
        )  # fmt: skip
        client_wall = time.monotonic() - wall
    finally:
        connect_server.stop()
    answer = json.loads((folder / "answer.json").read_text())
    print(
        f"\n{count:,} customers; k = {KS[0]}..{KS[-1]} from the same k-means++ seeds ({settings.restarts} restarts)\n"
    )
    print("| k | classic cost | Connect cost | Connect / classic | iterations (classic, Connect) |")
    print("|---:|---:|---:|---:|---|")
    ratios = []
    for k in KS:
        fit, over = classic[k], answer["fits"][str(k)]
        ratios.append(over["cost"] / fit.training_cost)
        print(
            f"| {k} | {fit.training_cost:,.4f} | {over['cost']:,.4f} | {ratios[-1]:.9f} | {fit.iterations}, {over['iterations']} |"
        )
    print(f"\nfits k = 2..15: classic {classic_seconds:.1f} s, Connect {answer['seconds']:.1f} s "
          f"({answer['seconds'] / classic_seconds:.2f} x); the Connect client process {client_wall:.1f} s wall in all")  # fmt: skip
    print(f"worst cost ratio {max(ratios):.9f}, best {min(ratios):.9f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
