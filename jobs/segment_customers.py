"""Segment customers from e-commerce order lines: features, an elbow over k, segments, a model.

    ./spark-submit.sh jobs/segment_customers.py --input PATH --output DIR [--format shopify] [--k N]

With no --input it uses the built-in sample (generated on first use); with no --output, out/.
A run is written to <output>/runs/<run_id>/ and published by replacing <output>/LATEST last.
The phases are segspark.edge.segment's.
"""

from __future__ import annotations

from segspark.edge import cli, segment


def main(argv: list[str] | None = None) -> int:
    options = segment.options(argv)  # read once, typed and checked before Spark starts
    run = segment.start(options)  # the session, every path qualified, the previous run
    ingested = segment.ingest(run)  # every line accounted for, the features, the quality gate
    swept = segment.sweep(run, ingested)  # the elbow, each k's stability, the chosen k
    segmented = segment.segment(run, ingested, swept)  # the model, each customer's segment, the refresh
    segment.publish(run, ingested, swept, segmented)  # report.html, summary.json, then LATEST
    return 0


if __name__ == "__main__":
    cli.run(main, "segment_customers")
