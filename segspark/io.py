"""The edge where paths meet DataFrames: reading order files, writing a run, publishing it.

This module is the one place in `segspark/` that knows about paths and the SparkSession, so that
every job reads and publishes the same way; the jobs call it, the pure modules never do.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import uuid
from datetime import datetime, timezone
from urllib.parse import urlparse

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.errors import InputError, UsageError
from segspark.ingest import (
    CORRUPT_RECORD_COLUMN,
    SOURCE_FILE_COLUMN,
    check_csv_header,
    check_source_columns,
    conform_to_schema,
    raw_csv_schema,
)

#: Files with these endings are read as Parquet; anything else as CSV (gzip and other Hadoop
#: codecs are decompressed by their ending, e.g. orders.csv.gz).
PARQUET_ENDINGS = (".parquet", ".parq")


def is_local(path: str) -> bool:
    """True for plain paths and file: URIs, which Python can write atomically itself."""
    return urlparse(path).scheme in ("", "file")


def local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file:") else path


def check_output_location(input_path: str, output_dir: str) -> None:
    """Refuse, before any Spark work, an output that could delete or mix with the input."""
    if ".." in output_dir.replace("\\", "/").split("/"):
        raise UsageError(f"--output {output_dir!r} contains '..'; give a plain path")
    out = posixpath.normpath(os.path.abspath(local_path(output_dir))) if is_local(output_dir) else output_dir
    if out == "/":
        raise UsageError("--output is '/'; give a folder of its own")
    if is_local(input_path) and is_local(output_dir):
        source = posixpath.normpath(os.path.abspath(local_path(input_path.split("*")[0])))
        if out == source or out.startswith(source.rstrip("/") + "/"):
            raise UsageError(f"--output {output_dir!r} is inside --input {input_path!r}; choose another folder")


def list_input_files(spark: SparkSession, path: str) -> list[str]:
    """The data files behind a file, folder or glob, as Spark will read them."""
    try:
        files = spark.read.format("binaryFile").load(path).select("path").inputFiles()
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error):
            raise InputError(f"{path}: input not found") from None
        raise
    return sorted(files)


def read_first_line(spark: SparkSession, file: str) -> str | None:
    """The first line of a (possibly compressed) file, read on the driver through Hadoop's FS."""
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop_path = jvm.org.apache.hadoop.fs.Path(file)
    stream = hadoop_path.getFileSystem(hadoop_conf).open(hadoop_path)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(hadoop_conf).getCodec(hadoop_path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        return reader.readLine()
    finally:
        reader.close()


def read_order_lines(
    spark: SparkSession,
    path: str,
    schema: T.StructType,
    required: tuple[str, ...],
    date_format: str,
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss",
) -> DataFrame:
    """Order lines from CSV or Parquet, typed, each with `source_file` and quarantine columns.

    Persist the result before counting quarantined lines: Spark refuses (or, pruned, miscounts)
    queries that need only the CSV corrupt-record column of an unparsed file.
    """
    files = list_input_files(spark, path)
    if not files:
        raise InputError(f"{path}: no files to read")
    parquet = [f for f in files if f.endswith(PARQUET_ENDINGS)]
    if parquet and len(parquet) != len(files):
        other = next(f for f in files if not f.endswith(PARQUET_ENDINGS))
        raise InputError(f"{path}: mixes Parquet and other files ({other}); give one kind")
    if parquet:
        source = spark.read.parquet(*files)
        check_source_columns(source.schema, schema, path)
    else:
        for file in files:
            check_csv_header(read_first_line(spark, file), schema, file)
        # With column pruning Spark parses only the columns a query needs and then cannot see a
        # line of the wrong width; every count of ours must see it, so parse whole lines.
        spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
        source = (
            spark.read.schema(raw_csv_schema(schema))
            .options(
                header=True,
                enforceSchema=False,  # a second guard: Spark re-checks every file's header
                mode="PERMISSIVE",
                columnNameOfCorruptRecord=CORRUPT_RECORD_COLUMN,
                escape='"',  # RFC 4180: a quote inside a quoted field is doubled, as exports do
            )
            .csv(files)
        )
    source = source.withColumn(SOURCE_FILE_COLUMN, F.col("_metadata.file_path"))
    return conform_to_schema(source, schema, required, date_format, timestamp_format)


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file so it appears whole or not at all (temporary name, then rename)."""
    if is_local(path):
        target = local_path(path)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        temporary = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)
        return
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    target = jvm.org.apache.hadoop.fs.Path(path)
    temporary = jvm.org.apache.hadoop.fs.Path(f"{path}.tmp-{uuid.uuid4().hex[:8]}")
    fs = target.getFileSystem(hadoop_conf)
    stream = fs.create(temporary, True)
    stream.write(bytearray(text.encode("utf-8")))
    stream.close()
    # Hadoop's rename does not replace; on object stores neither step is atomic anyway.
    fs.delete(target, False)
    if not fs.rename(temporary, target):
        raise OSError(f"could not publish {path}")


def write_json(spark: SparkSession, path: str, payload: dict) -> None:
    write_text(spark, path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def run_path(output_dir: str, run_id: str, *parts: str) -> str:
    return posixpath.join(output_dir.rstrip("/"), "runs", run_id, *parts)


def publish(spark: SparkSession, output_dir: str, run_id: str) -> None:
    """Point <output>/LATEST at a run whose files are all written."""
    write_text(spark, posixpath.join(output_dir.rstrip("/"), "LATEST"), run_id + "\n")


def path_exists(spark: SparkSession, path: str) -> bool:
    if is_local(path):
        return os.path.exists(local_path(path))
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hadoop_path)


def write_order_lines(lines: DataFrame, path: str, file_format: str) -> None:
    """Write order lines as CSV (with a header, RFC 4180 quoting) or Parquet; never over a path.

    Spark writes into a temporary folder next to `path`, which is renamed into place only when the
    write job has committed, so an interrupted write leaves no half data set at `path`.
    """
    spark = lines.sparkSession
    if path_exists(spark, path):
        raise UsageError(f"{path} exists already; choose another path or remove it")
    temporary = f"{path.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    writer = lines.write.mode("errorifexists")
    if file_format == "csv":
        writer.options(header=True, escape='"').csv(temporary)
    elif file_format == "parquet":
        writer.parquet(temporary)
    else:
        raise UsageError(f"unknown file format {file_format!r}; use csv or parquet")
    if is_local(path):
        os.replace(local_path(temporary), local_path(path))
        return
    jvm = spark.sparkContext._jvm
    source = jvm.org.apache.hadoop.fs.Path(temporary)
    if not source.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).rename(
        source, jvm.org.apache.hadoop.fs.Path(path)
    ):
        raise OSError(f"could not move {temporary} to {path}")


def read_text(spark: SparkSession, path: str) -> str:
    """A small text file (a pointer, a metadata file) from a local or Hadoop path."""
    if is_local(path):
        with open(local_path(path), encoding="utf-8") as handle:
            return handle.read()
    return "\n".join(row["value"] for row in spark.read.text(path).collect())


MODEL_METADATA = "segspark-model.json"


def save_model(spark: SparkSession, model, path: str, metadata: dict) -> None:
    """The PipelineModel and its metadata, as one folder; the metadata file is written last."""
    model.write().save(path)
    write_model_metadata(spark, path, metadata)


def write_model_metadata(spark: SparkSession, path: str, metadata: dict) -> None:
    """segspark-model.json beside a saved PipelineModel: written last, it marks the folder complete."""
    write_json(spark, posixpath.join(path, MODEL_METADATA), metadata)


def resolve_model_dir(spark: SparkSession, path: str) -> str:
    """A model folder from itself, a run folder (…/model) or an output folder (LATEST's run)."""
    latest = posixpath.join(path.rstrip("/"), "LATEST")
    if path_exists(spark, latest):
        path = run_path(path, read_text(spark, latest).strip())
    if path_exists(spark, posixpath.join(path.rstrip("/"), "model", MODEL_METADATA)):
        path = posixpath.join(path.rstrip("/"), "model")
    if not path_exists(spark, posixpath.join(path.rstrip("/"), MODEL_METADATA)):
        raise InputError(f"{path}: no segspark model here (expected {MODEL_METADATA})")
    return path


def load_model(spark: SparkSession, path: str):
    """(PipelineModel, metadata) from a folder `resolve_model_dir` accepts."""
    from pyspark.ml import PipelineModel

    model_dir = resolve_model_dir(spark, path)
    metadata = json.loads(read_text(spark, posixpath.join(model_dir, MODEL_METADATA)))
    return PipelineModel.load(model_dir), metadata


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
