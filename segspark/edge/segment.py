"""The segment job's phases: each takes what the one before gave, so `jobs/segment_customers.py`
reads as the run itself.

    options -> start -> ingest -> sweep -> segment -> publish  (`main`)

`options` reads the command line and the settings once, typed and checked, before Spark starts;
`start` opens the session and finds every path and the previous run; the others are the run's
phases, each timed (summary.json `run.phases`).
"""

from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass
from typing import Any, Mapping

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession

from segspark import engine as engine_
from segspark import refresh
from segspark.clustering import choose_k, model, rfm, segments, stability
from segspark.clustering import space as space_
from segspark.config import IN_CHECKOUT, SampleSettings, Settings, project_path
from segspark.edge import cli, outputs, paths, runs, session, tables, tracking, workflow
from segspark.edge import inputs as segio
from segspark.errors import InputError, UsageError
from segspark.orders import datagen
from segspark.orders.feature_sets import FeatureSet
from segspark.orders.formats import SourceFormat
from segspark.parallel import concurrently
from segspark.report import artifact, naming, profiles, pseudonyms, report, summary

JOB = "segment_customers"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.ArgumentParser(
        prog="segment_customers.py", description="Segment customers from e-commerce order lines."
    )
    parser.add_argument(
        "--input", help="order lines: a file, a folder or a glob (CSV or Parquet); default: the built-in sample"
    )
    parser.add_argument("--output", help="folder that receives runs/<run_id>/ and LATEST")
    parser.add_argument(
        "--remote", metavar="sc://HOST:PORT", help="run over Spark Connect (as SPARK_REMOTE; docs/running.md)"
    )
    cli.add_input_options(parser)
    parser.add_argument("--k", type=int, help="segment with this k instead of choosing it from the elbow")
    parser.add_argument("--k-range", help="the sweep's k_min..k_max, e.g. 1..15 (default from conf)")
    parser.add_argument(
        "--restarts", type=int, help="k-means++ initialisations per k on the seeding sample (default from conf)"
    )
    parser.add_argument("--seed", type=int, help="KMeans seed (default from conf)")
    parser.add_argument(
        "--stability", type=int, dest="stability_resamples", help="resamples per k for stability, 0 to skip (conf)"
    )
    parser.add_argument(
        "--features", metavar="SET", help="feature set: seed, rfm, or a feature set file (.toml); default from conf"
    )
    parser.add_argument(
        "--as-of",
        metavar="DATE",
        help="the analysis date of date-based features (rfm's recency); default: the last order date",
    )
    parser.add_argument("--png", action="store_true", help="also write each chart as PNG (needs a Chromium)")
    parser.add_argument(
        "--track", choices=tracking.TRACKERS, help="record the published run in MLflow (default: [tracking] tracker)"
    )
    parser.add_argument("--register-model", metavar="NAME", help="with --track mlflow: register the model as NAME")
    parser.add_argument("--previous", help="compare with this run (an output or run folder); default: --output's")
    parser.add_argument("--no-previous", action="store_true", help="do not compare with a previous run")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Options:
    """Everything the run was asked for, from the command line over the settings, typed and checked."""

    input: str | None  # None: the built-in sample; a catalog table as inputs.table_source(name)
    output: str
    publish_tables: str | None  # a database, or None
    previous: str | None
    no_previous: bool
    source_format: SourceFormat
    feature_set: FeatureSet
    as_of: datetime.date | None
    k_min: int
    k_max: int
    given_k: int | None
    kmeans: model.KMeansSettings
    refresh: refresh.RefreshSettings
    report: Mapping[str, Any]
    max_quarantined_share: float
    accept_quarantine: bool
    png: bool
    pseudonym_key: pseudonyms.PseudonymKey
    sample: SampleSettings
    tracking: tracking.TrackingSettings


def options(argv: list[str] | None = None) -> Options:
    """The run's options, read once and checked before Spark starts: a mistake here is said at once
    (exit 64), not after ingest or the sweep."""
    args = parse_args(argv)
    workflow.use_remote(args.remote)
    settings = Settings.load(args.conf_file)
    k_min, k_max = _k_range(args, settings)
    output = args.output or paths.local_uri(project_path(settings.output_dir))
    given_input = workflow.input_option(args)
    if given_input:
        segio.check_input_exists(given_input)
        segio.check_output_location(given_input, output)
    feature_set, source_format, as_of = workflow.feature_options(
        args.features or settings.feature_set, workflow.load_source_format(args.source_format or settings.input_format),
        args.as_of,
    )  # fmt: skip
    tracked = tracking.TrackingSettings.from_settings(settings.tracking, args.track, args.register_model)
    tracking.check(tracked, output)
    return Options(
        input=given_input,
        output=output,
        publish_tables=args.publish_tables and tables.check_database_name(args.publish_tables),
        previous=args.previous,
        no_previous=args.no_previous,
        source_format=source_format,
        feature_set=feature_set,
        as_of=as_of,
        k_min=k_min,
        k_max=k_max,
        given_k=args.k,
        kmeans=model.KMeansSettings.from_settings(
            settings.model, restarts=args.restarts, seed=args.seed, stability_resamples=args.stability_resamples
        ),
        refresh=refresh.RefreshSettings.from_settings(settings.refresh),
        report=settings.report,
        max_quarantined_share=settings.max_quarantined_share,
        accept_quarantine=args.accept_quarantine,
        png=args.png,
        pseudonym_key=pseudonyms.load_key(),
        sample=settings.sample,
        tracking=tracked,
    )


def _k_range(args: argparse.Namespace, settings: Settings) -> tuple[int, int]:
    if args.k_range:
        try:
            k_min, k_max = (int(part) for part in args.k_range.split(".."))
        except ValueError:
            raise UsageError(f"--k-range {args.k_range!r}: write it as K_MIN..K_MAX, e.g. 1..15") from None
    else:
        k_min, k_max = settings.model["k_min"], settings.model["k_max"]
    if not 1 <= k_min <= k_max or k_max < 2:
        raise UsageError(f"k range {k_min}..{k_max}: need 1 <= k_min <= k_max and k_max >= 2 (k = 1 is one segment)")
    if args.k is not None and args.k < 2:
        raise UsageError(f"--k {args.k}: segmenting needs k >= 2")
    if args.restarts is not None and args.restarts < 1:
        raise UsageError(f"--restarts {args.restarts}: need at least 1")
    if args.stability_resamples is not None and args.stability_resamples < 0:
        raise UsageError(f"--stability {args.stability_resamples}: need 0 (skip) or more")
    return k_min, k_max


@dataclass
class Run:
    """A started run: its session, its qualified paths, its folder, the previous run (or why none)."""

    spark: SparkSession
    options: Options
    input_path: str
    folder: runs.RunFolder
    previous: refresh.PreviousRun | refresh.NotCompared
    phases: summary.Phases
    tables: tables.Tables | None
    engine: engine_.Engine


def start(options: Options) -> Run:
    """The session, every path as the session's Hadoop qualifies it (a bare path is on the default
    filesystem: the whole run, its pointer and its report land in one place, read back the same
    way), this run's folder and the run it compares with."""
    catalog_output = workflow.catalog_for(options.output, options.input, options.publish_tables)
    spark = session.start("segspark-segment-customers", catalog_output)
    engine = engine_.of(spark)
    phases = summary.Phases(JOB, engine.jobs_started)
    output = paths.qualified(spark, options.output)
    input_path = (
        workflow.qualified_input(spark, options.input)
        if options.input
        else ensure_sample(spark, options.sample, output)
    )
    segio.check_output_location(input_path, output)
    previous = (
        refresh.NotCompared("--no-previous was given")
        if options.no_previous
        else workflow.previous_run(
            spark,
            paths.qualified(spark, options.previous or output),
            options.source_format,
            bool(options.previous),
            options.feature_set,
        )  # fmt: skip
    )
    published_tables = (
        workflow.prepare_tables(
            spark, options.publish_tables, output, "segment", catalog_output or output, options.feature_set
        )
        if options.publish_tables
        else None
    )
    folder = runs.RunFolder.at(output, runs.new_run_id())
    return Run(spark, options, input_path, folder, previous, phases, published_tables, engine)


def ensure_sample(spark: SparkSession, sample: SampleSettings, output: str) -> str:
    """The built-in sample: the generator at its configured size, made once and kept: in a checkout on
    a local master under data/ (on the driver's disk, whatever the default filesystem); on a cluster
    (whose executors cannot read the driver's disk), over Spark Connect (the driver is the server)
    or where segspark is installed (site-packages is no place to write), under the output folder."""
    if IN_CHECKOUT and session.driver_is_here(spark) and session.master(spark).startswith("local"):
        path = paths.local_uri(project_path(sample.path))
    else:
        path = paths.join(output, "built-in-sample")
    if not paths.exists(spark, paths.join(path, paths.SUCCESS)):
        if paths.exists(spark, path):
            raise InputError(
                f"{path}: the built-in sample there is incomplete (no {paths.SUCCESS}: the run making it was "
                "stopped); remove the folder, or give --input"
            )
        lines = datagen.generate_order_lines(spark, lines=sample.lines, seed=sample.seed)
        outputs.write_order_lines(datagen.as_export_text(lines), path, "csv")
        print(f"{JOB}: made the built-in sample at {path}")
    return path


def ingest(run: Run) -> workflow.Ingested:
    """Extract and transform: every line accounted for, the features per customer, the quality gate."""
    options = run.options
    ingested = workflow.ingest(
        run.spark, run.input_path, options.source_format, run.folder,
        options.max_quarantined_share, options.accept_quarantine, options.feature_set, options.as_of,
    )  # fmt: skip
    run.phases.end("ingest and features")
    return ingested


@dataclass
class Swept:
    """The elbow (every k measured on all customers, with its stability) and the k chosen from it."""

    training: model.TrainingSet
    elbow: model.Sweep
    stabilities: dict[int, stability.Stability]
    choice: choose_k.KChoice
    space: space_.FeatureSpace  # the space KMeans worked in (the z-score fitted, where the set has one)
    points: DataFrame  # the customers with the space's point columns


def sweep(run: Run, ingested: workflow.Ingested) -> Swept:
    """The elbow: seeds from a bounded sample, MLlib's Lloyd on the training points, each k measured on
    all customers; stability refits on halves of the seeding sample beside it (they need no k's
    model, and the sweep's time is mostly Spark's); then the choice of k."""
    options, count = run.options, ingested.accounted.counts.customers
    space = space_.of(options.feature_set)
    if options.feature_set.scale:
        space = space_.standardised(space, ingested.accounted.customers)
    customers = space.with_points(ingested.accounted.customers)
    training = model.training_set(customers, count, options.kmeans, space.point_columns)
    ks = sweep_range(options.k_min, options.k_max, options.given_k, count, training.distinct_points())
    trained_on = "each customer" if training.every_customer else f"a uniform sample of {training.points:,}"
    print(f"{JOB}: {count:,} customers, trained on {trained_on}; elbow over k = {ks[0]}..{ks[-1]}")
    kmeans = options.kmeans
    elbow, refitted = concurrently(
        lambda: model.sweep(
            run.engine, customers, training, ks, kmeans, given_k=options.given_k,
            order_column=space.order_feature,
        ),  # fmt: skip
        lambda: stability.refits(
            training.sample, model.ks_to_fit(ks, options.given_k), kmeans.stability_resamples,
            kmeans.restarts, kmeans.seed,
        ),
    )  # fmt: skip
    run.phases.end("elbow sweep")
    stabilities = stability.scored(training.sample, {k: fit.centres for k, fit in elbow.fits.items()}, refitted)
    elbow = elbow.with_stability({k: s.as_dict() for k, s in stabilities.items()})
    choice = choose_k.choose_k(
        [p.k for p in elbow.points], [p.cost for p in elbow.points], [p.silhouette for p in elbow.points],
        options.given_k, {k: s.ari_mean for k, s in stabilities.items()} or None,
    )  # fmt: skip
    print(f"{JOB}: k = {choice.k} ({choice.rule}): {choice.explanation}")
    run.phases.end("stability")
    return Swept(training, elbow, stabilities, choice, space, customers)


def sweep_range(
    k_min: int, k_max: int, given_k: int | None, customers: int, distinct_customers: int | None
) -> list[int]:
    """The ks to sweep: k_min..k_max, at most the number of (distinct) customers."""
    ks = choose_k.sweep_ks(k_min, k_max, customers, given_k, distinct_customers)
    if ks[-1] < k_max:
        limit = distinct_customers if distinct_customers is not None and distinct_customers < customers else None
        why = f"only {limit} customers differ in their features" if limit else f"there are only {customers} customers"
        print(f"{JOB}: k range cut to {ks[0]}..{ks[-1]}: {why}")
    return ks


@dataclass
class Segmented:
    """The chosen k's model, every customer's segment, the segments' profiles and names, and what
    the refresh found."""

    pipeline: PipelineModel
    customers: DataFrame  # persisted: released by publish
    numbering: dict[int, int]
    profiles: profiles.Profiles
    names: list[naming.SegmentName]
    model_summary: dict
    refresh: dict
    metadata: dict  # segspark-model.json


def segment(run: Run, ingested: workflow.Ingested, swept: Swept) -> Segmented:
    """The chosen k's model saved, each customer's segment and distance, one profile aggregation;
    segment ids by mean spending, or, on a refresh, the previous run's ids for the segments matched."""
    spark, options, space = run.spark, run.options, swept.space
    pipeline = model.pipeline_model(run.engine, swept.elbow.fits[swept.choice.k].centres, space.stages())
    cluster_centres = model.centres_of(pipeline)
    measured = (
        segments.with_distance(pipeline.transform(swept.points), cluster_centres, space.point_columns)
        .drop(model.FEATURES_VECTOR, *space.working_columns)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    cluster_profiles, _ = concurrently(
        lambda: profiles.profile(measured, model.CLUSTER, space), lambda: pipeline.write().save(run.folder.model_dir)
    )
    numbering = segments.segment_numbering(cluster_profiles.mean_spending, cluster_centres, space.order_axis)
    refreshed = None
    if isinstance(run.previous, refresh.PreviousRun):  # a refresh: matched segments keep their ids
        refreshed = refresh.compare(
            run.previous, measured, model.CLUSTER, [space.to_model(c) for c in cluster_centres], numbering,
            ingested.accounted.counts.customers, options.refresh,
        )  # fmt: skip
        numbering = refreshed.numbering
    segment_profiles = cluster_profiles.renumbered(numbering)
    segmented = segments.with_segments(measured, numbering)
    segment_centres = {numbering[c]: centre for c, centre in enumerate(cluster_centres)}
    scored = rfm_scored(run, segmented, segment_centres, space)
    described_rfm = None
    if scored is not None:
        segmented, described_rfm, names = scored
        ingested.accounted.features["rfm"] = described_rfm
    elif options.feature_set.built_in:
        names = naming.segment_names(segment_profiles.feature_quantiles)  # from the data, also on a refresh
    else:
        names = naming.labelled_segment_names(segment_profiles.feature_quantiles, space.features, space.labels)
    outputs.write_customers(segmented, ingested.accounted.counts.customers, run.folder.file("customers"))
    fitted = summary.model_summary(
        swept.choice, options.kmeans, swept.training, segment_profiles, segment_centres, names,
        stability.by_segment(swept.stabilities.get(swept.choice.k), numbering),
        refresh.highest_issued(numbering, run.previous if refreshed else None), space,
    )  # fmt: skip
    if refreshed:
        block = {**refreshed.block, "renamed": refresh.renamed(refreshed.block, {n.segment: n.name for n in names})}
        refresh_block = refresh.with_drift(block, run.previous, segmented, segment_profiles.overall_medians())
    else:
        refresh_block = refresh.not_compared(run.previous)
    metadata = artifact.model_metadata(
        run.folder.run_id, fitted, numbering, segment_profiles, options.source_format, space, options.feature_set,
        described_rfm and described_rfm["breakpoints"], {n.segment: n.name for n in names},
    )  # fmt: skip
    outputs.write_model_metadata(spark, run.folder.model_dir, metadata)
    run.phases.end("segments and model")
    return Segmented(pipeline, segmented, numbering, segment_profiles, names, fitted, refresh_block, metadata)


def rfm_scored(
    run: Run, segmented: DataFrame, segment_centres: dict[int, list[float]], space: space_.FeatureSpace
) -> tuple[DataFrame, dict, list[naming.SegmentName]] | None:
    """For a set with recency, frequency and monetary: every customer's R, F and M scores and named
    RFM segment, the breakpoints and customers per name (summary.json), and the KMeans segments named
    in the same vocabulary (each centre scored on the same breakpoints). None for other sets."""
    feature_set = run.options.feature_set
    if not feature_set.rfm:
        return None
    found = rfm.breakpoints(segmented, feature_set)
    scored = rfm.with_rfm_segments(segmented, found, feature_set.segments)
    in_order = rfm.customers_per_name(scored, feature_set.segments)
    centres = {s: dict(zip(space.features, space.to_original(c))) for s, c in segment_centres.items()}
    names = naming.rfm_segment_names(centres, found, feature_set.segments)
    return scored, {"breakpoints": found, "segments": in_order}, names


def publish(run: Run, ingested: workflow.Ingested, swept: Swept, segmented: Segmented) -> dict:
    """The report and summary.json, from what the run holds; replacing LATEST is the last step."""
    spark, options, folder = run.spark, run.options, run.folder
    accounted = ingested.accounted
    run_summary = summary.build_summary(
        folder.run_id, run.input_path, options.source_format, accounted.counts, session.master(spark),
        quality=ingested.quality, features=features_block(run, swept.space, accounted.features),
        elbow=[point.as_dict() for point in swept.elbow.points], model=segmented.model_summary,
        refresh=segmented.refresh,
    )  # fmt: skip
    key_source = options.pseudonym_key.source
    page, figures = report.build(
        segmented.customers, accounted.usable_lines, summary.with_timing(run_summary, run.phases, pseudonym_key=key_source),
        segmented.profiles, segmented.names, options.report, options.kmeans.seed, options.pseudonym_key,
        swept.space,
    )  # fmt: skip
    paths.write_text(spark, folder.file("report.html"), page)
    if options.png:
        print(outputs.write_pngs(figures, folder.file("charts")))
    run.phases.end("report")
    run_summary = summary.with_timing(
        run_summary, run.phases, pseudonym_key=key_source, guarantees=session.guarantees(spark), engine=run.engine.name
    )
    outputs.write_json(spark, folder.file(runs.SUMMARY), run_summary)
    segmented.customers.unpersist()
    accounted.release()
    workflow.publish_run(spark, folder, run_summary, run.tables, JOB)  # the tables, then LATEST
    print(summary.format_summary(run_summary, folder.path))
    tracking.record(options.tracking, spark, folder, run_summary, segmented.pipeline, segmented.metadata, figures, JOB)
    if run_summary["refresh"].get("warning"):
        print(f"segment_customers: {run_summary['refresh']['warning']}")
    return run_summary


def features_block(run: Run, space: space_.FeatureSpace, computed: dict) -> dict:
    """summary.json's `features`: the set, its definitions, the space KMeans saw, the analysis date,
    customers raised to a floor and, for RFM, the breakpoints and customers per named segment."""
    feature_set = run.options.feature_set
    return {
        "set": feature_set.name,
        "columns": list(feature_set.columns),
        "labels": dict(zip(space.features, space.labels)),
        **{k: v for k, v in artifact.feature_set_definition(feature_set).items() if k != "name"},  # `set` names it
        "space": space.as_dict(),
        **computed,
    }


def main(argv: list[str] | None = None) -> int:
    """The segment job: `jobs/segment_customers.py` under spark-submit, `segspark-segment` installed."""
    options_ = options(argv)  # read once, typed and checked before Spark starts
    run = start(options_)  # the session, every path qualified, the previous run
    ingested = ingest(run)  # every line accounted for, the features, the quality gate
    swept = sweep(run, ingested)  # the elbow, each k's stability, the chosen k
    segmented = segment(run, ingested, swept)  # the model, each customer's segment, the refresh
    publish(run, ingested, swept, segmented)  # report.html, summary.json, then LATEST
    return 0
