"""The console scripts of an installed segspark: the jobs in local mode, from any folder, without a
checkout (`pip install segspark-*.whl`, then `segspark-segment --input ... --output ...`).

A console script starts Spark's JVM itself, so what spark-submit.sh gives a run is set here before
it starts: the driver bound to loopback (SPARK_LOCAL_IP), the workers' Python (this one), and the
driver's heap from conf/spark-defaults.conf (PYSPARK_SUBMIT_ARGS; set it yourself for another, e.g.
"--driver-memory 8g pyspark-shell"). The rest is segspark.edge.session's, as in every form.
"""

from __future__ import annotations

import os
import sys

from segspark.edge import cli, session
from segspark.edge import generate as generate_job
from segspark.edge import publish as publish_job
from segspark.edge import score as score_job
from segspark.edge import segment as segment_job


def _local_spark() -> None:
    heap = session.file_defaults(everything=True).get("spark.driver.memory", "4g")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", f"--driver-memory {heap} pyspark-shell")


def segment() -> None:
    _local_spark()
    cli.run(segment_job.main, "segspark-segment")


def score() -> None:
    _local_spark()
    cli.run(score_job.main, "segspark-score")


def generate() -> None:
    _local_spark()
    cli.run(generate_job.main, "segspark-generate")


def publish() -> None:
    _local_spark()
    cli.run(publish_job.main, "segspark-publish")
