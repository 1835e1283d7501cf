"""Generate synthetic Shopify order lines (made in the executors, deterministic for a seed).

    ./spark-submit.sh jobs/generate_orders.py --lines 10000000 --output data/orders-10m --format parquet
"""

from __future__ import annotations

import argparse
import time

from pyspark.sql import SparkSession

from segspark import cli, datagen
from segspark import io as segio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="generate_orders.py", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=datagen.DEFAULT_LINES, help="order lines to make")
    parser.add_argument("--seed", type=int, default=2019, help="same seed, same lines")
    parser.add_argument("--output", required=True, help="folder to create (refused if it exists)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="file_format")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = SparkSession.builder.appName("segspark-generate-orders").getOrCreate()
    started = time.monotonic()
    lines = datagen.generate_order_lines(spark, lines=args.lines, seed=args.seed)
    if args.file_format == "csv":
        lines = datagen.as_export_text(lines)
    segio.write_order_lines(lines, args.output, args.file_format)
    print(
        f"generate_orders: {args.lines:,} lines (seed {args.seed}) written to {args.output} "
        f"as {args.file_format} in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    cli.run(main, "generate_orders")
