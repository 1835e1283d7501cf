"""The edge where paths meet DataFrames: reading order files, writing a run, publishing it.

This module is the one place in `segspark/` that knows about paths and the SparkSession, so that
every job reads and publishes the same way; the jobs call it, the pure modules never do.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urlparse

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark import jvm
from segspark.errors import InputError, UsageError
from segspark.formats import SourceFormat
from segspark.ingest import (
    CORRUPT_RECORD_COLUMN,
    SOURCE_FILE_COLUMN,
    check_csv_header,
    check_source_columns,
    conform_to_schema,
    raw_csv_schema,
)

#: Object stores: a file is written whole or not at all, and a rename is a copy.
OBJECT_STORES = ("s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos", "cosn", "obs")

#: Files with these endings are read as Parquet; anything else as CSV (gzip and other Hadoop
#: codecs are decompressed by their ending, e.g. orders.csv.gz).
PARQUET_ENDINGS = (".parquet", ".parq")


def is_local(path: str) -> bool:
    """True for plain paths and file: URIs, which Python can write atomically itself."""
    return urlparse(path).scheme in ("", "file")


def local_path(path: str) -> str:
    return urlparse(path).path if path.startswith("file:") else path


@dataclass(frozen=True)
class Location:
    """A path as a filesystem sees it: scheme, authority ('' for the default) and a normalised absolute path."""

    scheme: str
    authority: str
    path: str

    @classmethod
    def of(cls, path: str) -> "Location":
        parsed = urlparse(path)
        if parsed.scheme in ("", "file"):
            return cls("file", "", posixpath.normpath(os.path.abspath(local_path(path))))
        return cls(parsed.scheme.lower(), parsed.netloc, posixpath.normpath("/" + parsed.path.lstrip("/")))

    def contains(self, other: "Location") -> bool:
        """True when `other` is this location or inside it (an empty authority may be any)."""
        same_filesystem = self.scheme == other.scheme and (
            self.authority == other.authority or not self.authority or not other.authority
        )
        return same_filesystem and (other.path == self.path or other.path.startswith(self.path.rstrip("/") + "/"))


def _glob_free(path: str) -> str:
    """The part of an input path before its first glob character: the folder a glob reads under."""
    cut = min((path.find(mark) for mark in "*?[{" if mark in path), default=len(path))
    return path[:cut] if cut == len(path) else path[: path.rfind("/", 0, cut) + 1] or "."


def check_output_location(input_path: str, output_dir: str, qualify: Callable[[str], str] = lambda path: path) -> None:
    """Refuse an output that could delete or mix with the input: equal to it, inside it, a
    filesystem's root, or a path with '..'. Local paths and URIs of any scheme alike; `qualify`
    (Hadoop's FileSystem.makeQualified, once Spark is up) resolves paths relative to the
    default filesystem, so `/in` and `hdfs://namenode/in` are the same place."""
    if ".." in output_dir.replace("\\", "/").split("/"):
        raise UsageError(f"--output {output_dir!r} contains '..'; give a plain path")
    out = Location.of(qualify(output_dir))
    if out.path == "/":
        raise UsageError(f"--output {output_dir!r} is the root of its filesystem; give a folder of its own")
    if Location.of(qualify(_glob_free(input_path))).contains(out):
        raise UsageError(f"--output {output_dir!r} is inside --input {input_path!r}; choose another folder")


def _hadoop_conf(spark: SparkSession):
    return spark.sparkContext._jsc.hadoopConfiguration()


def _hadoop(spark: SparkSession, path: str):
    """(Hadoop Path, its FileSystem) for a path of any scheme the session's Hadoop reaches."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(_hadoop_conf(spark))


def qualified(spark: SparkSession, path: str) -> str:
    """`path` as Hadoop's FileSystem qualifies it (scheme and authority of the default filesystem
    for a bare path); the path as given where its filesystem cannot be reached from here."""
    try:
        hadoop_path, filesystem = _hadoop(spark, path)
        return str(filesystem.makeQualified(hadoop_path).toString())
    except Exception:  # noqa: BLE001 - e.g. hdfs:/// without a namenode: compare as written
        return path


def check_input_exists(path: str) -> None:
    """Refuse, before Spark starts, a local input path or glob that names nothing (others: at listing)."""
    if not is_local(path):
        return
    target = local_path(path)
    found = glob.glob(target) if any(mark in target for mark in "*?[") else os.path.exists(target)
    if not found:
        raise InputError(f"{path}: input not found")


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
    hadoop_path, filesystem = _hadoop(spark, file)
    stream = filesystem.open(hadoop_path)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(_hadoop_conf(spark)).getCodec(hadoop_path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        return reader.readLine()
    finally:
        reader.close()


def read_order_lines(spark: SparkSession, path: str, source_format: SourceFormat) -> DataFrame:
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
        return _read_parquet(spark, files, source_format)
    schema = source_format.schema
    for file in files:
        check_csv_header(read_first_line(spark, file), schema, file, source_format.delimiter)
    # With column pruning Spark parses only the columns a query needs and then cannot see a
    # line of the wrong width; every count of ours must see it, so parse whole lines.
    spark.conf.set("spark.sql.csv.parser.columnPruning.enabled", "false")
    source = (
        spark.read.schema(raw_csv_schema(schema))
        .options(
            header=True,
            sep=source_format.delimiter,
            enforceSchema=False,  # a second guard: Spark re-checks every file's header
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD_COLUMN,
            escape='"',  # RFC 4180: a quote inside a quoted field is doubled, as exports do
        )
        .csv(files)
    )
    return _conformed(source, source_format)


def _conformed(source: DataFrame, source_format: SourceFormat) -> DataFrame:
    source = source.withColumn(SOURCE_FILE_COLUMN, F.col("_metadata.file_path"))
    return conform_to_schema(
        source, source_format.schema, source_format.required, source_format.date_format, source_format.timestamp_format
    )


def _read_parquet(spark: SparkSession, files: list[str], source_format: SourceFormat) -> DataFrame:
    """Parquet files checked one by one (their own footer, read on the driver: segspark.jvm), read in
    groups of one schema.

    Spark reads a set of Parquet files with the schema of one of them: a file without a column
    would read as nulls, and one with another type would fail mid-job. Each file's columns are
    checked against the format, naming the file; files that share a schema are typed together,
    and the groups are stacked.
    """
    groups: dict[str, list[str]] = {}
    for file in files:
        file_schema = jvm.parquet_schema(spark, file)
        check_source_columns(file_schema, source_format.schema, file)
        groups.setdefault(file_schema.json(), []).append(file)
    frames = [_conformed(spark.read.parquet(*group), source_format) for group in groups.values()]
    return functools.reduce(DataFrame.unionByName, frames)


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file so that it appears whole or not at all, replacing any file there.

    Local (a local path, or a Hadoop path that resolves to one, e.g. a viewfs mount of a local
    folder): a temporary name, then os.replace (atomic). Object stores (S3, GCS, Azure, ...: no
    atomic rename, a rename is a copy) write the file in place, since a new object replaces the
    old one whole when its upload completes. Other Hadoop filesystems: a temporary name, then
    FileContext's rename with OVERWRITE, which HDFS does in one step (its NameNode also orders two
    writers at once: the last one wins). Where a filesystem has no such step, Hadoop deletes the
    old file and then renames, so for a moment there is none: readers of LATEST then take the
    newest complete run (`current_run_id`).
    """
    if not is_local(path):
        hadoop_target, filesystem = _hadoop(spark, path)
        if urlparse(path).scheme.lower() in OBJECT_STORES:
            _write_bytes(filesystem, hadoop_target, bytearray(text.encode("utf-8")))
            return
        path = _local_file(hadoop_target, filesystem) or path
    if is_local(path):
        target = local_path(path)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        temporary = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)
        return
    jvm = spark.sparkContext._jvm
    temporary = jvm.org.apache.hadoop.fs.Path(f"{path}.tmp-{uuid.uuid4().hex[:8]}")
    _write_bytes(filesystem, temporary, bytearray(text.encode("utf-8")))
    overwrite = spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    overwrite[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    file_context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(hadoop_target.toUri(), _hadoop_conf(spark))
    _rename_over(file_context, temporary, hadoop_target, overwrite)


def _local_file(target, filesystem) -> str | None:
    """The local file a Hadoop path names (a viewfs mount of a local folder), or None.

    Written through Hadoop, a local file gets a checksum file beside it that a rename moves in a
    second step; two writers at once can then leave one's data with the other's checksum, which
    Hadoop refuses to read. So a pointer that is really local is written as a local file.
    """
    parent = target.getParent()
    filesystem.mkdirs(parent)
    resolved = filesystem.resolvePath(parent).toUri()
    return posixpath.join(str(resolved.getPath()), target.getName()) if resolved.getScheme() == "file" else None


def _write_bytes(filesystem, path, data: bytearray) -> None:
    stream = filesystem.create(path, True)
    try:
        stream.write(data)
    finally:
        stream.close()


def _rename_over(file_context, temporary, target, overwrite) -> None:
    """The one step that replaces `target` (a seam the tests use to stop a publish just before it)."""
    file_context.rename(temporary, target, overwrite)


def write_json(spark: SparkSession, path: str, payload: dict) -> None:
    write_text(spark, path, json.dumps(payload, indent=2, sort_keys=False) + "\n")


def run_path(output_dir: str, run_id: str, *parts: str) -> str:
    return posixpath.join(output_dir.rstrip("/"), "runs", run_id, *parts)


def publish(spark: SparkSession, output_dir: str, run_id: str) -> None:
    """Point <output>/LATEST at a run whose files are all written."""
    write_text(spark, posixpath.join(output_dir.rstrip("/"), "LATEST"), run_id + "\n")


def current_run_id(spark: SparkSession, output_dir: str) -> str | None:
    """The run an output folder's LATEST names, or None in a folder never published to.

    Where LATEST is missing but runs were published (a publish caught between Hadoop's delete and
    rename on a filesystem without an atomic rename-over, or killed there), the newest run with a
    summary.json: that file is written just before publishing, so the run is complete.
    """
    base = output_dir.rstrip("/")
    try:
        return read_text(spark, posixpath.join(base, "LATEST")).strip()
    except (FileNotFoundError, Py4JJavaError) as error:
        if isinstance(error, Py4JJavaError) and "FileNotFoundException" not in error.java_exception.getClass().getName():
            raise
    for run_id in list_names(spark, posixpath.join(base, "runs"))[::-1]:  # run ids sort by start time
        if path_exists(spark, run_path(base, run_id, "summary.json")):
            return run_id
    return None


def path_exists(spark: SparkSession, path: str) -> bool:
    if is_local(path):
        return os.path.exists(local_path(path))
    hadoop_path, filesystem = _hadoop(spark, path)
    return filesystem.exists(hadoop_path)


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
    source, filesystem = _hadoop(spark, temporary)
    if not filesystem.rename(source, _hadoop(spark, path)[0]):
        raise OSError(f"could not move {temporary} to {path}")


def read_text(spark: SparkSession, path: str) -> str:
    """A small text file (a pointer, a metadata file) from a local or Hadoop path (no Spark job)."""
    if is_local(path):
        with open(local_path(path), encoding="utf-8") as handle:
            return handle.read()
    hadoop_path, filesystem = _hadoop(spark, path)
    stream = filesystem.open(hadoop_path)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode("utf-8")
    finally:
        stream.close()


def list_names(spark: SparkSession, folder: str) -> list[str]:
    """The names of the entries of a folder (none if it does not exist), sorted."""
    if is_local(folder):
        target = local_path(folder)
        return sorted(os.listdir(target)) if os.path.isdir(target) else []
    hadoop_path, filesystem = _hadoop(spark, folder)
    if not filesystem.exists(hadoop_path):
        return []
    return sorted(str(status.getPath().getName()) for status in filesystem.listStatus(hadoop_path))


MODEL_METADATA = "segspark-model.json"


def write_model_metadata(spark: SparkSession, path: str, metadata: dict) -> None:
    """segspark-model.json beside a saved PipelineModel: written last, it marks the folder complete."""
    write_json(spark, posixpath.join(path, MODEL_METADATA), metadata)


def resolve_model_dir(spark: SparkSession, path: str) -> str:
    """A model folder from itself, a run folder (…/model) or an output folder: its LATEST run, or,
    where LATEST names a run without a model, the newest run that has one."""
    base = path.rstrip("/")
    for candidate in (base, posixpath.join(base, "model")):
        if path_exists(spark, posixpath.join(candidate, MODEL_METADATA)):
            return candidate
    current = current_run_id(spark, base)
    newest_first = list_names(spark, posixpath.join(base, "runs"))[::-1]  # run ids sort by start time
    for run_id in ([current] if current else []) + newest_first:
        model_dir = run_path(base, run_id, "model")
        if path_exists(spark, posixpath.join(model_dir, MODEL_METADATA)):
            return model_dir
    raise InputError(f"{path}: no segspark model here (expected {MODEL_METADATA}, or runs with one)")


def training_output(model_dir: str) -> str | None:
    """The output folder a model was published in (…/runs/<run_id>/model), if it was."""
    parts = model_dir.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-1] == "model" and parts[-3] == "runs":
        return "/".join(parts[:-3]) or "/"
    return None


def load_model(spark: SparkSession, path: str):
    """(PipelineModel, metadata) from a folder `resolve_model_dir` accepts."""
    from pyspark.ml import PipelineModel

    model_dir = resolve_model_dir(spark, path)
    return PipelineModel.load(model_dir), read_model_metadata(spark, model_dir)


def read_model_metadata(spark: SparkSession, model_dir: str) -> dict:
    """segspark-model.json of a model folder."""
    return json.loads(read_text(spark, posixpath.join(model_dir, MODEL_METADATA)))


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
