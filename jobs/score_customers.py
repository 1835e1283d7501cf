"""Score new orders with a saved segspark model: the same features, the saved segments.

    ./spark-submit.sh jobs/score_customers.py --model out --input NEW_ORDERS --output DIR

--model takes a model folder, a run folder, or an output folder (its LATEST run's model, or its newest
run with a model where LATEST names one without). Scoring runs go to an output folder of their own. Each
customer gets the segment of the nearest saved centre, distance_to_centre, and out_of_range: true
when farther from that centre than the training's 99th-percentile distance for the segment.
"""

from __future__ import annotations

import argparse
import time

from segspark import artifact, cli, model, paths, runs, segments, session, summary, workflow
from segspark import io as segio
from segspark.config import load_settings, setting
from segspark.errors import UsageError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="score_customers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model, run or output folder of a segment run")
    parser.add_argument("--input", required=True, help="order lines: a file, a folder or a glob")
    parser.add_argument("--output", required=True, help="folder that receives runs/<run_id>/ and LATEST")
    cli.add_input_options(parser)
    return parser.parse_args(argv)


def check_not_training_output(model_dir: str, output: str) -> None:
    """Refuse to publish scoring runs where the model's own runs are: LATEST would then name a run
    without a model, and the next `--model` of that folder would find a scoring run."""
    trained_in = runs.training_output(model_dir)
    if trained_in and paths.Location.of(trained_in).contains(paths.Location.of(output)):
        raise UsageError(
            f"--output {output!r} is where the model's training runs are published ({trained_in}); "
            "give scoring runs a folder of their own"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(args.conf_file)
    source_format = workflow.load_source_format(args.source_format or setting(settings, "input.format"))
    segio.check_input_exists(args.input)
    segio.check_output_location(args.input, args.output)

    spark = session.start("segspark-score-customers")
    started = time.monotonic()
    input_path, output = paths.qualified(spark, args.input), paths.qualified(spark, args.output)
    segio.check_output_location(input_path, output)
    model_dir = runs.resolve_model_dir(spark, paths.qualified(spark, args.model))
    check_not_training_output(model_dir, output)
    pipeline, metadata = segio.load_model(spark, model_dir)
    artifact.check_compatible(metadata, source_format, model_dir)
    run = runs.RunFolder.at(output, runs.new_run_id())
    quarantine_path = run.file("quarantine")
    accounted = workflow.accounted_customers(spark, input_path, source_format, quarantine_path)
    max_share = setting(settings, "quality.max_quarantined_share")
    quality = workflow.check_quality(accounted, max_share, args.accept_quarantine, quarantine_path)

    numbering = {int(c): s for c, s in metadata["segment_of_cluster"].items()}
    p99 = {int(s): q[-1] for s, q in metadata["distance_quantiles"]["by_segment"].items()}
    scored = (
        segments.with_distance(pipeline.transform(accounted.customers), model.centres_of(pipeline))
        .transform(lambda frame: segments.with_segments(frame, numbering))
        .transform(lambda frame: segments.with_out_of_range(frame, p99))
    )
    scored.orderBy("customer_id").write.parquet(run.file("customers"))
    scored_parquet = spark.read.parquet(paths.glob_escaped(run.file("customers")))
    by_segment = segments.sizes_and_out_of_range(scored_parquet)
    sizes = {segment: size for segment, (size, _) in by_segment.items()}
    out_of_range = sum(beyond for _, beyond in by_segment.values())

    scoring = {
        "model": model_dir,
        "trained_on_run": metadata.get("trained_on_run"),
        "k": metadata["k"],
        "sizes": {str(s): sizes.get(s, 0) for s in sorted(numbering.values())},
        "out_of_range": out_of_range,
    }
    run_summary = summary.build_summary(
        run.run_id, input_path, source_format, accounted.counts, spark.sparkContext.master, time.monotonic() - started,
        quality=quality, scoring=scoring,
    )
    run_summary["run"]["guarantees"] = session.guarantees(spark)
    segio.write_json(spark, run.file(runs.SUMMARY), run_summary)
    runs.publish(spark, run)
    accounted.release()
    print(summary.format_summary(run_summary, run.path))
    print(f"  scored with {metadata['k']} segments; {out_of_range:,} customers out of range")
    return 0


if __name__ == "__main__":
    cli.run(main, "score_customers")
