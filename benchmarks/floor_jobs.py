"""Two yardsticks for benchmarks/run.py, each through ./spark-submit.sh in a fresh JVM:

    ./spark-submit.sh benchmarks/floor_jobs.py trivial                       # spark.range(10).count()
    ./spark-submit.sh benchmarks/floor_jobs.py typed-read --input data/bench/3M

`trivial` is the floor of any run (JVM, session, first job). `typed-read` is Spark's own typed CSV
reader (PERMISSIVE, corrupt-record column) plus the three feature aggregations, with none of
segspark's accounting: the limit its ingest is measured against. Prints the seconds by its own
clock (after the session is up) as `seconds: N`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from segspark.orders.formats import built_in  # noqa: E402
from segspark.orders.ingest import CORRUPT_RECORD_COLUMN, typed_csv_schema  # noqa: E402


def typed_read_features(spark: SparkSession, path: str) -> int:
    shopify = built_in("shopify")
    lines = (
        spark.read.schema(typed_csv_schema(shopify.schema))
        .options(
            header=True,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD_COLUMN,
            dateFormat=shopify.date_format,
        )
        .csv(path)
        .where("ordered_item_quantity > 0 AND customer_id IS NOT NULL")
    )
    per_order = lines.groupBy("customer_id", "order_id").agg(
        (-F.sum("returned_item_quantity") / F.sum("ordered_item_quantity")).alias("order_return_rate")
    )
    rates = per_order.groupBy("customer_id").agg(F.avg("order_return_rate").alias("average_return_rate"))
    totals = lines.groupBy("customer_id").agg(
        F.countDistinct("product_type").alias("products_ordered"), F.sum("total_sales").alias("total_spending")
    )
    return totals.join(rates, "customer_id").count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("trivial", "typed-read"))
    parser.add_argument("--input")
    args = parser.parse_args()
    spark = SparkSession.builder.appName(f"segspark-floor-{args.what}").getOrCreate()
    started = time.monotonic()
    if args.what == "trivial":
        spark.range(10).count()
    else:
        print(f"customers: {typed_read_features(spark, args.input)}")
    print(f"seconds: {time.monotonic() - started:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
