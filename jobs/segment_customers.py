"""Segment customers from e-commerce order lines: features, an elbow over k, segments, a model.

    ./spark-submit.sh jobs/segment_customers.py --input PATH --output DIR [--format shopify] [--k N]

With no --input it uses the built-in sample (generated on first use); with no --output, out/.
A run is written to <output>/runs/<run_id>/ and published by replacing <output>/LATEST last.
"""

from __future__ import annotations

import argparse

from pyspark import StorageLevel
from pyspark.sql import SparkSession

from segspark import choose_k, cli, datagen, jvm, model, naming, paths, profiles, pseudonyms, segments, summary, workflow
from segspark import artifact, refresh, report, runs, session, stability
from segspark import io as segio
from segspark.config import load_settings, project_path, setting
from segspark.errors import UsageError
from segspark.parallel import concurrently


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.ArgumentParser(prog="segment_customers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="order lines: a file, a folder or a glob (CSV or Parquet)")
    parser.add_argument("--output", help="folder that receives runs/<run_id>/ and LATEST")
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
    parser.add_argument("--png", action="store_true", help="also write each chart as PNG (needs a Chromium)")
    parser.add_argument("--previous", help="compare with this run (an output or run folder); default: --output's")
    parser.add_argument("--no-previous", action="store_true", help="do not compare with a previous run")
    return parser.parse_args(argv)


def k_range(args: argparse.Namespace, settings: dict) -> tuple[int, int]:
    """The sweep's k_min..k_max from --k-range or conf, and the other model options, checked before
    Spark starts: a mistake here is said at once, not after ingest or the sweep."""
    if args.k_range:
        try:
            k_min, k_max = (int(part) for part in args.k_range.split(".."))
        except ValueError:
            raise UsageError(f"--k-range {args.k_range!r}: write it as K_MIN..K_MAX, e.g. 1..15") from None
    else:
        k_min, k_max = setting(settings, "model.k_min"), setting(settings, "model.k_max")
    if not 1 <= k_min <= k_max or k_max < 2:
        raise UsageError(f"k range {k_min}..{k_max}: need 1 <= k_min <= k_max and k_max >= 2 (k = 1 is one segment)")
    if args.k is not None and args.k < 2:
        raise UsageError(f"--k {args.k}: segmenting needs k >= 2")
    if args.restarts is not None and args.restarts < 1:
        raise UsageError(f"--restarts {args.restarts}: need at least 1")
    if args.stability_resamples is not None and args.stability_resamples < 0:
        raise UsageError(f"--stability {args.stability_resamples}: need 0 (skip) or more")
    return k_min, k_max


def sweep_range(k_min: int, k_max: int, given_k: int | None, customers: int, distinct_customers: int | None) -> list[int]:
    """The ks to sweep: k_min..k_max, at most the number of (distinct) customers."""
    ks = choose_k.sweep_ks(k_min, k_max, customers, given_k, distinct_customers)
    if ks[-1] < k_max:
        limit = distinct_customers if distinct_customers is not None and distinct_customers < customers else None
        why = f"only {limit} customers differ in their features" if limit else f"there are only {customers} customers"
        print(f"segment_customers: k range cut to {ks[0]}..{ks[-1]}: {why}")
    return ks


def ensure_sample(spark: SparkSession, settings: dict) -> str:
    """The built-in sample: the generator at its configured size, made once and kept under data/
    (on the driver's disk, whatever the default filesystem)."""
    path = paths.local_uri(project_path(setting(settings, "sample.path")))
    if not paths.exists(spark, path):
        lines = datagen.generate_order_lines(
            spark, lines=setting(settings, "sample.lines"), seed=setting(settings, "sample.seed")
        )
        segio.write_order_lines(datagen.as_export_text(lines), path, "csv")
        print(f"segment_customers: made the built-in sample at {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = load_settings(args.conf_file)
    source_format = workflow.load_source_format(args.source_format or setting(settings, "input.format"))
    k_min, k_max = k_range(args, settings)
    output_dir = args.output or paths.local_uri(project_path(setting(settings, "output.dir")))
    if args.input:
        segio.check_input_exists(args.input)
        segio.check_output_location(args.input, output_dir)
    pseudonym_key = pseudonyms.load_key()
    kmeans_settings = model.KMeansSettings.from_settings(
        setting(settings, "model"), restarts=args.restarts, seed=args.seed, stability_resamples=args.stability_resamples
    )

    spark = session.start("segspark-segment-customers")
    phases = summary.Phases("segment_customers", lambda: jvm.jobs_started(spark.sparkContext))
    # Every path as the session's Hadoop qualifies it (a bare path is on the default filesystem):
    # the whole run, its pointer and its report land in one place, read back the same way.
    input_path = paths.qualified(spark, args.input) if args.input else ensure_sample(spark, settings)
    output_dir = paths.qualified(spark, output_dir)
    segio.check_output_location(input_path, output_dir)
    run = runs.RunFolder.at(output_dir, runs.new_run_id())
    previous = (
        "--no-previous was given"
        if args.no_previous
        else workflow.previous_run(
            spark, paths.qualified(spark, args.previous or output_dir), source_format, explicit=bool(args.previous)
        )
    )

    # Extract and transform: every line accounted for, the features per customer, the quality gate.
    quarantine_path = run.file("quarantine")
    accounted = workflow.accounted_customers(spark, input_path, source_format, quarantine_path)
    customers, counts = accounted.customers, accounted.counts
    max_share = setting(settings, "quality.max_quarantined_share")
    quality = workflow.check_quality(accounted, max_share, args.accept_quarantine, quarantine_path)
    phases.end("ingest and features")

    # The elbow: seeds from a bounded sample, MLlib's Lloyd on the training points, each k measured on all.
    training = model.training_set(customers, counts.customers, kmeans_settings)
    ks = sweep_range(k_min, k_max, args.k, counts.customers, training.distinct_points())
    trained_on = "each customer" if training.every_customer else f"a uniform sample of {training.points:,}"
    print(f"segment_customers: {counts.customers:,} customers, trained on {trained_on}; elbow over k = {ks[0]}..{ks[-1]}")
    # Stability: would each k's segments hold on other data? Its refits on halves of the seeding sample
    # need no k's model, so they run in the driver beside the sweep (whose time is mostly Spark's).
    elbow, refitted = concurrently(
        lambda: model.sweep(spark.sparkContext, customers, training, ks, kmeans_settings, given_k=args.k),
        lambda: stability.refits(
            training.sample, model.ks_to_fit(ks, args.k), kmeans_settings.stability_resamples,
            kmeans_settings.restarts, kmeans_settings.seed,
        ),
    )
    phases.end("elbow sweep")
    stabilities = stability.scored(training.sample, {k: fit.centres for k, fit in elbow.fits.items()}, refitted)
    elbow = elbow.with_stability({k: s.as_dict() for k, s in stabilities.items()})
    choice = choose_k.choose_k(
        [p.k for p in elbow.points], [p.cost for p in elbow.points], [p.silhouette for p in elbow.points], args.k,
        {k: s.ari_mean for k, s in stabilities.items()} or None,
    )
    print(f"segment_customers: k = {choice.k} ({choice.rule}): {choice.explanation}")
    phases.end("stability")

    # Segments: the chosen k's model, stable ids by ascending mean spending, one profile aggregation.
    pipeline = model.pipeline_model(spark.sparkContext, elbow.fits[choice.k].centres)
    cluster_centres = model.centres_of(pipeline)
    measured = (
        segments.with_distance(pipeline.transform(customers), cluster_centres)
        .drop(model.FEATURES_VECTOR)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    model_dir = run.model_dir
    cluster_profiles, _ = concurrently(
        lambda: profiles.profile(measured, model.CLUSTER), lambda: pipeline.write().save(model_dir)
    )
    numbering = segments.segment_numbering(cluster_profiles.mean_spending, cluster_centres)
    refreshed = None
    if isinstance(previous, refresh.PreviousRun):  # a refresh: matched segments keep their ids and names
        refreshed = refresh.compare(
            previous, measured, model.CLUSTER, cluster_centres, numbering, counts.customers,
            refresh.RefreshSettings.from_settings(setting(settings, "refresh")),
        )
        numbering = refreshed.numbering
    segment_profiles = cluster_profiles.renumbered(numbering)
    segmented = segments.with_segments(measured, numbering)
    segmented.orderBy("customer_id").write.parquet(run.file("customers"))
    names = naming.segment_names(segment_profiles.feature_quantiles)  # from the data, also on a refresh
    segment_centres = {numbering[c]: centre for c, centre in enumerate(cluster_centres)}
    fitted = summary.model_summary(
        choice, kmeans_settings, training, segment_profiles, segment_centres, names,
        stability.by_segment(stabilities.get(choice.k), numbering),
    )
    refresh_block = (
        refresh.with_drift(
            {**refreshed.block, "renamed": refresh.renamed(refreshed.block, {n.segment: n.name for n in names})},
            previous, segmented, segment_profiles.overall_medians(),
        )
        if refreshed
        else refresh.not_compared(previous)
    )
    metadata = artifact.model_metadata(run.run_id, fitted, numbering, segment_profiles, source_format)
    segio.write_model_metadata(spark, model_dir, metadata)
    phases.end("segments and model")

    # The report and summary.json, from what the run holds; publishing is the last step.
    run_summary = summary.build_summary(
        run.run_id, input_path, source_format, counts, spark.sparkContext.master,
        quality=quality, elbow=[point.as_dict() for point in elbow.points], model=fitted, refresh=refresh_block,
    )
    page, figures = report.build(
        segmented, accounted.usable_lines, summary.with_timing(run_summary, phases, pseudonym_key=pseudonym_key.source),
        segment_profiles, names, setting(settings, "report"), kmeans_settings.seed, pseudonym_key,
    )
    paths.write_text(spark, run.file("report.html"), page)
    if args.png:
        print(segio.write_pngs(figures, run.file("charts")))
    phases.end("report")
    run_summary = summary.with_timing(
        run_summary, phases, pseudonym_key=pseudonym_key.source, guarantees=session.guarantees(spark)
    )
    segio.write_json(spark, run.file(runs.SUMMARY), run_summary)
    runs.publish(spark, run)
    measured.unpersist()
    accounted.release()
    print(summary.format_summary(run_summary, run.path))
    return 0


if __name__ == "__main__":
    cli.run(main, "segment_customers")
