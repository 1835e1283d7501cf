"""Delta Lake and Iceberg tables whose files are on the test cluster's HDFS, read and published by
`./spark-submit.sh` runs with docs/tables.md's settings (a local master; the default filesystem HDFS).

Run A reads its lines from a Delta table named by its HDFS path and publishes into an Iceberg
catalog (type jdbc on SQLite, its warehouse on HDFS); run B reads an Iceberg table of that catalog
and publishes into Delta tables of a Hive catalog whose warehouse is on HDFS. Each run's customers
must be those of the same input's local-mode run, to the bit.
"""

from __future__ import annotations

import pytest

from segspark.edge import paths, tables
from tests.builders import submit
from tests.cluster.conftest import ARGS, HDFS, assert_same_customers, reference_customers
from tests.conftest import LAKEHOUSE_JARS

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

EXTENSIONS = "io.delta.sql.DeltaSparkSessionExtension,org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def iceberg_catalog(name: str, sqlite: str, warehouse: str) -> dict[str, str]:
    prefix = f"spark.sql.catalog.{name}"
    return {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "jdbc",
        f"{prefix}.uri": f"jdbc:sqlite:{sqlite}",
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": warehouse,
    }


def lakehouse_options(settings: dict[str, str]) -> tuple[str, ...]:
    jars = ",".join(str(jar) for jar in sorted(LAKEHOUSE_JARS.glob("*.jar")))
    conf = {
        "spark.sql.extensions": EXTENSIONS,
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        **settings,
    }
    return ("--master", "local[2]", "--jars", jars, *[part for k, v in conf.items() for part in ("--conf", f"{k}={v}")])


def published_run(spark, output: str) -> str:
    return paths.join(output, "runs", paths.read_text(spark, paths.join(output, "LATEST")).strip())


def test_runs_read_and_publish_delta_and_iceberg_tables_on_hdfs(
    spark, test_cluster, orders, local_run, root, tmp_path, lakehouse_session
):
    base = f"{HDFS}/{root}/lakehouse"
    reference = reference_customers(local_run)
    sqlite, iceberg_warehouse = str(tmp_path / "iceberg-catalog.db"), f"{base}/iceberg"
    iceberg = iceberg_catalog("lake_hdfs", sqlite, iceberg_warehouse)  # the test session reads it by that name

    # A: a Delta table named by its path on HDFS in, Iceberg tables on HDFS out
    delta_orders = f"{base}/orders-delta"
    spark.read.option("header", True).csv(str(orders)).write.format("delta").save(delta_orders)
    output_a = f"{base}/out-a"
    done = submit(
        "--input-table", f"delta.`{delta_orders}`", "--output", output_a, "--publish-tables", "lake_hdfs.shop", *ARGS,
        submit_options=lakehouse_options(iceberg), env=test_cluster.env,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run_a = published_run(spark, output_a)
    assert "published to the tables of lake_hdfs.shop" in done.stdout + done.stderr
    # the test session reads the same catalog (a JDBC catalog's tables are kept under its name), and the
    # run read version 0
    for key, value in iceberg_catalog("lake_hdfs", sqlite, iceberg_warehouse).items():
        spark.conf.set(key, value)
    current = spark.table(f"lake_hdfs.shop.{tables.CURRENT}").drop("segment_name", "out_of_range", "run_id")
    assert_same_customers(current.toPandas().sort_values("customer_id", ignore_index=True), reference)
    (runs_row,) = spark.table(f"lake_hdfs.shop.{tables.RUNS}").collect()
    assert runs_row.input == f"table:delta.`{delta_orders}` VERSION AS OF 0"
    assert runs_row.run_folder == run_a and set(runs_row.table_versions) >= {tables.CUSTOMER_SEGMENTS}
    files = spark.sql(f"SELECT file_path FROM lake_hdfs.shop.{tables.CUSTOMER_SEGMENTS}.files").collect()
    assert files and all(row.file_path.startswith(f"{iceberg_warehouse}/shop/") for row in files)

    # B: an Iceberg table on HDFS in, Delta tables in a Hive catalog whose warehouse is on HDFS out
    spark.sql("CREATE NAMESPACE IF NOT EXISTS lake_hdfs.shop")
    spark.read.option("header", True).csv(str(orders)).writeTo("lake_hdfs.shop.orders").using("iceberg").create()
    delta_warehouse = f"{base}/delta-warehouse"
    hive = {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": delta_warehouse,
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={tmp_path}/metastore_db;create=true",
        "spark.sql.sources.default": "delta",
        # Derby's log beside its metastore, not in the working folder (the repository)
        "spark.driver.extraJavaOptions": f"-Dderby.stream.error.file={tmp_path}/derby.log",
    }
    output_b = f"{base}/out-b"
    done = submit(
        "--input-table", "lake_hdfs.shop.orders", "--output", output_b, "--publish-tables", "shop", *ARGS,
        submit_options=lakehouse_options({**iceberg, **hive}), env=test_cluster.env,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run_b = published_run(spark, output_b)
    customers = spark.read.format("delta").load(f"{delta_warehouse}/shop.db/{tables.CUSTOMER_SEGMENTS}")
    found = customers.where(customers.run_id == run_b.rsplit("/", 1)[-1])
    assert_same_customers(
        found.drop("segment_name", "out_of_range", "run_id").toPandas().sort_values("customer_id", ignore_index=True),
        reference,
    )
    history = spark.sql(f"DESCRIBE HISTORY delta.`{delta_warehouse}/shop.db/{tables.RUNS}`").collect()
    assert [row.operation for row in sorted(history, key=lambda row: row.version)][-1] == "WRITE"
