"""A run published into catalog tables (`--publish-tables DATABASE`), beside its run folder.

    segspark_runs                one row per published run, written last
    segspark_customer_segments   per run and customer (partitioned by run_id)
    segspark_segments            per segment run and segment
    segspark_migrations          per refresh: from segment, to segment, customers
    segspark_current             a view: the customer segments of the newest segment run

Never half a result: a run's data rows are appended first and its `segspark_runs` row last, and
the view reads through `segspark_runs`, so a run killed in between is not current (its rows sit
under a run_id no `segspark_runs` row names; publishing the run again appends only what is
missing). One publisher at a time: two appends to one table at once share its `_temporary/0`
folder in this Spark (measured: one failed, two others silently lost 25% and 12% of their rows),
so creating and appending happen under the database's publishing lock (`publishing`: a file in the
database's folder, over Spark Connect a view in the database, segspark.edge.locks).
One database holds one output folder's segmentation (its `segspark_current`) on one feature set
(the tables' columns are the set's features: another set is refused, naming the set the database
holds; publish it into a database of its own), and a built-in
catalog copied with its output folder, which names the original's files, is refused. Nothing is written with overwrite: every write is
an append (`insertInto`) through Spark's catalog API, so a Delta or Iceberg catalog gives each
append its own transaction. The tables are created on first use, with the session's default
source (`spark.sql.sources.default`), and one of another shape is refused, naming the column,
before the run does any work.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

from pyspark.errors import AnalysisException, UnsupportedOperationException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.clustering import rfm
from segspark.clustering.segments import OUT_OF_RANGE, SEGMENT
from segspark.edge import lakehouse, locks, paths
from segspark.errors import InputError, UsageError
from segspark.orders.feature_sets import FeatureSet
from segspark.schemas import (
    CUSTOMER_SEGMENTS_TABLE,
    FEATURE_COLUMNS,
    MIGRATIONS_TABLE,
    RUNS_TABLE,
    SEGMENTS_TABLE,
    customer_segments_table,
    segments_table,
)

RUNS = "segspark_runs"
CUSTOMER_SEGMENTS = "segspark_customer_segments"
SEGMENTS = "segspark_segments"
MIGRATIONS = "segspark_migrations"
CURRENT = "segspark_current"
#: Each table's schema and its partition columns, for the seed set (`table_schemas` for any set).
TABLES: dict[str, tuple[T.StructType, tuple[str, ...]]] = {
    CUSTOMER_SEGMENTS: (CUSTOMER_SEGMENTS_TABLE, ("run_id",)),
    SEGMENTS: (SEGMENTS_TABLE, ()),
    MIGRATIONS: (MIGRATIONS_TABLE, ()),
    RUNS: (RUNS_TABLE, ()),
}
#: The tables a run's rows go into before its segspark_runs row.
DATA_TABLES = (CUSTOMER_SEGMENTS, SEGMENTS, MIGRATIONS)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def check_database_name(database: str) -> str:
    """`db` or `catalog.db`, plain identifiers (before Spark starts)."""
    if not _NAME.fullmatch(database):
        raise UsageError(f"--publish-tables {database!r}: give a database name, e.g. segspark or catalog.segspark")
    return database


def table_schemas(feature_set: FeatureSet | None) -> dict[str, tuple[T.StructType, tuple[str, ...]]]:
    """The tables' schemas for runs of `feature_set` (None: the seed set): the customers' and the
    segments' columns are the set's features (a declared set's as double), their model columns and,
    for RFM, the scores and the named segment."""
    if feature_set is None or feature_set.built_in:
        return TABLES
    logs = [(f.model_column, T.DoubleType()) for f in feature_set.features if f.model_column != f.name]
    customer_columns = (
        ("customer_id", T.LongType()),
        *((name, T.DoubleType()) for name in feature_set.columns),
        *logs,
        *(((name, T.IntegerType()) for name in rfm.SCORE_COLUMNS.values()) if feature_set.rfm else ()),
        *(((rfm.SEGMENT_NAME, T.StringType()),) if feature_set.rfm else ()),
    )
    return {
        **TABLES,
        CUSTOMER_SEGMENTS: (customer_segments_table(customer_columns), ("run_id",)),
        SEGMENTS: (segments_table(feature_set.columns), ()),
    }


@dataclass(frozen=True)
class Tables:
    """The database a run publishes into, its tables created and checked (`prepare`) for one feature set."""

    database: str
    built_in_output: str | None = None  # the output folder whose built-in catalog holds them, if one does
    feature_set: FeatureSet | None = None  # None: the seed set

    def name(self, table: str) -> str:
        return f"{self.database}.{table}"

    @property
    def feature_set_name(self) -> str:
        return self.feature_set.name if self.feature_set else "seed"

    @property
    def schema_features(self) -> tuple[str, ...]:
        """The features the segments table has a centre and a median of."""
        return self.feature_set.columns if self.feature_set else FEATURE_COLUMNS

    def schema(self, table: str) -> T.StructType:
        return table_schemas(self.feature_set)[table][0]


#: How long a publisher waits for another's lock before it stops, saying whose it is.
LOCK_WAIT_SECONDS = 300.0


def prepare(
    spark: SparkSession,
    database: str,
    output: str,
    job: str,
    warehouse: str | None = None,
    feature_set: FeatureSet | None = None,
) -> Tables:
    """The database and its tables created where missing, each existing one checked against the
    shape segspark writes for `feature_set` (None: seed), and the view (re)defined: all before the
    run does any work.

    Refused first: an in-memory catalog (the tables would vanish at exit), a built-in catalog whose
    database lies outside `warehouse` (its output folder was copied or moved: appends would go into
    the original's files), a database whose runs are of another feature set, and, for a segment
    run, a database that already holds another output folder's segmentation (`segspark_current`
    would flip between the two)."""
    check_lasting_catalog(spark, database)
    if not spark.catalog.databaseExists(database):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    location = database_location(spark, database)
    in_built_in = catalog_of(database) == "spark_catalog"  # not a named (Iceberg, Unity, Glue) catalog's
    if warehouse is not None and in_built_in and not paths.Location.of(warehouse).contains(paths.Location.of(location)):
        raise InputError(
            f"--publish-tables {database}: the catalog in {warehouse.rsplit('/', 1)[0]} keeps {database} at "
            f"{location}, outside its warehouse {warehouse}: this output folder was copied or moved with its "
            "catalog, and a run would append into the original's files. Run in the original folder, or "
            "publish here into a database of another name"
        )
    tables = Tables(database, feature_set=feature_set)
    with publishing(spark, tables, f"a {job} run preparing"):
        schemas = table_schemas(feature_set)
        runs_checked = spark.catalog.tableExists(tables.name(RUNS))
        if runs_checked:  # first: its feature_set column says which set the other tables are shaped for
            check_shape(_with_new_columns(spark, tables.name(RUNS), RUNS_TABLE), RUNS_TABLE, tables.name(RUNS))
            check_one_feature_set(spark, tables)
        for table, (schema, partitions) in schemas.items():
            name = tables.name(table)
            if table == RUNS and runs_checked:
                continue
            if spark.catalog.tableExists(name):
                check_shape(_with_new_columns(spark, name, schema), schema, name)
            else:
                writer = spark.createDataFrame([], schema).write.mode("append")
                (writer.partitionBy(*partitions) if partitions else writer).saveAsTable(name)
        if job == "segment":
            check_one_output(spark, tables, output)
        define_current_view(spark, tables)
    return tables


def define_current_view(spark: SparkSession, tables: Tables) -> None:
    """(Re)define segspark_current; a catalog that keeps no views (Iceberg's hadoop type) is refused."""
    try:
        spark.sql(current_view_sql(tables))
    except (AnalysisException, UnsupportedOperationException) as error:
        _refuse_without_views(tables, error)
        raise


def _refuse_without_views(tables: Tables, error: Exception) -> None:
    """A catalog's refusal to keep a view (segspark_current, or the lock view over Spark Connect) as one line."""
    if "not supported by catalog" not in str(error) and "UNSUPPORTED_FEATURE" not in str(error):
        return
    first = str(error).strip().splitlines()[0]
    raise UsageError(
        f"--publish-tables {tables.database}: its catalog keeps no views ({first}), and {CURRENT} is one: "
        "publish into a catalog that does (Iceberg: type jdbc with jdbc.schema-version=V1, rest or hive; "
        "docs/tables.md)"
    ) from None


def check_lasting_catalog(spark: SparkSession, database: str) -> None:
    """Refuse Spark's in-memory catalog: tables there vanish when the run ends (and leave their files
    in ./spark-warehouse), though the run would say it published them."""
    problem = fleeting_catalog(
        database,
        spark.conf.get("spark.sql.catalogImplementation", "in-memory"),
        spark.conf.get("spark.sql.catalog.spark_catalog", None),
    )
    if problem:
        raise UsageError(problem)


def fleeting_catalog(database: str, implementation: str, session_catalog: str | None) -> str | None:
    """Why publishing `database` would not last (its catalog is the in-memory one), or None."""
    own_session_catalog = session_catalog and session_catalog not in lakehouse.SESSION_CATALOGS_IN_METASTORE
    if catalog_of(database) != "spark_catalog" or own_session_catalog or implementation != "in-memory":
        return None  # a catalog of its own (Delta, Iceberg, Glue, a Hive metastore)
    return (
        f"--publish-tables {database}: the session's catalog is Spark's in-memory one "
        "(spark.sql.catalogImplementation=in-memory), whose tables vanish when the run ends; give it a "
        "lasting catalog (hive, with the cluster's metastore) or leave the setting out for the output "
        "folder's built-in one"
    )


def catalog_of(database: str) -> str:
    """The catalog of `db` (the session's: spark_catalog) or `catalog.db`."""
    return database.split(".")[0] if "." in database else "spark_catalog"


def database_location(spark: SparkSession, database: str) -> str:
    """The database's folder as a path (the catalog gives a URI: a space is %20)."""
    return paths.decoded(str(spark.catalog.getDatabase(database).locationUri))


def check_one_feature_set(spark: SparkSession, tables: Tables) -> None:
    """Refuse a run of another feature set than the database's runs: its tables' columns are one
    set's features (rows from before feature sets are the seed set's)."""
    held = [
        row[0]
        for row in spark.table(tables.name(RUNS))
        .select(F.coalesce(F.col("feature_set"), F.lit("seed")))
        .distinct()
        .limit(2)
        .collect()
    ]
    other = next((name for name in held if name != tables.feature_set_name), None)
    if other is not None:
        raise UsageError(
            f"--publish-tables {tables.database}: its tables hold feature set {other!r}, and this run's is "
            f"{tables.feature_set_name!r}: a database's tables hold one set's features; publish into a database "
            f"of its own (e.g. --publish-tables {tables.database.rsplit('.', 1)[-1]}_{tables.feature_set_name.replace('-', '_')})"
        )


def check_one_output(spark: SparkSession, tables: Tables, output: str) -> None:
    """Refuse a segment run into a database whose segment runs came from another output folder:
    `segspark_current` is one segmentation per database, and two shops' would flip it."""
    folders = [
        row[0]
        for row in spark.table(tables.name(RUNS))
        .where(F.col("job") == "segment")
        .select("run_folder")
        .distinct()
        .limit(2)
        .collect()
    ]
    others = sorted({folder.rstrip("/").rsplit("/runs/", 1)[0] for folder in folders} - {output.rstrip("/")})
    if others:
        raise UsageError(
            f"--publish-tables {tables.database}: it holds the segmentation of {others[0]}, and this run's "
            f"output is {output}: {CURRENT} shows one output folder's segmentation, so publish each into a "
            "database of its own (was the output folder moved? then publish into a new database)"
        )


@contextmanager
def publishing(spark: SparkSession, tables: Tables, holder: str, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the database's publishing lock (segspark.edge.locks: a file made in one step, or over Spark
    Connect a view) while creating or appending to its tables; a second publisher waits for it, then
    stops naming the holder."""
    lock = locks.of(spark, tables.database, database_location(spark, tables.database))
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    waited = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + waited
    while not _take(lock, tables, holder, since):
        if time.monotonic() >= deadline:
            try:
                held = lock.holder()
            except Exception:  # noqa: BLE001 - released meanwhile
                held = "another run"
            raise InputError(
                f"--publish-tables {tables.database}: another run is publishing into it ({held}; {lock.where}); "
                f"waited {waited:.0f} s. If no run is publishing (one was killed), {lock.free_it} and publish again"
            )
        time.sleep(0.5)
    try:
        yield
    finally:
        lock.release()


def _take(lock: locks.Lock, tables: Tables, holder: str, since: str) -> bool:
    try:
        return lock.take(holder, since)
    except (AnalysisException, UnsupportedOperationException) as error:
        _refuse_without_views(tables, error)
        raise


#: Columns segspark added to a table after its first release: a table without them gets them.
ADDED_COLUMNS = {RUNS: ("table_versions", "feature_set")}


def _with_new_columns(spark: SparkSession, name: str, schema: T.StructType) -> T.StructType:
    """The table's schema once the columns segspark added since it was made are there (ALTER TABLE
    ADD COLUMNS, a metadata change every format takes; earlier rows read them as null)."""
    actual = spark.table(name).schema
    have = {field.name.lower() for field in actual.fields}
    table = name.rsplit(".", 1)[-1]
    missing = [f for f in schema.fields if f.name in ADDED_COLUMNS.get(table, ()) and f.name not in have]
    if missing and len(have) + len(missing) == len(schema.fields):
        columns = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE {name} ADD COLUMNS ({columns})")
        print(f"segspark: {name} takes the column{'s' * (len(missing) > 1)} {columns} (new in this segspark)")
        actual = spark.table(name).schema
    return actual


def check_shape(actual: T.StructType, expected: T.StructType, name: str) -> None:
    """Refuse a table whose columns are not the ones segspark writes, naming the first that differs."""
    have = {field.name.lower(): field.dataType for field in actual.fields}
    wanted = {field.name: field.dataType for field in expected.fields}
    for column, data_type in wanted.items():
        if column not in have:
            problem = f"has no column {column} ({data_type.simpleString()})"
        elif have[column].simpleString() != data_type.simpleString():  # a map's values' nullability aside
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


def customer_rows(
    customers: DataFrame, run_id: str, names: Mapping[int, str], schema: T.StructType = CUSTOMER_SEGMENTS_TABLE
) -> DataFrame:
    """A run's customers/ as rows of segspark_customer_segments (`schema`, the run's set's): with
    run_id and the segment's name."""
    name_of = F.create_map(*[part for s, n in sorted(names.items()) for part in (F.lit(s), F.lit(n))])
    with_name = customers.withColumn("segment_name", name_of[F.col(SEGMENT)] if names else F.lit(None))
    if OUT_OF_RANGE not in customers.columns:  # a segment run's customers: only scoring sets it
        with_name = with_name.withColumn(OUT_OF_RANGE, F.lit(None))
    return with_name.withColumn("run_id", F.lit(run_id)).select(
        *[F.col(field.name).cast(field.dataType).alias(field.name) for field in schema.fields]
    )


def segment_rows(
    run_id: str, model: Mapping[str, Any], refresh: Mapping[str, Any], features: tuple[str, ...] = FEATURE_COLUMNS
) -> list:
    """segspark_segments rows from the run's summary.json alone (model and refresh), so that a run
    can be published into the tables again from its folder; `features`: its set's."""
    median = {
        (int(s), name): float(value)
        for s, described in model["segments"].items()
        for name, value in (described.get("medians") or {}).items()
    }
    centres = {int(c["segment"]): c["original"] for c in model["centres"]}
    stability = {int(s["segment"]): s.get("jaccard_mean") for s in model.get("segment_stability") or []}
    previous = {int(s["segment"]): s.get("previous_segment") for s in refresh.get("segments") or []}
    rows = []
    for segment, described in sorted(model["segments"].items(), key=lambda item: int(item[0])):
        s = int(segment)
        rows.append(
            (
                run_id, s, described["name"], described["action"], int(model["sizes"][segment]),
                *(float(centres[s][name]) for name in features),
                *(median.get((s, name)) for name in features),
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


def run_row(
    summary: Mapping[str, Any], job: str, run_folder: str, table_versions: Mapping[str, int] | None = None
) -> tuple:
    """The segspark_runs row of a published run, from its summary.json (and its tables' versions)."""
    counts, model = summary["counts"], summary.get("model") or {}
    scoring, refresh = summary.get("scoring") or {}, summary.get("refresh") or {}
    return (
        summary["run_id"], job, datetime.now(timezone.utc), summary["input"],
        summary["source_format"], model.get("k") or scoring.get("k"), model.get("rule"),
        counts["lines_in"], counts["lines_used"], _total(counts["lines_excluded"]),
        _total(counts["lines_quarantined"]), counts["customers"], _total(counts.get("customers_excluded")),
        refresh.get("previous_run"),
        summary["run_id"] if job == "segment" else scoring.get("trained_on_run"), run_folder,
        dict(table_versions) if table_versions else None,
        (summary.get("features") or {}).get("set") or scoring.get("feature_set") or "seed",
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
    again: bool = False,
) -> None:
    """One run into the tables: its customers, segments and migrations, then its segspark_runs row
    (nothing, with `again`, where its segspark_runs row is there already).

    `again`: the run may have been stopped part way (its data rows appended, its runs row not): a
    table that has the run's rows is left as it is, one with only some of them is refused."""
    run_id = summary["run_id"]
    if again and _rows_of(spark, tables.name(RUNS), run_id):
        return
    appends = [
        (
            customer_rows(customers, run_id, names, tables.schema(CUSTOMER_SEGMENTS)),
            tables.name(CUSTOMER_SEGMENTS),
            summary["counts"]["customers"],
        )
    ]
    if segments:
        appends.append((spark.createDataFrame(segments, tables.schema(SEGMENTS)), tables.name(SEGMENTS), len(segments)))
    migrations = migration_rows(run_id, summary.get("refresh") or {})
    if migrations:
        appends.append((spark.createDataFrame(migrations, MIGRATIONS_TABLE), tables.name(MIGRATIONS), len(migrations)))
    for rows, name, expected in appends:
        there = _rows_of(spark, name, run_id) if again else 0
        if there == 0:
            _append(rows, name)
        elif there != expected:
            raise InputError(
                f"table {name} holds {there:,} rows of run {run_id}, not its {expected:,}: an append was cut "
                "short; the run's rows there need removing before it is published again"
            )
    versions = data_table_versions(spark, tables)
    _append(spark.createDataFrame([run_row(summary, job, run_folder, versions)], RUNS_TABLE), tables.name(RUNS))


def data_table_versions(spark: SparkSession, tables: Tables) -> dict[str, int] | None:
    """Each data table's current version (segspark.edge.lakehouse), None where none has versions."""
    versions = {table: lakehouse.table_version(spark, tables.name(table)) for table in DATA_TABLES}
    present = {table: version for table, version in versions.items() if version is not None}
    return present or None


def _rows_of(spark: SparkSession, name: str, run_id: str) -> int:
    return spark.table(name).where(F.col("run_id") == run_id).count()
