"""The generate job: synthetic Shopify order lines, made in the executors, deterministic for a seed."""

from __future__ import annotations

import argparse
import time

from segspark.edge import cli, outputs, paths, session
from segspark.orders import datagen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="generate_orders.py", description="Generate synthetic Shopify order lines.")
    parser.add_argument("--lines", type=int, default=datagen.DEFAULT_LINES, help="order lines to make")
    parser.add_argument("--seed", type=int, default=2019, help="same seed, same lines")
    parser.add_argument("--output", required=True, help="folder to create (refused if it exists)")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="file_format")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """`jobs/generate_orders.py` under spark-submit, `segspark-generate` installed."""
    args = parse_args(argv)
    spark = session.start("segspark-generate-orders")
    started = time.monotonic()
    output = paths.qualified(spark, args.output)  # a bare path is on the default filesystem
    lines = datagen.generate_order_lines(spark, lines=args.lines, seed=args.seed)
    if args.file_format == "csv":
        lines = datagen.as_export_text(lines)
    outputs.write_order_lines(lines, output, args.file_format)
    print(
        f"generate_orders: {args.lines:,} lines (seed {args.seed}) written to {output} "
        f"as {args.file_format} in {time.monotonic() - started:.1f} s"
    )
    return 0
