"""The edge's writes: order lines, JSON files, the model's metadata, PNG charts; and reading a model back.

Every write goes through `segspark.edge.paths` (one idea of a path, qualified by Hadoop), so a run's
files land together on whatever filesystem its output folder is.
"""

from __future__ import annotations

import json
import math
import os
import shutil

from pyspark.sql import DataFrame, SparkSession

from segspark.edge import paths
from segspark.edge.paths import is_local, local_path
from segspark.edge.runs import MODEL_METADATA, resolve_model_dir
from segspark.errors import UsageError


def write_json(spark: SparkSession, path: str, payload: dict) -> None:
    paths.write_text(spark, path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


#: customers/ gets one file per this many customers (at least one).
CUSTOMERS_PER_FILE = 1_000_000


def write_customers(customers: DataFrame, count: int, path: str) -> None:
    """A run's customers/: hash-partitioned by customer id into a file count fixed by the number of
    customers, each file sorted by id. A rerun on the same input writes the same files; no global
    sort (its sampling pass and range shuffle cost more than this at 10M customers)."""
    files = max(1, math.ceil(count / CUSTOMERS_PER_FILE))
    customers.repartition(files, "customer_id").sortWithinPartitions("customer_id").write.parquet(path)


def write_order_lines(lines: DataFrame, path: str, file_format: str) -> None:
    """Write order lines as CSV (with a header, RFC 4180 quoting) or Parquet; never over a path.

    Visible whole only (`paths.write_folder`): an interrupted write leaves no half data set at
    `path` (over Spark Connect, one without its `_SUCCESS`).
    """
    spark = lines.sparkSession
    if paths.exists(spark, path):
        raise UsageError(f"{path} exists already; choose another path or remove it")
    if file_format not in ("csv", "parquet"):
        raise UsageError(f"unknown file format {file_format!r}; use csv or parquet")

    def write(folder: str) -> None:
        writer = lines.write.mode("error")  # the name both classic and Connect writers take
        if file_format == "csv":
            writer.options(header=True, escape='"').csv(folder)
        else:
            writer.parquet(folder)

    paths.write_folder(spark, path, write)


def write_model_metadata(spark: SparkSession, path: str, metadata: dict) -> None:
    """segspark-model.json beside a saved PipelineModel: written last, it marks the folder complete."""
    write_json(spark, paths.join(path, MODEL_METADATA), metadata)


def load_model(spark: SparkSession, path: str):
    """(PipelineModel, metadata) from a folder `resolve_model_dir` accepts."""
    from pyspark.ml import PipelineModel

    model_dir = resolve_model_dir(spark, path)
    return PipelineModel.load(model_dir), read_model_metadata(spark, model_dir)


def read_model_metadata(spark: SparkSession, model_dir: str) -> dict:
    """segspark-model.json of a model folder."""
    return json.loads(paths.read_text(spark, paths.join(model_dir, MODEL_METADATA)))


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """A Chromium for kaleido and the browser test: $BROWSER_PATH, else the first on PATH."""
    configured = os.environ.get("BROWSER_PATH")
    if configured and os.path.exists(configured):
        return configured
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def write_pngs(figures: dict, folder: str) -> str:
    """Each figure as <folder>/<chart id>.png with kaleido and one Chromium; returns one line saying what happened.

    Without a Chromium (or off a local filesystem) nothing is written and the line says why:
    the PNGs are extras, report.html already holds every chart.
    """
    if not is_local(folder):
        return f"segment_customers: --png writes to a local folder only; PNGs skipped for {folder}"
    browser = find_chromium()
    if browser is None:
        return "segment_customers: no Chromium found (Debian: apt-get install chromium); PNGs skipped, report.html has every chart"
    import kaleido  # imported here: only --png needs it
    import plotly

    target = local_path(folder)
    os.makedirs(target, exist_ok=True)
    os.environ["BROWSER_PATH"] = browser
    plotly_js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    try:
        kaleido.write_fig_from_object_sync(
            [{"fig": figure, "path": os.path.join(target, f"{name}.png")} for name, figure in figures.items()],
            kopts={"mathjax": False, "plotlyjs": plotly_js},  # all local: no CDN request
        )
    except Exception as error:  # noqa: BLE001 - the PNGs are optional; the run goes on
        return f"segment_customers: PNG export with {browser} failed ({type(error).__name__}: {error}); PNGs skipped"
    return f"segment_customers: {len(figures)} PNG charts written to {folder} with {browser}"
