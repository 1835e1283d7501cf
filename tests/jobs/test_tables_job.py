"""End to end: runs read order lines from a catalog table and publish into catalog tables.

The jobs' main() run in the tests' session, whose catalog is Spark's built-in Hive catalog (a Derby
metastore in a temporary folder: tests/conftest.py), as a run without a catalog of its own gets one
under its output folder (that one, made by a run through ./spark-submit.sh and queried with
./spark-sql.sh: tests/jobs/test_segment_customers_job.py). The two periods' runs (`two_periods`,
tests/jobs/conftest.py) publish into TABLES_DATABASE, the second reading its export from a table.
"""

from __future__ import annotations

import json

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import score_customers, segment_customers
from segspark.edge import inputs as segio
from segspark.edge import outputs, tables, workflow
from segspark.errors import InputError
from segspark.orders import datagen
from segspark.orders.formats import built_in
from tests.builders import HEADER, PERIOD_1, PERIOD_2, PERIOD_ARGS, csv_line, published, run_job
from tests.jobs.conftest import TABLES_DATABASE as DATABASE

pytestmark = pytest.mark.e2e


def table(spark, name):
    return spark.table(f"{DATABASE}.{name}")


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
        tables.prepare(spark, database)


def test_a_run_killed_before_its_runs_row_leaves_the_current_view_as_it_was(spark, two_periods, monkeypatch, tmp_path):
    folder, _, second_run, _ = two_periods
    output = tmp_path / "out"  # its own folder: the two periods' output is read by other modules
    append = tables._append

    def killed_at_the_runs_row(frame, name):
        if name.endswith(tables.RUNS):
            raise KeyboardInterrupt  # as a kill arrives: after the data rows, before the runs row
        append(frame, name)

    monkeypatch.setattr(tables, "_append", killed_at_the_runs_row)
    with pytest.raises(KeyboardInterrupt):
        segment_customers.main(
            [
                "--input",
                str(folder / "period-1.csv"),
                "--output",
                str(output),
                "--publish-tables",
                DATABASE,
                *PERIOD_ARGS,
            ]
        )
    killed_run = published(output)  # its folder was published before the tables
    assert table(spark, tables.CUSTOMER_SEGMENTS).where(F.col("run_id") == killed_run.name).count() > 0
    current = table(spark, tables.CURRENT)
    assert [row.run_id for row in current.select("run_id").distinct().collect()] == [second_run.name]
    assert current.count() == spark.read.parquet(str(second_run / "customers")).count()
