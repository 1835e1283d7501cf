"""Segment customers from e-commerce order lines: features, an elbow over k, segments, a model.

    ./spark-submit.sh jobs/segment_customers.py --input PATH --output DIR [--format shopify] [--k N]

With no --input it uses the built-in sample (generated on first use); with no --output, out/.
A run is written to <output>/runs/<run_id>/ and published by replacing <output>/LATEST last.
"""

from __future__ import annotations

import argparse

from pyspark import StorageLevel
from pyspark.sql import SparkSession

from segspark import choose_k, cli, datagen, model, naming, profiles, pseudonyms, report, segments, summary, workflow
from segspark import io as segio
from segspark.config import load_settings, project_path, setting
from segspark.errors import UsageError
from segspark.schemas import FEATURE_COLUMNS, LOG_FEATURE_COLUMNS

MODEL_FORMAT_VERSION = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segment_customers.py", description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="order lines: a file, a folder or a glob (CSV or Parquet)")
    parser.add_argument("--output", help="folder that receives runs/<run_id>/ and LATEST")
    parser.add_argument(
        "--format",
        dest="source_format",
        help="source format: shopify, online_retail, or a format file (.toml); default from conf",
    )
    parser.add_argument("--k", type=int, help="segment with this k instead of choosing it from the elbow")
    parser.add_argument("--k-range", help="the sweep's k_min..k_max, e.g. 1..15 (default from conf)")
    parser.add_argument("--restarts", type=int, help="KMeans fits per k, best cost wins (default from conf)")
    parser.add_argument("--seed", type=int, help="KMeans seed (default from conf)")
    parser.add_argument("--conf-file", help="settings file (default conf/segspark.toml)")
    parser.add_argument("--png", action="store_true", help="also write each chart as PNG (needs a Chromium)")
    return parser.parse_args(argv)


def sweep_range(args: argparse.Namespace, settings: dict, customers: int) -> list[int]:
    """The ks to sweep: from conf or --k-range, at most the number of customers."""
    if args.k_range:
        try:
            k_min, k_max = (int(part) for part in args.k_range.split(".."))
        except ValueError:
            raise UsageError(f"--k-range {args.k_range!r}: write it as K_MIN..K_MAX, e.g. 1..15") from None
    else:
        k_min, k_max = setting(settings, "model.k_min"), setting(settings, "model.k_max")
    ks = choose_k.sweep_ks(k_min, k_max, customers, args.k)
    if ks[-1] < k_max:
        print(f"segment_customers: k range cut to {ks[0]}..{ks[-1]}: there are only {customers} customers")
    return ks


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
    source_format = workflow.load_source_format(args.source_format or setting(settings, "input.format"))
    output_dir = args.output or project_path(setting(settings, "output.dir"))
    if args.input:
        segio.check_output_location(args.input, output_dir)
    pseudonym_key = pseudonyms.load_key()
    kmeans_settings = model.KMeansSettings.from_settings(
        setting(settings, "model"), restarts=args.restarts, seed=args.seed
    )

    spark = SparkSession.builder.appName("segspark-segment-customers").getOrCreate()
    phases = summary.Phases("segment_customers")
    input_path = args.input or ensure_sample(spark, settings)
    segio.check_output_location(input_path, output_dir)
    run_id = segio.new_run_id()

    # Extract and transform: every line accounted for, the features per customer.
    accounted = workflow.accounted_customers(
        spark,
        input_path,
        source_format,
        segio.run_path(output_dir, run_id, "quarantine"),
    )
    customers, counts = accounted.customers, accounted.counts
    phases.end("ingest and features")
    ks = sweep_range(args, settings, counts.customers)

    # The elbow: fits on the weighted points, persisted once in a fixed partitioning; costs on all.
    points, point_count, grid_step = model.training_points(customers, counts.customers, kmeans_settings)
    partitions = model.training_partitions(point_count, kmeans_settings)
    vectors = model.training_vectors(points, partitions).persist(StorageLevel.MEMORY_AND_DISK)
    trained_on = f"{point_count:,} grid cells (step {grid_step})" if grid_step else "each customer"
    print(f"segment_customers: {counts.customers:,} customers, trained on {trained_on}; elbow over k = {ks[0]}..{ks[-1]}")
    elbow, models = model.sweep(vectors, customers, ks, kmeans_settings)
    choice = choose_k.choose_k(
        [p.k for p in elbow], [p.cost for p in elbow], [p.silhouette for p in elbow], given_k=args.k
    )
    print(f"segment_customers: k = {choice.k} ({choice.rule}): {choice.explanation}")
    chosen = models.get(choice.k) or model.fit_kmeans(vectors, choice.k, kmeans_settings)
    vectors.unpersist()
    phases.end("elbow sweep")

    # Segments: stable ids by ascending mean spending, distances, and the saved model.
    pipeline = model.pipeline_model(chosen)
    clustered = pipeline.transform(customers).persist(StorageLevel.MEMORY_AND_DISK)
    cluster_centres = model.centres(chosen)
    numbering = segments.segment_numbering(clustered, cluster_centres)
    segment_centres = [cluster_centres[c] for c in sorted(numbering, key=numbering.get)]
    segmented = segments.with_segments(clustered, numbering, segment_centres)
    quantiles = segments.distance_quantiles(segmented)
    sizes = segments.segment_sizes(segmented)
    feature_quantiles = profiles.feature_quantiles(segmented)
    names = naming.segment_names(feature_quantiles)
    segmented.orderBy("customer_id").write.parquet(segio.run_path(output_dir, run_id, "customers"))

    model_summary = {
        **choice.as_dict(),
        "seed": kmeans_settings.seed,
        "restarts": kmeans_settings.restarts,
        "partitions": partitions,
        "training_points": point_count,
        "grid_step": grid_step,
        "sizes": {str(s): sizes.get(s, 0) for s in range(choice.k)},
        "centres": [
            {
                "segment": s,
                "log": dict(zip(LOG_FEATURE_COLUMNS, centre)),
                "original": dict(zip(FEATURE_COLUMNS, model.expm1_centre(centre))),
            }
            for s, centre in enumerate(segment_centres)
        ],
        "segments": report.names_by_segment(names),
    }
    segio.save_model(
        spark,
        pipeline,
        segio.run_path(output_dir, run_id, "model"),
        {
            "format_version": MODEL_FORMAT_VERSION,
            "k": choice.k,
            "feature_columns": list(FEATURE_COLUMNS),
            "log_feature_columns": list(LOG_FEATURE_COLUMNS),
            "segment_of_cluster": {str(c): s for c, s in sorted(numbering.items())},
            "centres": model_summary["centres"],
            "distance_quantiles": {
                "levels": list(segments.DISTANCE_QUANTILES),
                "by_segment": {str(s): q for s, q in sorted(quantiles.items())},
            },
            "trained_on_run": run_id,
        },
    )

    phases.end("segments and model")
    run_summary = summary.build_summary(run_id, input_path, source_format, counts, spark.sparkContext.master)
    run_summary["elbow"] = [point.as_dict() for point in elbow]
    run_summary["model"] = model_summary
    run_summary["run"].update(seconds=phases.total(), phases=phases.seconds, pseudonym_key=pseudonym_key.source)
    page, figures = report.build(
        segmented, accounted.usable_lines, run_summary, feature_quantiles, names, setting(settings, "report"),
        kmeans_settings.seed, pseudonym_key,
    )
    segio.write_text(spark, segio.run_path(output_dir, run_id, "report.html"), page)
    if args.png:
        print(segio.write_pngs(figures, segio.run_path(output_dir, run_id, "charts")))
    phases.end("report")
    run_summary["run"].update(seconds=phases.total(), phases=phases.seconds)
    segio.write_json(spark, segio.run_path(output_dir, run_id, "summary.json"), run_summary)
    segio.publish(spark, output_dir, run_id)
    clustered.unpersist()
    accounted.release()
    print(summary.format_summary(run_summary, segio.run_path(output_dir, run_id)))
    return 0


if __name__ == "__main__":
    cli.run(main, "segment_customers")
