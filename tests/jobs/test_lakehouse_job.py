"""End to end: runs publish into and read from real Delta Lake and Apache Iceberg tables.

The tests' session carries both formats (tests/conftest.py: Delta's catalog over the session's Hive
catalog, an Iceberg catalog `lake` of type jdbc on SQLite; docs/tables.md's settings). A Delta
database is one of the session catalog whose tables are made with spark.sql.sources.default=delta
(as a Databricks or Delta-configured cluster makes them); an Iceberg one is in `lake`. The jobs'
main() run in that session.
"""

from __future__ import annotations

import json

import pytest
from chispa import assert_df_equality

from jobs import publish_run, segment_customers
from segspark.edge import inputs as segio
from segspark.edge import lakehouse, tables, workflow
from segspark.errors import InputError, NotPublished, UsageError
from segspark.orders.formats import built_in
from tests.builders import PERIOD_1, PERIOD_2, PERIOD_ARGS, habit_orders_file, publish_at_once, published, run_job
from tests.conftest import ICEBERG_CATALOG

pytestmark = pytest.mark.e2e

FORMATS = ["delta", "iceberg"]


@pytest.fixture
def table_format(lakehouse_session, request):
    """The format a test's tables are made in: Delta as the session's default source, or Iceberg."""
    spark, kind = lakehouse_session, request.param
    before = spark.conf.get("spark.sql.sources.default")
    if kind == "delta":
        spark.conf.set("spark.sql.sources.default", "delta")
    yield kind
    spark.conf.set("spark.sql.sources.default", before)


def database_for(kind: str, name: str) -> str:
    return f"{ICEBERG_CATALOG}.{name}" if kind == "iceberg" else f"delta_{name}"


def rows_by_run(spark, name: str) -> dict[str, int]:
    return {row.run_id: row["count"] for row in spark.table(name).groupBy("run_id").count().collect()}


@pytest.mark.parametrize("table_format", FORMATS, indirect=True)
def test_runs_publish_one_transaction_per_table_a_version_per_run_and_a_kill_between_tables_shows_nothing(
    spark, table_format, tmp_path, monkeypatch
):
    database = database_for(table_format, "segments")
    output = tmp_path / "out"
    first_input = habit_orders_file(tmp_path, "period-1.csv", PERIOD_1)
    second_input = habit_orders_file(tmp_path, "period-2.csv", PERIOD_2)
    args = ["--output", str(output), "--publish-tables", database, *PERIOD_ARGS]
    run_job(segment_customers, "--input", str(first_input), *args)
    first = published(output)
    run_job(segment_customers, "--input", str(second_input), *args)
    second = published(output)
    name = f"{database}.{{}}".format
    for table in (*tables.DATA_TABLES, tables.RUNS):
        assert lakehouse.table_format(spark, name(table)) == table_format, table

    # the view is the second run's customers; each run's row names its tables' versions, and each
    # customers table read as of a run holds that run's rows and those before, no more
    customers = spark.read.parquet(str(second / "customers"))
    current = spark.table(name(tables.CURRENT))
    assert_df_equality(current.select(*customers.columns), customers, ignore_row_order=True, ignore_nullable=True)
    versions = {row.run_id: row.table_versions for row in spark.table(name(tables.RUNS)).collect()}
    assert set(versions) == {first.name, second.name}
    assert {tables.CUSTOMER_SEGMENTS, tables.SEGMENTS} <= set(versions[first.name]) <= set(tables.DATA_TABLES)
    sizes = {run.name: spark.read.parquet(str(run / "customers")).count() for run in (first, second)}
    as_of_first = spark.sql(
        f"SELECT * FROM {name(tables.CUSTOMER_SEGMENTS)} VERSION AS OF {versions[first.name][tables.CUSTOMER_SEGMENTS]}"
    )
    assert rows_by_run(spark, name(tables.CUSTOMER_SEGMENTS)) == sizes
    assert {row.run_id: row["count"] for row in as_of_first.groupBy("run_id").count().collect()} == {
        first.name: sizes[first.name]
    }
    assert_df_equality(
        as_of_first.select(*customers.columns),
        spark.read.parquet(str(first / "customers")),
        ignore_row_order=True,
        ignore_nullable=True,
    )

    # a run stopped between two tables' commits: its customers are in, its segments and runs row not;
    # the view stays on the second run, and publishing it afterwards adds each missing row once
    append = tables._append

    def stopped_after_the_customers(frame, table_name):
        if table_name.endswith(tables.SEGMENTS):
            raise RuntimeError("the driver was stopped")
        append(frame, table_name)

    monkeypatch.setattr(tables, "_append", stopped_after_the_customers)
    with pytest.raises(NotPublished):
        segment_customers.main(["--input", str(first_input), *args])
    monkeypatch.setattr(tables, "_append", append)
    third = sorted((output / "runs").iterdir())[-1]
    assert rows_by_run(spark, name(tables.CUSTOMER_SEGMENTS))[third.name] == sizes[first.name]  # in, not current
    assert {row.run_id for row in spark.table(name(tables.CURRENT)).select("run_id").distinct().collect()} == {
        second.name
    }
    assert third.name not in rows_by_run(spark, name(tables.SEGMENTS))
    run_job(publish_run, "--run", str(third), "--publish-tables", database)
    assert published(output) == third
    assert rows_by_run(spark, name(tables.CUSTOMER_SEGMENTS)) == {**sizes, third.name: sizes[first.name]}
    assert rows_by_run(spark, name(tables.RUNS)) == {first.name: 1, second.name: 1, third.name: 1}
    assert {row.run_id for row in spark.table(name(tables.CURRENT)).select("run_id").distinct().collect()} == {
        third.name
    }


@pytest.mark.parametrize("table_format", FORMATS, indirect=True)
def test_publishers_at_once_into_delta_and_iceberg_both_land_one_commit_each(spark, table_format):
    database = database_for(table_format, "concurrent")
    published_tables = tables.prepare(spark, database, f"file:/{table_format}-concurrent-out", "score")
    name = published_tables.name(tables.MIGRATIONS)
    before = lakehouse.table_version(spark, name)
    failures = publish_at_once(spark, published_tables, name, publishers=3, rows_each=20_000, partitions=4)
    assert failures == []
    assert rows_by_run(spark, name) == {f"r{i}": 20_000 for i in range(3)}
    if table_format == "delta":  # one commit per append, in turn
        assert lakehouse.table_version(spark, name) == before + 3
    else:
        snapshots = spark.sql(f"SELECT count(*) FROM {name}.snapshots").first()[0]
        assert snapshots == 3 + (before is not None)


@pytest.mark.parametrize("table_format", FORMATS, indirect=True)
def test_an_input_table_reads_as_of_a_version_and_the_run_names_the_version_it_read(spark, table_format, tmp_path):
    shopify = built_in("shopify")
    first_csv = habit_orders_file(tmp_path, "period-1.csv", PERIOD_1)
    second_csv = habit_orders_file(tmp_path, "period-2.csv", PERIOD_2)
    name = f"{database_for(table_format, 'shop')}.orders"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {name.rsplit('.', 1)[0]}")
    spark.read.option("header", True).csv(str(first_csv)).writeTo(name).using(table_format).create()
    first_version = lakehouse.table_version(spark, name)
    spark.read.option("header", True).csv(str(second_csv)).writeTo(name).append()

    # as it is: pinned to the version read; as of the first version: period 1's lines alone
    pinned = workflow.qualified_input(spark, segio.table_source(name))
    assert pinned == segio.table_source(name, f"VERSION AS OF {lakehouse.table_version(spark, name)}")
    from_csv = workflow.accounted_customers(spark, str(first_csv), shopify, str(tmp_path / "q1"))
    as_of = segio.table_source(name, lakehouse.as_of_clause(str(first_version)))
    from_table = workflow.accounted_customers(spark, as_of, shopify, str(tmp_path / "q2"))
    assert from_table.counts == from_csv.counts
    assert_df_equality(from_table.customers, from_csv.customers, ignore_row_order=True)
    now = workflow.accounted_customers(spark, pinned, shopify, str(tmp_path / "q3"))
    assert now.counts.lines_in == from_csv.counts.lines_in + sum(1 for _ in open(second_csv)) - 1
    for accounted in (from_csv, from_table, now):
        accounted.release()

    # the job: --input-as-of, named in summary.json's input; a version that is not there is one line
    output = tmp_path / "out"
    run_job(
        segment_customers, "--input-table", name, "--input-as-of", str(first_version), "--output", str(output),
        *PERIOD_ARGS,
    )  # fmt: skip
    summary = json.loads((published(output) / "summary.json").read_text())
    assert summary["input"] == f"table:{name} VERSION AS OF {first_version}"
    assert summary["counts"]["lines_in"] == from_csv.counts.lines_in
    missing = 987654321
    with pytest.raises(InputError) as refused:
        workflow.accounted_customers(
            spark, segio.table_source(name, f"VERSION AS OF {missing}"), shopify, str(tmp_path / "q4")
        )
    assert str(refused.value).startswith(f"--input-table {name} VERSION AS OF {missing}: the table cannot be read so (")


def test_a_delta_table_named_by_its_path_is_read_and_pinned(lakehouse_session, tmp_path):
    spark = lakehouse_session
    csv = habit_orders_file(tmp_path, "period-1.csv", PERIOD_1)
    folder = tmp_path / "orders-delta"
    spark.read.option("header", True).csv(str(csv)).write.format("delta").save(str(folder))
    name = f"delta.`{folder}`"
    pinned = workflow.qualified_input(spark, segio.table_source(name))
    assert pinned == segio.table_source(name, "VERSION AS OF 0")
    shopify = built_in("shopify")
    from_table = workflow.accounted_customers(spark, pinned, shopify, str(tmp_path / "q1"))
    from_csv = workflow.accounted_customers(spark, str(csv), shopify, str(tmp_path / "q2"))
    assert from_table.counts == from_csv.counts
    assert_df_equality(from_table.customers, from_csv.customers, ignore_row_order=True)
    from_table.release()
    from_csv.release()


@pytest.mark.parametrize(
    "missing, said",
    [
        (2, "takes the columns table_versions map<string,bigint>, feature_set string"),  # before table versions
        (1, "takes the column feature_set string"),  # before feature sets
    ],
)
def test_a_runs_table_from_before_takes_the_new_columns(spark, capsys, missing, said):
    database = f"older_segments_{missing}"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    older = tables.RUNS_TABLE.fieldNames()[:-missing]
    spark.createDataFrame([], tables.RUNS_TABLE).select(*older).write.saveAsTable(f"{database}.segspark_runs")
    tables.prepare(spark, database, f"file:/{database}-out", "score")
    assert spark.table(f"{database}.segspark_runs").columns == tables.RUNS_TABLE.fieldNames()
    assert f"segspark: {database}.segspark_runs {said} (new in this segspark)" in capsys.readouterr().out


def test_an_iceberg_catalog_without_views_is_refused_in_one_line(lakehouse_session, tmp_path):
    spark = lakehouse_session
    spark.conf.set("spark.sql.catalog.lake_files", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set("spark.sql.catalog.lake_files.type", "hadoop")
    spark.conf.set("spark.sql.catalog.lake_files.warehouse", f"file://{tmp_path}/warehouse")
    with pytest.raises(UsageError) as refused:
        tables.prepare(spark, "lake_files.segments", "file:/files-out", "segment")
    message = str(refused.value)
    assert message.startswith("--publish-tables lake_files.segments: its catalog keeps no views (")
    assert message.endswith("publish into a catalog that does (Iceberg: type jdbc with jdbc.schema-version=V1, "
                            "rest or hive; docs/tables.md)")  # fmt: skip
