"""Score new orders with a saved segspark model: the same features, the saved segments.

    ./spark-submit.sh jobs/score_customers.py --model out --input NEW_ORDERS --output DIR

--model takes a model folder, a run folder, or an output folder (its LATEST run's model). Each
customer gets the segment of the nearest saved centre, distance_to_centre, and out_of_range: true
when farther from that centre than the training's 99th-percentile distance for the segment.
"""

from __future__ import annotations

import argparse
import time

from pyspark.sql import SparkSession

from segspark import cli, model, segments, summary, workflow
from segspark import io as segio
from segspark.config import load_settings, setting


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="score_customers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model, run or output folder of a segment run")
    parser.add_argument("--input", required=True, help="order lines: a file, a folder or a glob")
    parser.add_argument("--output", required=True, help="folder that receives runs/<run_id>/ and LATEST")
    parser.add_argument(
        "--format",
        dest="source_format",
        help="source format: shopify, online_retail, or a format file (.toml); default from conf",
    )
    parser.add_argument("--conf-file", help="settings file (default conf/segspark.toml)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(args.conf_file)
    source_format = workflow.load_source_format(args.source_format or setting(settings, "input.format"))
    segio.check_output_location(args.input, args.output)

    spark = SparkSession.builder.appName("segspark-score-customers").getOrCreate()
    started = time.monotonic()
    pipeline, metadata = segio.load_model(spark, args.model)
    run_id = segio.new_run_id()
    accounted = workflow.accounted_customers(
        spark,
        args.input,
        source_format,
        segio.run_path(args.output, run_id, "quarantine"),
    )

    numbering = {int(c): s for c, s in metadata["segment_of_cluster"].items()}
    p99 = {int(s): q[-1] for s, q in metadata["distance_quantiles"]["by_segment"].items()}
    scored = (
        segments.with_distance(pipeline.transform(accounted.customers), model.centres_of(pipeline))
        .transform(lambda frame: segments.with_segments(frame, numbering))
        .transform(lambda frame: segments.with_out_of_range(frame, p99))
    )
    scored.orderBy("customer_id").write.parquet(segio.run_path(args.output, run_id, "customers"))
    scored_parquet = spark.read.parquet(segio.run_path(args.output, run_id, "customers"))
    by_segment = segments.sizes_and_out_of_range(scored_parquet)
    sizes = {segment: size for segment, (size, _) in by_segment.items()}
    out_of_range = sum(beyond for _, beyond in by_segment.values())

    run_summary = summary.build_summary(
        run_id, args.input, source_format, accounted.counts, spark.sparkContext.master, time.monotonic() - started
    )
    run_summary["scoring"] = {
        "model": args.model,
        "trained_on_run": metadata.get("trained_on_run"),
        "k": metadata["k"],
        "sizes": {str(s): sizes.get(s, 0) for s in range(metadata["k"])},
        "out_of_range": out_of_range,
    }
    segio.write_json(spark, segio.run_path(args.output, run_id, "summary.json"), run_summary)
    segio.publish(spark, args.output, run_id)
    accounted.release()
    print(summary.format_summary(run_summary, segio.run_path(args.output, run_id)))
    print(f"  scored with {metadata['k']} segments; {out_of_range:,} customers out of range")
    return 0


if __name__ == "__main__":
    cli.run(main, "score_customers")
