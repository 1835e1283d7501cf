"""Segment customers from e-commerce order lines: read, account for every line, compute features.

    ./spark-submit.sh jobs/segment_customers.py --input PATH --output DIR [--format shopify]

With no --input it uses the built-in sample (generated on first use); with no --output, out/.
A run is written to <output>/runs/<run_id>/ and published by replacing <output>/LATEST last.
"""

from __future__ import annotations

import argparse
import time

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from segspark import accounting, cli, datagen, features, summary
from segspark import io as segio
from segspark.config import load_settings, project_path, setting
from segspark.errors import UsageError
from segspark.ingest import QUARANTINE_COLUMNS, require_lines
from segspark.schemas import FEATURE_INPUT_COLUMNS, SHOPIFY_ORDER_LINES

SOURCE_FORMATS = {"shopify": SHOPIFY_ORDER_LINES}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segment_customers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="order lines: a file, a folder or a glob (CSV or Parquet)")
    parser.add_argument("--output", help="folder that receives runs/<run_id>/ and LATEST")
    parser.add_argument("--format", dest="source_format", help="source format (default from conf)")
    parser.add_argument("--conf-file", help="settings file (default conf/segspark.toml)")
    return parser.parse_args(argv)


def ensure_sample(spark: SparkSession, settings: dict) -> str:
    """The built-in sample: the generator at its configured size, made once and kept under data/."""
    path = project_path(setting(settings, "sample.path"))
    if not segio.path_exists(spark, path):
        lines = datagen.generate_order_lines(
            spark, lines=setting(settings, "sample.lines"), seed=setting(settings, "sample.seed")
        )
        segio.write_order_lines(datagen.as_export_text(lines), path, "csv")
        print(f"segment_customers: made the built-in sample at {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(args.conf_file)
    source_format = args.source_format or setting(settings, "input.format")
    if source_format not in SOURCE_FORMATS:
        raise UsageError(f"unknown --format {source_format!r}; known: {', '.join(SOURCE_FORMATS)}")
    output_dir = args.output or project_path(setting(settings, "output.dir"))
    if args.input:
        segio.check_output_location(args.input, output_dir)

    spark = SparkSession.builder.appName("segspark-segment-customers").getOrCreate()
    started = time.monotonic()
    input_path = args.input or ensure_sample(spark, settings)
    segio.check_output_location(input_path, output_dir)
    run_id = segio.new_run_id()

    # Extract: typed lines, each marked with the first quarantine or exclusion rule that applies.
    # Persisted once: the counts, the quarantine and the features all read it.
    lines = (
        segio.read_order_lines(
            spark,
            input_path,
            SOURCE_FORMATS[source_format],
            FEATURE_INPUT_COLUMNS,
            setting(settings, f"{source_format}.date_format"),
        )
        .transform(features.mark_line_exclusions)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    line_outcomes = accounting.line_outcomes(lines)
    require_lines(sum(line_outcomes.values()), input_path)

    is_quarantined = F.col("quarantine_rule").isNotNull()
    is_usable = ~is_quarantined & F.col("exclusion_rule").isNull()
    lines.where(is_quarantined).select(*QUARANTINE_COLUMNS).write.json(
        segio.run_path(output_dir, run_id, "quarantine")
    )

    # Transform: the three features per customer, then the customer rule.
    customers = (
        features.customer_features(lines.where(is_usable))
        .transform(features.mark_customer_exclusions)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = accounting.reconcile(line_outcomes, accounting.customer_outcomes(customers))

    # Load: the customers table, the summary, and last of all the LATEST pointer.
    (
        customers.where(F.col("exclusion_rule").isNull())
        .transform(features.with_log_features)
        .orderBy("customer_id")
        .write.parquet(segio.run_path(output_dir, run_id, "customers"))
    )
    run_summary = summary.build_summary(
        run_id,
        input_path,
        source_format,
        counts,
        spark.sparkContext.master,
        time.monotonic() - started,
    )
    segio.write_json(spark, segio.run_path(output_dir, run_id, "summary.json"), run_summary)
    segio.publish(spark, output_dir, run_id)
    customers.unpersist()
    lines.unpersist()
    print(summary.format_summary(run_summary, segio.run_path(output_dir, run_id)))
    return 0


if __name__ == "__main__":
    cli.run(main, "segment_customers")
