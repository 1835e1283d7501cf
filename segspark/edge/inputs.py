"""The edge's reads: checking input and output paths, and reading order files as typed lines.

Both jobs read through here, so scoring reads exactly as training did; the stages below the edge
never touch a path.
"""

from __future__ import annotations

import functools
import glob
import os
import re

from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from segspark import engine
from segspark.edge import paths
from segspark.edge.paths import Location, local_path
from segspark.errors import InputError, UsageError
from segspark.orders.formats import SourceFormat, used_columns
from segspark.orders.ingest import (
    CORRUPT_RECORD_COLUMN,
    SOURCE_FILE_COLUMN,
    check_csv_header,
    check_source_columns,
    conform_to_schema,
    typed_csv_schema,
)

#: Files with these endings are read as Parquet; anything else as CSV (gzip and other Hadoop
#: codecs are decompressed by their ending, e.g. orders.csv.gz).
PARQUET_ENDINGS = (".parquet", ".parq")
#: How a catalog table is named where a run names its input (summary.json's `input`, messages):
#: `table:db.orders`. No Hadoop filesystem has this scheme, so it never reads as a path.
TABLE_PREFIX = "table:"


#: Where a table input read a table's earlier state: `table:db.orders VERSION AS OF 12`.
_AS_OF = re.compile(r" ((?:VERSION|TIMESTAMP) AS OF .+)$")


def table_source(name: str, as_of: str | None = None) -> str:
    """The input of a run that reads the catalog table `name` (`--input-table`), as of a version or
    time when `as_of` (SQL's clause, segspark.edge.lakehouse.as_of_clause) says so."""
    return TABLE_PREFIX + name + (f" {as_of}" if as_of else "")


def table_name(source: str) -> str | None:
    """The catalog table an input names, or None for a path."""
    if not source.startswith(TABLE_PREFIX):
        return None
    return _AS_OF.sub("", source[len(TABLE_PREFIX) :])


def table_as_of(source: str) -> str | None:
    """The time travel clause of a table input (`VERSION AS OF 12`), or None: the table as it is."""
    found = _AS_OF.search(source) if source.startswith(TABLE_PREFIX) else None
    return found.group(1) if found else None


def _glob_free(path: str) -> str:
    """The part of an input path before its first glob character: the folder a glob reads under."""
    cut = min((path.find(mark) for mark in "*?[{" if mark in path), default=len(path))
    return path[:cut] if cut == len(path) else path[: path.rfind("/", 0, cut) + 1] or "."


def check_output_location(input_path: str, output_dir: str) -> None:
    """Refuse an output that could delete or mix with the input: equal to it, inside it (also
    through a symbolic link, for local paths), a filesystem's root, or a path with '..'.

    The jobs call it twice: before Spark starts, with the paths as given (a path without a scheme
    is then compared only with another without one: both are on the default filesystem), and once
    Spark is up with both qualified by Hadoop, so `/in` and `hdfs://namenode/in` are one place.
    """
    if ".." in output_dir.replace("\\", "/").split("/"):
        raise UsageError(f"--output {output_dir!r} contains '..'; give a plain path")
    out = Location.of(output_dir)
    if out.path == "/":
        raise UsageError(f"--output {output_dir!r} is the root of its filesystem; give a folder of its own")
    if table_name(input_path) is not None:
        return  # a catalog table: no path to be inside of
    if (paths.scheme(input_path) == "") != (paths.scheme(output_dir) == ""):
        return  # one on the default filesystem, which is not known yet: compared once qualified
    if Location.of(_glob_free(input_path)).contains(out):
        raise UsageError(f"--output {output_dir!r} is inside --input {input_path!r}; choose another folder")


def check_input_exists(path: str) -> None:
    """Refuse, before Spark starts, a `file:` input path or glob that names nothing. A path without
    a scheme is on the session's default filesystem (HDFS on most clusters), known only once Spark
    is up: it is checked when its files are listed."""
    if paths.scheme(path) != "file" or os.environ.get("SPARK_REMOTE"):  # a Connect server's disk is not ours
        return
    target = local_path(path)
    found = glob.glob(target) if any(mark in target for mark in "*?[") else os.path.exists(target)
    if not found:
        raise InputError(f"{path}: input not found")


def list_input_files(spark: SparkSession, path: str) -> list[str]:
    """The data files behind a file, folder or glob, as Spark lists them, as plain paths (Spark
    gives them URL-encoded)."""
    try:
        files = spark.read.format("binaryFile").load(path).select("path").inputFiles()
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error):
            raise InputError(f"{path}: input not found") from None
        raise
    return sorted(paths.decoded(file) for file in files)


def _java_error() -> type[Exception]:
    """py4j's error type where py4j is installed (a thin Spark Connect client has none)."""
    try:
        from py4j.protocol import Py4JJavaError
    except ImportError:
        return PySparkException
    return Py4JJavaError


def read_first_line(spark: SparkSession, file: str) -> str | None:
    """The first line of a (possibly compressed) file, read on the driver through Hadoop's FS (over
    Spark Connect, Spark's text reader: the first split of one file starts at its first line)."""
    if engine.is_connect(spark):
        rows = spark.read.text(paths.glob_escaped(file)).limit(1).collect()
        return rows[0][0] if rows else None
    jvm = spark.sparkContext._jvm
    hadoop_path, filesystem = paths.hadoop(spark, file)
    stream = filesystem.open(hadoop_path)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(filesystem.getConf()).getCodec(hadoop_path)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        return reader.readLine()
    finally:
        reader.close()


def read_order_lines(spark: SparkSession, path: str, source_format: SourceFormat) -> DataFrame:
    """Order lines from CSV, Parquet or a catalog table (`table_source`), typed, each with
    `source_file` and quarantine columns.

    Persist the result before counting quarantined lines: Spark refuses (or, pruned, miscounts)
    queries that need only the CSV corrupt-record column of an unparsed file.
    """
    table = table_name(path)
    if table is not None:
        return _read_table(spark, table, source_format, table_as_of(path))
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
    # Spark's reader types every line it can; a line it marks corrupt is typed again from its text,
    # value by value, in conform_to_schema (with the same delimiter and quoting).
    source = (
        spark.read.schema(typed_csv_schema(schema))
        .options(
            header=True,
            sep=source_format.delimiter,
            enforceSchema=False,  # a second guard: Spark re-checks every file's header
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD_COLUMN,
            escape='"',  # RFC 4180: a quote inside a quoted field is doubled, as exports do
            dateFormat=source_format.date_format,
            timestampFormat=source_format.timestamp_format,
        )
        .csv([paths.glob_escaped(file) for file in files])
    )
    return _conformed(source, source_format)


def _read_table(spark: SparkSession, name: str, source_format: SourceFormat, as_of: str | None = None) -> DataFrame:
    """A catalog table's rows as order lines (as of a version or time where `as_of` says): its columns
    checked as a Parquet file's are (by name, lossless widening, text typed value by value), each
    row's `source_file` the table's name."""
    try:
        table = spark.sql(f"SELECT * FROM {name} {as_of}") if as_of else spark.table(name)
    except AnalysisException as error:
        if "TABLE_OR_VIEW_NOT_FOUND" in str(error) or "SCHEMA_NOT_FOUND" in str(error):
            catalog = spark.conf.get("spark.sql.catalogImplementation", "in-memory")
            raise InputError(f"--input-table {name}: no such table in the session's catalog ({catalog})") from None
        if "PARSE_SYNTAX_ERROR" in str(error) or "INVALID_IDENTIFIER" in str(error):
            raise InputError(f"--input-table {name!r}: not a table name (db.table or catalog.db.table)") from None
        if as_of:
            first = str(error).strip().splitlines()[0]
            raise InputError(f"--input-table {name} {as_of}: the table cannot be read so ({first})") from None
        raise
    except (_java_error(), PySparkException) as error:  # a format's own: Iceberg's unknown snapshot or tag
        if not as_of:
            raise
        first = str(error).strip().splitlines()[0]
        raise InputError(f"--input-table {name} {as_of}: the table cannot be read so ({first})") from None
    table = _with_format_names(table, source_format, spark.conf.get("spark.sql.caseSensitive", "false"), name)
    check_source_columns(table.schema, source_format.schema, f"table {name}")
    return _conformed(table, source_format, F.lit(table_source(name)))


def _with_format_names(table: DataFrame, source_format: SourceFormat, case_sensitive: str, name: str) -> DataFrame:
    """The table's columns under the format's names where they differ only in case, as Spark itself
    resolves names (unless spark.sql.caseSensitive): Hive, Glue and Athena keep names lower-cased,
    so `invoiceno` is the Online Retail format's `InvoiceNo`. Two columns that both match are refused."""
    if case_sensitive.strip().lower() == "true":
        return table
    by_lower: dict[str, list[str]] = {}
    for column in table.columns:
        by_lower.setdefault(column.lower(), []).append(column)
    renamed = {}
    for wanted in source_format.schema.fieldNames():
        found = by_lower.get(wanted.lower(), [])
        if len(found) > 1:
            raise InputError(
                f"--input-table {name}: columns {', '.join(map(repr, found))} all match the format's {wanted!r} "
                "(names are compared without regard to case, as Spark resolves them); keep one"
            )
        if found and found[0] != wanted:
            renamed[found[0]] = wanted
    return table.withColumnsRenamed(renamed) if renamed else table


def _conformed(source: DataFrame, source_format: SourceFormat, source_file: Column | None = None) -> DataFrame:
    # _metadata.file_path is URL-encoded (a space is %20); a '+' in it is a plus, not a space.
    if source_file is None:
        source_file = F.url_decode(F.regexp_replace(F.col("_metadata.file_path"), r"\+", "%2B"))
    source = source.withColumn(SOURCE_FILE_COLUMN, source_file)
    return conform_to_schema(
        source,
        source_format.schema,
        source_format.required,
        source_format.date_format,
        source_format.timestamp_format,
        used=used_columns(source_format),
        delimiter=source_format.delimiter,
    )


def _read_parquet(spark: SparkSession, files: list[str], source_format: SourceFormat) -> DataFrame:
    """Parquet files checked one by one (their own footer, read on the driver: the session's segspark.engine), read in
    groups of one schema.

    Spark reads a set of Parquet files with the schema of one of them: a file without a column
    would read as nulls, and one with another type would fail mid-job. Each file's columns are
    checked against the format, naming the file; files that share a schema are typed together,
    and the groups are stacked.
    """
    groups: dict[str, list[str]] = {}
    reader = engine.of(spark)
    for file in files:
        try:
            file_schema = reader.parquet_schema(file)
        except (_java_error(), PySparkException) as error:
            detail = error.java_exception.toString() if hasattr(error, "java_exception") else str(error)
            raise InputError(f"{file}: not a readable Parquet file ({detail.splitlines()[0]})") from None
        check_source_columns(file_schema, source_format.schema, file)
        groups.setdefault(file_schema.json(), []).append(file)
    frames = [
        _conformed(spark.read.parquet(*[paths.glob_escaped(file) for file in group]), source_format)
        for group in groups.values()
    ]
    return functools.reduce(DataFrame.unionByName, frames)
