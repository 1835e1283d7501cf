"""A run published into catalog tables (`--publish-tables DATABASE`), beside its run folder.

    segspark_runs                one row per published run, written last
    segspark_customer_segments   per run and customer (partitioned by run_id)
    segspark_segments            per segment run and segment
    segspark_migrations          per refresh: from segment, to segment, customers
    segspark_current             a view: the customer segments of the newest segment run

Never half a result: a run's data rows are appended first and its `segspark_runs` row last, and
the view reads through `segspark_runs`, so a run killed in between is not current (its rows sit
under a run_id no `segspark_runs` row names). Nothing is written with overwrite: every write is
an append (`insertInto`) through Spark's catalog API, so a Delta or Iceberg catalog gives each
append its own transaction. The tables are created on first use, with the session's default
source (`spark.sql.sources.default`), and one of another shape is refused, naming the column,
before the run does any work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.clustering.segments import OUT_OF_RANGE, SEGMENT
from segspark.errors import InputError, UsageError
from segspark.report.profiles import ALL_SEGMENTS
from segspark.schemas import (
    CUSTOMER_SEGMENTS_TABLE,
    FEATURE_COLUMNS,
    MIGRATIONS_TABLE,
    RUNS_TABLE,
    SEGMENTS_TABLE,
)

RUNS = "segspark_runs"
CUSTOMER_SEGMENTS = "segspark_customer_segments"
SEGMENTS = "segspark_segments"
MIGRATIONS = "segspark_migrations"
CURRENT = "segspark_current"
#: Each table's schema and its partition columns.
TABLES: dict[str, tuple[T.StructType, tuple[str, ...]]] = {
    CUSTOMER_SEGMENTS: (CUSTOMER_SEGMENTS_TABLE, ("run_id",)),
    SEGMENTS: (SEGMENTS_TABLE, ()),
    MIGRATIONS: (MIGRATIONS_TABLE, ()),
    RUNS: (RUNS_TABLE, ()),
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def check_database_name(database: str) -> str:
    """`db` or `catalog.db`, plain identifiers (before Spark starts)."""
    if not _NAME.fullmatch(database):
        raise UsageError(f"--publish-tables {database!r}: give a database name, e.g. segspark or catalog.segspark")
    return database


@dataclass(frozen=True)
class Tables:
    """The database a run publishes into, its tables created and checked (`prepare`)."""

    database: str

    def name(self, table: str) -> str:
        return f"{self.database}.{table}"


def prepare(spark: SparkSession, database: str) -> Tables:
    """The database and its tables created where missing, each existing one checked against the
    shape segspark writes, and the view (re)defined: all before the run does any work."""
    if not spark.catalog.databaseExists(database):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    tables = Tables(database)
    for table, (schema, partitions) in TABLES.items():
        name = tables.name(table)
        if spark.catalog.tableExists(name):
            check_shape(spark.table(name).schema, schema, name)
        else:
            writer = spark.createDataFrame([], schema).write.mode("append")
            (writer.partitionBy(*partitions) if partitions else writer).saveAsTable(name)
    spark.sql(current_view_sql(tables))
    return tables


def check_shape(actual: T.StructType, expected: T.StructType, name: str) -> None:
    """Refuse a table whose columns are not the ones segspark writes, naming the first that differs."""
    have = {field.name.lower(): field.dataType for field in actual.fields}
    wanted = {field.name: field.dataType for field in expected.fields}
    for column, data_type in wanted.items():
        if column not in have:
            problem = f"has no column {column} ({data_type.simpleString()})"
        elif have[column] != data_type:
            problem = (
                f"has column {column} as {have[column].simpleString()}, segspark writes {data_type.simpleString()}"
            )
        else:
            continue
        raise InputError(f"table {name} exists with another shape: it {problem}; publish to another database")
    extra = sorted(set(have) - set(wanted))
    if extra:
        raise InputError(
            f"table {name} exists with another shape: column {extra[0]} is not one segspark writes; "
            "publish to another database"
        )


def current_view_sql(tables: Tables) -> str:
    """The view of the newest segment run's customers, read through segspark_runs."""
    return (
        f"CREATE OR REPLACE VIEW {tables.name(CURRENT)} AS "
        f"SELECT c.* FROM {tables.name(CUSTOMER_SEGMENTS)} c "
        f"WHERE c.run_id = (SELECT max(struct(published_at, run_id)).run_id "
        f"FROM {tables.name(RUNS)} WHERE job = 'segment')"
    )


def _append(frame: DataFrame, name: str) -> None:
    """Rows appended to an existing table, matched to its columns by name (insertInto goes by position)."""
    spark = frame.sparkSession
    frame.select(*spark.table(name).columns).write.insertInto(name)


def customer_rows(customers: DataFrame, run_id: str, names: Mapping[int, str]) -> DataFrame:
    """A run's customers/ as rows of segspark_customer_segments: with run_id and the segment's name."""
    name_of = F.create_map(*[part for s, n in sorted(names.items()) for part in (F.lit(s), F.lit(n))])
    with_name = customers.withColumn("segment_name", name_of[F.col(SEGMENT)] if names else F.lit(None))
    if OUT_OF_RANGE not in customers.columns:  # a segment run's customers: only scoring sets it
        with_name = with_name.withColumn(OUT_OF_RANGE, F.lit(None))
    return with_name.withColumn("run_id", F.lit(run_id)).select(
        *[F.col(field.name).cast(field.dataType).alias(field.name) for field in CUSTOMER_SEGMENTS_TABLE.fields]
    )


def segment_rows(run_id: str, model: Mapping[str, Any], refresh: Mapping[str, Any], quantiles: pd.DataFrame) -> list:
    """segspark_segments rows from the run's summary (model and refresh) and its feature quantiles."""
    medians = quantiles[(quantiles["quantile"] == 0.5) & (quantiles["segment"] != ALL_SEGMENTS)]
    median = {(int(row.segment), row.feature): float(row.value) for row in medians.itertuples()}
    centres = {int(c["segment"]): c["original"] for c in model["centres"]}
    stability = {int(s["segment"]): s.get("jaccard_mean") for s in model.get("segment_stability") or []}
    previous = {int(s["segment"]): s.get("previous_segment") for s in refresh.get("segments") or []}
    rows = []
    for segment, described in sorted(model["segments"].items(), key=lambda item: int(item[0])):
        s = int(segment)
        rows.append(
            (
                run_id, s, described["name"], described["action"], int(model["sizes"][segment]),
                *(float(centres[s][name]) for name in FEATURE_COLUMNS),
                *(median.get((s, name)) for name in FEATURE_COLUMNS),
                previous.get(s), stability.get(s),
            )
        )  # fmt: skip
    return rows


def migration_rows(run_id: str, refresh: Mapping[str, Any]) -> list:
    """segspark_migrations rows: the refresh's moves of the customers in both runs (none without a refresh)."""
    if not refresh.get("compared"):
        return []
    previous = refresh["previous_run"]
    return [(run_id, previous, int(m["from"]), int(m["to"]), int(m["customers"])) for m in refresh["migration"]]


def run_row(summary: Mapping[str, Any], job: str, run_folder: str) -> tuple:
    """The segspark_runs row of a published run, from its summary.json."""
    counts, model = summary["counts"], summary.get("model") or {}
    scoring, refresh = summary.get("scoring") or {}, summary.get("refresh") or {}
    return (
        summary["run_id"], job, datetime.now(timezone.utc), summary["input"],
        summary["source_format"], model.get("k") or scoring.get("k"), model.get("rule"),
        counts["lines_in"], counts["lines_used"], _total(counts["lines_excluded"]),
        _total(counts["lines_quarantined"]), counts["customers"], _total(counts.get("customers_excluded")),
        refresh.get("previous_run"),
        summary["run_id"] if job == "segment" else scoring.get("trained_on_run"), run_folder,
    )  # fmt: skip


def _total(count: int | Mapping[str, int] | None) -> int | None:
    """A count, or the sum of a count by rule."""
    return sum(count.values()) if isinstance(count, Mapping) else count


def publish(
    spark: SparkSession,
    tables: Tables,
    summary: Mapping[str, Any],
    job: str,
    run_folder: str,
    customers: DataFrame,
    names: Mapping[int, str],
    segments: list | None = None,
) -> None:
    """One run into the tables: its customers, segments and migrations, then its segspark_runs row."""
    run_id = summary["run_id"]
    _append(customer_rows(customers, run_id, names), tables.name(CUSTOMER_SEGMENTS))
    if segments:
        _append(spark.createDataFrame(segments, SEGMENTS_TABLE), tables.name(SEGMENTS))
    migrations = migration_rows(run_id, summary.get("refresh") or {})
    if migrations:
        _append(spark.createDataFrame(migrations, MIGRATIONS_TABLE), tables.name(MIGRATIONS))
    _append(spark.createDataFrame([run_row(summary, job, run_folder)], RUNS_TABLE), tables.name(RUNS))
