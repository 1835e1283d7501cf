"""What several end-to-end modules read: two periods of runs, made once per test session."""

from __future__ import annotations

import pytest

from jobs import segment_customers
from tests.builders import PERIOD_1, PERIOD_2, PERIOD_ARGS, habit_orders_file, published, run_job

#: The database the two periods' runs publish into (the tests' session's built-in Hive catalog).
TABLES_DATABASE = "shop_segments"
#: The catalog table the second period's export is read from.
PERIOD_2_TABLE = "shop.orders_period_2"


@pytest.fixture(scope="session")
def two_periods(spark, tmp_path_factory):
    """Run 1 on period 1's export, run 2 (a refresh, into the same output folder) on period 2's read
    from a catalog table of the export's text; both publish into TABLES_DATABASE as well.

    Returns (folder, first run, second run, period 2's CSV); the output folder is folder / "out".
    """
    folder = tmp_path_factory.mktemp("refresh")
    first_input = habit_orders_file(folder, "period-1.csv", PERIOD_1)
    second_input = habit_orders_file(folder, "period-2.csv", PERIOD_2)
    spark.sql("CREATE DATABASE IF NOT EXISTS shop")
    spark.read.option("header", True).csv(str(second_input)).write.saveAsTable(PERIOD_2_TABLE)  # all text
    publish = ("--output", str(folder / "out"), "--publish-tables", TABLES_DATABASE, *PERIOD_ARGS)
    run_job(segment_customers, "--input", str(first_input), *publish)
    first_run = published(folder / "out")
    run_job(segment_customers, "--input-table", PERIOD_2_TABLE, *publish)
    return folder, first_run, published(folder / "out"), second_input
