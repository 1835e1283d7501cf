"""Segment customers from e-commerce order lines: features, an elbow over k, segments, a model.

    ./spark-submit.sh jobs/segment_customers.py --input PATH --output DIR [--format shopify] [--k N]

With no --input it uses the built-in sample (generated on first use); with no --output, out/.
A run is written to <output>/runs/<run_id>/ and published by replacing <output>/LATEST last.
`main` is segspark.edge.segment's, one line per phase of the run:

    options -> start -> ingest -> sweep -> segment -> publish

This file is the job's spark-submit entry (also shipped in dist/ beside the wheel).
"""

from __future__ import annotations

from segspark.edge import cli
from segspark.edge.segment import main

if __name__ == "__main__":
    cli.run(main, "segment_customers")
