"""End to end: runs read order lines from a catalog table and publish into catalog tables.

The jobs' main() run in the tests' session, whose catalog is Spark's built-in Hive catalog (a Derby
metastore in a temporary folder: tests/conftest.py), as a run without a catalog of its own gets one
under its output folder (that one, made by a run through ./spark-submit.sh and queried with
./spark-sql.sh: tests/jobs/test_segment_customers_job.py). The two periods' runs (`two_periods`,
tests/jobs/conftest.py) publish into TABLES_DATABASE, the second reading its export from a table.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import publish_run, score_customers, segment_customers
from segspark.edge import cli, locks, outputs, runs, tables, workflow
from segspark.edge import inputs as segio
from segspark.errors import InputError, NotPublished, UsageError
from segspark.orders import datagen
from segspark.orders.formats import built_in
from tests.builders import HEADER, PERIOD_1, PERIOD_2, PERIOD_ARGS, csv_line, publish_at_once, published, run_job
from tests.jobs.conftest import TABLES_DATABASE as DATABASE

pytestmark = pytest.mark.e2e


def table(spark, name):
    return spark.table(f"{DATABASE}.{name}")


@pytest.mark.spark_lines
def test_the_current_view_is_the_second_runs_customers_exactly(spark, two_periods):
    _, _, second_run, _ = two_periods
    expected = spark.read.parquet(str(second_run / "customers"))
    current = table(spark, tables.CURRENT)
    assert_df_equality(current.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)
    assert {row.run_id for row in current.select("run_id").distinct().collect()} == {second_run.name}
    names = json.loads((second_run / "summary.json").read_text())["model"]["segments"]
    by_segment = {
        row.segment: row.segment_name for row in current.select("segment", "segment_name").distinct().collect()
    }
    assert by_segment == {int(s): described["name"] for s, described in names.items()}


@pytest.mark.spark_lines
def test_runs_and_segments_hold_one_row_per_run_and_segment(spark, two_periods):
    _, first_run, second_run, _ = two_periods
    runs = {row.run_id: row for row in table(spark, tables.RUNS).collect()}
    assert set(runs) == {first_run.name, second_run.name}
    second = runs[second_run.name]
    assert (second.job, second.input, second.k, second.previous_run) == (
        "segment",
        segio.table_source("shop.orders_period_2"),
        3,
        first_run.name,
    )
    summary = json.loads((second_run / "summary.json").read_text())
    assert (second.lines_in, second.customers) == (summary["counts"]["lines_in"], summary["counts"]["customers"])
    assert second.run_folder == f"file:{second_run}"
    segments = table(spark, tables.SEGMENTS).where(F.col("run_id") == second_run.name).orderBy("segment").collect()
    assert [row.customers for row in segments] == [summary["model"]["sizes"][str(row.segment)] for row in segments]
    matched = {s["segment"]: s["previous_segment"] for s in summary["refresh"]["segments"]}
    assert {row.segment: row.previous_segment for row in segments} == matched


def test_migrations_sum_to_the_customers_in_both_runs(spark, two_periods):
    _, first_run, second_run, _ = two_periods
    migrations = table(spark, tables.MIGRATIONS).where(F.col("run_id") == second_run.name)
    both = set(PERIOD_1) & set(PERIOD_2)
    assert migrations.agg(F.sum("customers")).first()[0] == len(both)
    assert {row.previous_run for row in migrations.collect()} == {first_run.name}
    summary = json.loads((second_run / "summary.json").read_text())
    moves = {(m["from"], m["to"]): m["customers"] for m in summary["refresh"]["migration"]}
    assert {(row.from_segment, row.to_segment): row.customers for row in migrations.collect()} == moves


@pytest.mark.spark_lines
def test_scoring_publishes_its_scores_the_same_way(spark, two_periods, tmp_path):
    folder, _, second_run, _ = two_periods
    output = folder / "out"
    scores = tmp_path / "scores"
    run_job(
        score_customers, "--model", str(output), "--input", str(folder / "period-1.csv"),
        "--output", str(scores), "--publish-tables", DATABASE,
    )  # fmt: skip
    scoring_run = published(scores)
    expected = spark.read.parquet(str(scoring_run / "customers"))
    rows = table(spark, tables.CUSTOMER_SEGMENTS).where(F.col("run_id") == scoring_run.name)
    assert_df_equality(rows.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True)
    assert rows.where(F.col("segment_name").isNull()).count() == 0
    run = table(spark, tables.RUNS).where(F.col("run_id") == scoring_run.name).first()
    assert (run.job, run.model_run, run.k) == ("score", second_run.name, 3)
    # a scoring run is not a segmentation: the current view stays on the segment run
    current_runs = table(spark, tables.CURRENT).select("run_id").distinct().collect()
    assert [row.run_id for row in current_runs] == [second_run.name]


@pytest.mark.spark_lines
def test_an_input_table_of_the_built_in_sample_gives_the_features_of_its_csv(spark, tmp_path):
    shopify = built_in("shopify")
    csv = str(tmp_path / "sample")
    outputs.write_order_lines(
        datagen.as_export_text(datagen.generate_order_lines(spark, lines=70_000, seed=2019)), csv, "csv"
    )
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    spark.read.option("header", True).csv(csv).write.saveAsTable("shop.sample_orders")  # every column text
    from_csv = workflow.accounted_customers(spark, csv, shopify, str(tmp_path / "q1"))
    from_table = workflow.accounted_customers(
        spark, segio.table_source("shop.sample_orders"), shopify, str(tmp_path / "q2")
    )
    assert from_table.counts == from_csv.counts
    assert_df_equality(from_table.customers, from_csv.customers, ignore_row_order=True)
    from_csv.release()
    from_table.release()


def test_a_bad_value_in_an_input_table_quarantines_its_row_naming_the_column(spark, tmp_path):
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    lines = [csv_line(customer_id=1, order_id=10), csv_line(customer_id=2, order_id=20, ordered_item_quantity="lots")]
    csv = tmp_path / "orders.csv"
    csv.write_text("\n".join([HEADER, *lines]) + "\n")
    spark.read.option("header", True).csv(str(csv)).write.saveAsTable("shop.orders_with_a_bad_value")
    source = segio.table_source("shop.orders_with_a_bad_value")
    accounted = workflow.accounted_customers(spark, source, built_in("shopify"), str(tmp_path / "quarantine"))
    assert (accounted.counts.lines_in, accounted.counts.lines_used, accounted.counts.lines_quarantined) == (2, 1, 1)
    quarantined = accounted.quarantined_lines.collect()
    assert [(row.source_file, row.quarantine_rule, row.quarantine_reason) for row in quarantined] == [
        (
            "table:shop.orders_with_a_bad_value",
            "bad_ordered_item_quantity",
            "ordered_item_quantity is not a whole number: 'lots'",
        )
    ]
    accounted.release()


def test_a_missing_table_or_column_is_one_line(spark, tmp_path):
    with pytest.raises(InputError, match=r"--input-table shop.no_such_orders: no such table"):
        segment_customers.main(["--input-table", "shop.no_such_orders", "--output", str(tmp_path / "out")])
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    spark.createDataFrame([("1", "2")], "customer_id string, order_id string").write.saveAsTable("shop.thin_orders")
    with pytest.raises(InputError, match=r"table shop.thin_orders: missing column 'product_title'"):
        segment_customers.main(["--input-table", "shop.thin_orders", "--output", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("run_id string, k int", r"segspark_runs exists with another shape: it has no column job \(string\)"),
        (
            ", ".join(
                f"{f.name} {'string' if f.name == 'k' else f.dataType.simpleString()}" for f in tables.RUNS_TABLE
            ),
            r"segspark_runs exists with another shape: it has column k as string, segspark writes int",
        ),
        (
            ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in tables.RUNS_TABLE) + ", note string",
            r"segspark_runs exists with another shape: column note is not one segspark writes",
        ),
    ],
)
def test_a_table_of_another_shape_is_refused_naming_the_column(spark, columns, message):
    database = f"other_{abs(hash(columns)) % 10**8}"
    spark.sql(f"CREATE DATABASE {database}")
    spark.sql(f"CREATE TABLE {database}.segspark_runs ({columns}) USING parquet")
    with pytest.raises(InputError, match=message):
        tables.prepare(spark, database, "file:/out", "segment")


def test_a_run_whose_tables_fail_is_not_current_anywhere_and_is_published_afterwards_once(
    spark, two_periods, monkeypatch, tmp_path
):
    """The tables first, then LATEST: a run the tables did not take leaves LATEST and the view on the
    run before (a retry compares with the same run); jobs/publish_run.py finishes it, also after a
    kill between its tables and LATEST, and never doubles a row."""
    folder, _, _, _ = two_periods
    output, database = tmp_path / "out", "killed_between"
    monkeypatch.setattr(runs, "VISIBLE", [])
    monkeypatch.setattr(runs, "PUBLISHED", [])
    args = ["--output", str(output), "--publish-tables", database, *PERIOD_ARGS]
    run_job(segment_customers, "--input", str(folder / "period-1.csv"), *args)
    first = published(output)
    append = tables._append

    def refused_at_the_runs_row(frame, name):
        if name.endswith(tables.RUNS):
            raise RuntimeError("the metastore went away")  # after the data rows, before the runs row
        append(frame, name)

    monkeypatch.setattr(tables, "_append", refused_at_the_runs_row)
    with pytest.raises(NotPublished) as failed:
        segment_customers.main(["--input", str(folder / "period-2.csv"), *args])
    monkeypatch.setattr(tables, "_append", append)
    second = sorted((output / "runs").iterdir())[-1]
    assert str(failed.value) == (
        f"run {second.name} is complete in file:{second} but was not published: the tables of {database} did "
        f"not take it, and LATEST still names {first.name}; once that is fixed, publish it with: "
        f"./spark-submit.sh jobs/publish_run.py --run file:{second} --publish-tables {database}"
    )
    assert published(output) == first and (second / "summary.json").exists()
    view = f"{database}.{tables.CURRENT}"
    assert {row.run_id for row in spark.table(view).select("run_id").distinct().collect()} == {first.name}

    # published afterwards, killed between its tables and LATEST: the tables have it, LATEST not yet
    replace = runs.publish

    def killed(spark, run):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        publish_run.main(["--run", str(second), "--publish-tables", database])
    monkeypatch.setattr(runs, "publish", replace)
    assert cli._what_is_visible() == (
        f"run {second.name} is in the tables of {database} but LATEST was not replaced (the folder's current "
        f"run is still {first.name}); finish with: ./spark-submit.sh jobs/publish_run.py --run file:{second} "
        f"--publish-tables {database}"
    )
    assert published(output) == first
    # and finished: LATEST names it, and every row is there once
    for _ in range(2):
        run_job(publish_run, "--run", str(second), "--publish-tables", database)
    assert published(output) == second
    customers = spark.read.parquet(str(second / "customers"))
    current = spark.table(view)
    assert_df_equality(current.select(*customers.columns), customers, ignore_row_order=True, ignore_nullable=True)
    runs_rows = spark.table(f"{database}.{tables.RUNS}").groupBy("run_id").count().collect()
    assert sorted((row.run_id, row["count"]) for row in runs_rows) == [(first.name, 1), (second.name, 1)]
    segment_rows = spark.table(f"{database}.{tables.SEGMENTS}").where(F.col("run_id") == second.name)
    assert segment_rows.count() == 3 and segment_rows.where(F.col("median_total_spending").isNull()).count() == 0


def test_an_in_memory_catalog_is_refused_and_a_catalog_of_its_own_is_not():
    refused = tables.fleeting_catalog("segspark", "in-memory", None)
    assert refused.startswith("--publish-tables segspark: the session's catalog is Spark's in-memory one")
    assert tables.fleeting_catalog("spark_catalog.segspark", "in-memory", None) == refused.replace(
        "tables segspark:", "tables spark_catalog.segspark:"
    )
    assert tables.fleeting_catalog("segspark", "hive", None) is None
    assert tables.fleeting_catalog("lake.segspark", "in-memory", None) is None  # a catalog configured by name
    # Delta's session catalog keeps its tables in the session's metastore: over the in-memory one, they vanish too
    assert (
        tables.fleeting_catalog("segspark", "in-memory", "org.apache.spark.sql.delta.catalog.DeltaCatalog") == refused
    )
    assert tables.fleeting_catalog("segspark", "hive", "org.apache.spark.sql.delta.catalog.DeltaCatalog") is None
    assert tables.fleeting_catalog("segspark", "in-memory", "com.example.OwnSessionCatalog") is None


def test_a_second_shops_segmentation_is_refused_from_a_database_that_holds_one(two_periods, tmp_path):
    folder, first_run, _, _ = two_periods
    with pytest.raises(UsageError) as refused:
        segment_customers.main(
            ["--input", str(folder / "period-1.csv"), "--output", str(tmp_path / "other-shop"),
             "--publish-tables", DATABASE, *PERIOD_ARGS]
        )  # fmt: skip
    assert str(refused.value) == (
        f"--publish-tables {DATABASE}: it holds the segmentation of file:{first_run.parent.parent}, and this run's "
        f"output is file:{tmp_path / 'other-shop'}: segspark_current shows one output folder's segmentation, so "
        "publish each into a database of its own (was the output folder moved? then publish into a new database)"
    )
    assert not (tmp_path / "other-shop" / "runs").exists()  # refused before any work


def test_publishers_at_once_take_turns_and_every_row_lands(spark):
    """Two appends to one table at once share its _temporary/0 in this Spark: measured without the
    lock, one of ten failed and two lost 25% and 12% of their rows, silently. Under the lock, none."""

    published_tables = tables.prepare(spark, "concurrent", "file:/concurrent-out", "score")
    name = published_tables.name(tables.MIGRATIONS)
    failures = publish_at_once(spark, published_tables, name, publishers=4, rows_each=100_000, partitions=8)
    assert failures == []
    counts = {row.run_id: row["count"] for row in spark.table(name).groupBy("run_id").count().collect()}
    assert counts == {f"r{i}": 100_000 for i in range(4)}


def test_a_publisher_waits_for_the_lock_then_names_who_holds_it(spark, tmp_path):
    published_tables = tables.prepare(spark, "locked", "file:/locked-out", "score")
    lock = f"{tables.database_location(spark, 'locked')}/{locks.LOCK_FILE}"
    with tables.publishing(spark, published_tables, "run 20260101T000000Z-aaaaaa"):
        with pytest.raises(InputError) as waited:
            with tables.publishing(spark, published_tables, "run 20260101T000000Z-bbbbbb", wait_seconds=1):
                pass
    message = str(waited.value)
    assert message.startswith(
        "--publish-tables locked: another run is publishing into it (run 20260101T000000Z-aaaaaa since 20"
    )
    assert f"lock {lock}); waited 1 s. If no run is publishing (one was killed), delete the lock file" in message
    with tables.publishing(spark, published_tables, "run 20260101T000000Z-cccccc", wait_seconds=1):
        pass  # released


def test_the_lock_view_is_taken_once_of_many_at_once_and_names_its_holder(spark):
    """Over Spark Connect (no exclusive file create) the lock is a view the catalog makes once: of
    eight takers at the same moment one gets it; the view says who holds it; release frees it."""
    spark.sql("CREATE DATABASE IF NOT EXISTS view_locked")
    lock = locks.ViewLock(spark, "view_locked.segspark_publishing")
    start = threading.Barrier(8)

    def take(number):
        start.wait()
        return lock.take(f"run {number}", "2026-12-05T00:00:00+00:00")

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(take, range(8)))
    assert taken.count(True) == 1
    assert lock.holder() == f"run {taken.index(True)} since 2026-12-05T00:00:00+00:00"
    assert lock.take("run it's another", "now") is False
    lock.release()
    assert not spark.catalog.tableExists("view_locked.segspark_publishing")
    assert lock.take("run it's another", "now") is True  # a quote in the holder is kept, not SQL
    assert lock.holder() == "run it's another since now"
    lock.release()
