"""Small hand-written order lines for tests: give the columns that matter, the rest get defaults."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from segspark.orders.formats import built_in

SHOPIFY_ORDER_LINES = built_in("shopify").schema

DEFAULTS = {
    "product_title": "Shirt - Style 1",
    "product_type": "Shirts",
    "variant_title": "M",
    "variant_sku": "SHI-1-M",
    "variant_id": 40000000012,
    "customer_id": 1,
    "order_id": 100,
    "day": dt.date(2018, 11, 23),
    "net_quantity": 1,
    "gross_sales": 10.0,
    "discounts": 0.0,
    "returns": 0.0,
    "net_sales": 10.0,
    "taxes": 2.0,
    "total_sales": 12.0,
    "returned_item_quantity": 0,
    "ordered_item_quantity": 1,
}

HEADER = ",".join(SHOPIFY_ORDER_LINES.fieldNames())


def order_lines(spark: SparkSession, *rows: dict) -> DataFrame:
    """A typed Shopify order-lines DataFrame from partial rows."""
    full = [tuple({**DEFAULTS, **row}[name] for name in SHOPIFY_ORDER_LINES.fieldNames()) for row in rows]
    return spark.createDataFrame(full, SHOPIFY_ORDER_LINES)


def csv_line(**overrides: object) -> str:
    """One export line as text (day as dd/MM/yyyy), with the given columns replaced verbatim."""
    values = {**DEFAULTS, "day": "23/11/2018", **overrides}
    return ",".join("" if values[name] is None else str(values[name]) for name in SHOPIFY_ORDER_LINES.fieldNames())


def orders_file(folder: Path, customers: int = 40) -> Path:
    """orders.csv with 1-3 orders per customer, a few product types, some returns and zero spend."""
    lines = [HEADER]
    for customer in range(1, customers + 1):
        for order in range(1 + customer % 3):
            lines.append(
                csv_line(
                    customer_id=customer,
                    order_id=customer * 10 + order,
                    product_type=f"type{customer % 5}",
                    total_sales=float(customer * (order + 1) % 97),
                    ordered_item_quantity=1 + order,
                    returned_item_quantity=-(customer % 4 == 0),
                )
            )
    path = folder / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


#: Three habits far apart in the features: (product types, returned units per 2 ordered, spending).
HABITS = {"low": (1, 0, 20.0), "returner": (2, 1, 300.0), "big": (6, 0, 5_000.0)}


def habit_orders_file(folder: Path, name: str, habits: dict[int, str]) -> Path:
    """A CSV export where each customer (id -> habit) orders as its habit says: one order, one line
    per product type, 2 units a line, the habit's returns and spending (varied a little by id)."""
    lines = [HEADER]
    for customer, habit in sorted(habits.items()):
        types, returned, spending = HABITS[habit]
        for position in range(types):
            lines.append(
                csv_line(
                    customer_id=customer,
                    order_id=customer * 100,
                    product_type=f"type{position}",
                    ordered_item_quantity=2,
                    returned_item_quantity=-returned,
                    total_sales=round(spending * (1 + 0.01 * (customer % 7)) / types, 2),
                )
            )
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


#: Two periods of habit_orders_file customers: in period 2, 57 of period 1's again, customers 1-5
#: moved from the low spenders to the big spenders on purpose, 3 gone, 6 new (tests/jobs/conftest.py).
PERIOD_1 = {c: "low" for c in range(1, 21)} | {c: "returner" for c in range(21, 41)} | {c: "big" for c in range(41, 61)}
MOVERS = range(1, 6)
PERIOD_2 = (
    {c: habit for c, habit in PERIOD_1.items() if c <= 57}
    | {c: "big" for c in MOVERS}
    | {61: "low", 62: "low", 63: "returner", 64: "returner", 65: "big", 66: "big"}
)
PERIOD_ARGS = ("--k", "3", "--k-range", "1..4", "--restarts", "2")


# --- running jobs and reading what they published ----------------------------------------------


def submit(
    *args: str,
    job: str = "jobs/segment_customers.py",
    submit_options: tuple[str, ...] = ("--master", "local[2]"),
    env=None,
) -> subprocess.CompletedProcess:
    """Run a job; spark-submit passes the Python driver's stderr through its stdout."""
    return subprocess.run(
        ["./spark-submit.sh", *submit_options, job, *args],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_job(job, *args: str) -> None:
    """A job's main() in this session, as spark-submit would run it; a failure raises here."""
    assert job.main(list(args)) == 0


def published(output: Path) -> Path:
    """The run folder LATEST names."""
    return output / "runs" / (output / "LATEST").read_text().strip()


def viewfs(spark, folder) -> str:
    """A viewfs:// mount of a local folder: a filesystem segspark reaches only through Hadoop."""
    table = f"segspark{abs(hash(str(folder)))}"
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.viewfs.mounttable.{table}.link./data", f"file://{folder}")
    return f"viewfs://{table}/data"


def publish_at_once(spark, published_tables, name: str, publishers: int, rows_each: int, partitions: int) -> list:
    """`publishers` threads each appending `rows_each` migration rows (run_id r0, r1, ...) to table
    `name` under the database's publishing lock, all at once; the errors they raised."""
    import threading

    from segspark.edge import tables

    failures: list = []

    def publish(run: str) -> None:
        rows = spark.range(rows_each).selectExpr(
            f"'{run}' AS run_id", "'previous' AS previous_run", "CAST(id % 7 AS INT) AS from_segment",
            "CAST(id % 5 AS INT) AS to_segment", "id AS customers",
        ).repartition(partitions)  # fmt: skip
        try:
            with tables.publishing(spark, published_tables, f"run {run}"):
                tables._append(rows, name)
        except Exception as error:  # noqa: BLE001 - returned to the test
            failures.append(error)

    threads = [threading.Thread(target=publish, args=(f"r{i}",)) for i in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
