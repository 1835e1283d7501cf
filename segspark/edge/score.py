"""The scoring job's phases: each takes what the one before gave.

    options -> start -> ingest -> score -> publish  (`main`)

The same ingest, rules and features as training (segspark.edge.workflow), then each customer placed
at the nearest saved centre, with its distance and whether it lies beyond the training's 99th
percentile for that segment.
"""

from __future__ import annotations

import argparse
import datetime
import time
from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from segspark import engine as engine_
from segspark.clustering import model, rfm, segments
from segspark.clustering.space import FeatureSpace
from segspark.config import Settings
from segspark.edge import cli, outputs, paths, runs, session, tables, tracking, workflow
from segspark.edge import inputs as segio
from segspark.errors import UsageError
from segspark.orders.feature_sets import FeatureSet
from segspark.orders.formats import SourceFormat
from segspark.report import artifact, summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="score_customers.py", description="Score new orders with a saved segspark model.")
    parser.add_argument(
        "--model", required=True,
        help="model, run or output folder of a segment run, or an MLflow model: models:/NAME/VERSION or runs:/ID/model",
    )  # fmt: skip
    parser.add_argument("--input", help="order lines: a file, a folder or a glob (or --input-table)")
    parser.add_argument("--output", required=True, help="folder that receives runs/<run_id>/ and LATEST")
    parser.add_argument(
        "--remote", metavar="sc://HOST:PORT", help="run over Spark Connect (as SPARK_REMOTE; docs/running.md)"
    )
    parser.add_argument(
        "--as-of",
        metavar="DATE",
        help="the analysis date of a model's date-based features (rfm's recency); default: the last order date",
    )
    cli.add_input_options(parser)
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Options:
    """What the scoring was asked for, typed and checked before Spark starts."""

    model: str
    input: str  # a path, or a catalog table as inputs.table_source(name)
    output: str
    publish_tables: str | None
    source_format: SourceFormat  # as given: the model's feature set may need its order date (start)
    as_of: datetime.date | None
    max_quarantined_share: float
    accept_quarantine: bool


def options(argv: list[str] | None = None) -> Options:
    args = parse_args(argv)
    workflow.use_remote(args.remote)
    settings = Settings.load(args.conf_file)
    given_input = workflow.input_option(args)
    if not given_input:
        raise UsageError("give the new orders with --input or --input-table")
    segio.check_input_exists(given_input)
    segio.check_output_location(given_input, args.output)
    return Options(
        model=args.model,
        input=given_input,
        output=args.output,
        publish_tables=args.publish_tables and tables.check_database_name(args.publish_tables),
        source_format=workflow.load_source_format(args.source_format or settings.input_format),
        as_of=workflow.as_of_date(args.as_of),
        max_quarantined_share=settings.max_quarantined_share,
        accept_quarantine=args.accept_quarantine,
    )


@dataclass
class Run:
    """A started scoring: its session, qualified paths, the model it scores with, its run folder."""

    spark: SparkSession
    options: Options
    input_path: str
    model_dir: str
    pipeline: PipelineModel
    metadata: dict
    feature_set: FeatureSet  # the model's
    source_format: SourceFormat  # with the order date mapped where the model's set needs it
    space: FeatureSpace  # the model's, with its z-score
    folder: runs.RunFolder
    started: float
    tables: tables.Tables | None


def start(options: Options) -> Run:
    """The session, every path qualified by Hadoop, and the model: found, loaded and checked against
    this input's definitions before any work."""
    from_mlflow = tracking.is_model_uri(options.model)
    catalog_output = workflow.catalog_for(
        options.output, options.input, options.publish_tables, None if from_mlflow else options.model
    )
    spark = session.start("segspark-score-customers", catalog_output)
    started = time.monotonic()
    input_path, output = workflow.qualified_input(spark, options.input), paths.qualified(spark, options.output)
    segio.check_output_location(input_path, output)
    if from_mlflow:  # the model as `segment_customers.py --track mlflow` logged it
        model_dir = options.model
        pipeline, metadata = tracking.load_model(spark, options.model, paths.join(output, "_mlflow_tmp"))
    else:
        model_dir = runs.resolve_model_dir(spark, paths.qualified(spark, options.model))
        check_not_training_output(model_dir, output)
        pipeline, metadata = outputs.load_model(spark, model_dir)
    feature_set = artifact.trained_feature_set(metadata, model_dir)
    source_format = workflow.format_for(feature_set, options.source_format, options.as_of)
    artifact.check_compatible(metadata, source_format, model_dir, feature_set)
    folder = runs.RunFolder.at(output, runs.new_run_id())
    published_tables = (
        workflow.prepare_tables(spark, options.publish_tables, output, "score", catalog_output or output, feature_set)
        if options.publish_tables
        else None
    )
    return Run(
        spark, options, input_path, model_dir, pipeline, metadata, feature_set, source_format,
        artifact.trained_space(metadata, feature_set), folder, started, published_tables,
    )  # fmt: skip


def check_not_training_output(model_dir: str, output: str) -> None:
    """Refuse to publish scoring runs where the model's own runs are: LATEST would then name a run
    without a model, and the next `--model` of that folder would find a scoring run."""
    trained_in = runs.training_output(model_dir)
    if trained_in and paths.Location.of(trained_in).contains(paths.Location.of(output)):
        raise UsageError(
            f"--output {output!r} is where the model's training runs are published ({trained_in}); "
            "give scoring runs a folder of their own"
        )


def ingest(run: Run) -> workflow.Ingested:
    """The same ingest, rules and features as training, and the quality gate."""
    options = run.options
    return workflow.ingest(
        run.spark, run.input_path, run.source_format, run.folder,
        options.max_quarantined_share, options.accept_quarantine, run.feature_set, options.as_of, segmenting=False,
    )  # fmt: skip


def score(run: Run, accounted: workflow.AccountedCustomers) -> tuple[dict, dict | None]:
    """Each customer at the nearest saved centre (with its distance in the model's space), written as
    the run's customers, scored for RFM on the training's breakpoints where the model has them;
    summary.json's `scoring` and, for a declared set, its `features` (with the named RFM segments' sizes)."""
    numbering = {int(c): s for c, s in run.metadata["segment_of_cluster"].items()}
    p99 = {int(s): q[-1] for s, q in run.metadata["distance_quantiles"]["by_segment"].items()}
    space = run.space
    scored = (
        segments.with_distance(
            run.pipeline.transform(space.with_points(accounted.customers)),
            model.centres_of(run.pipeline),
            space.point_columns,
        )  # fmt: skip
        .drop(*space.working_columns)
        .transform(lambda frame: segments.with_segments(frame, numbering))
        .transform(lambda frame: segments.with_out_of_range(frame, p99))
    )
    if run.metadata.get("rfm_breakpoints"):
        scored = rfm.with_rfm_segments(scored, run.metadata["rfm_breakpoints"], run.feature_set.segments)
    outputs.write_customers(scored, accounted.counts.customers, run.folder.file("customers"))
    written = run.spark.read.parquet(paths.glob_escaped(run.folder.file("customers")))
    by_segment = segments.sizes_and_out_of_range(written)
    sizes = {segment: size for segment, (size, _) in by_segment.items()}
    scoring = {
        "model": run.model_dir,
        "trained_on_run": run.metadata.get("trained_on_run"),
        "feature_set": run.feature_set.name,
        **({"segment_names": run.metadata["segment_names"]} if run.metadata.get("segment_names") else {}),
        "k": run.metadata["k"],
        "sizes": {str(s): sizes.get(s, 0) for s in sorted(numbering.values())},
        "out_of_range": sum(beyond for _, beyond in by_segment.values()),
    }
    if run.feature_set.built_in:
        return scoring, None
    described = {"set": run.feature_set.name, "columns": list(run.feature_set.columns), **accounted.features}
    if run.metadata.get("rfm_breakpoints"):
        named = rfm.customers_per_name(written, run.feature_set.segments)
        described["rfm"] = {"breakpoints": run.metadata["rfm_breakpoints"], "segments": named}
    return scoring, described


def publish(run: Run, ingested: workflow.Ingested, scoring: dict, features: dict | None = None) -> dict:
    """summary.json, then LATEST replaced: the scoring is visible only once complete."""
    spark, accounted, quality = run.spark, ingested.accounted, ingested.quality
    run_summary = summary.build_summary(
        run.folder.run_id, run.input_path, run.options.source_format, accounted.counts, session.master(spark),
        time.monotonic() - run.started, quality=quality, **({"features": features} if features else {}),
        scoring=scoring,
    )  # fmt: skip
    run_summary["run"]["guarantees"] = session.guarantees(spark)
    run_summary["run"]["engine"] = engine_.of(spark).name
    outputs.write_json(spark, run.folder.file(runs.SUMMARY), run_summary)
    accounted.release()
    workflow.publish_run(spark, run.folder, run_summary, run.tables, "score_customers")  # the tables, then LATEST
    print(summary.format_summary(run_summary, run.folder.path))
    print(f"  scored with {scoring['k']} segments; {scoring['out_of_range']:,} customers out of range")
    return run_summary


def main(argv: list[str] | None = None) -> int:
    """The scoring job: `jobs/score_customers.py` under spark-submit, `segspark-score` installed."""
    options_ = options(argv)  # read once, typed and checked before Spark starts
    run = start(options_)  # the session, every path qualified, the model found and checked
    ingested = ingest(run)  # the same ingest, rules and features as training
    scoring, features = score(run, ingested.accounted)  # each customer at the nearest saved centre
    publish(run, ingested, scoring, features)  # summary.json, then LATEST
    return 0
