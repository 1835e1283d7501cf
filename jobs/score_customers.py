"""Score new orders with a saved segspark model: the same features, the saved segments.

    ./spark-submit.sh jobs/score_customers.py --model out --input NEW_ORDERS --output DIR

--model takes a model folder, a run folder, or an output folder (its current run's model, or its
newest complete run with a model where the current one has none). Scoring runs go to an output
folder of their own. Each customer gets the segment of the nearest saved centre,
distance_to_centre, and out_of_range: true when farther from that centre than the training's
99th-percentile distance for the segment. `main` is segspark.edge.score's, one line per phase:

    options -> start -> ingest -> score -> publish

This file is the job's spark-submit entry (also shipped in dist/ beside the wheel).
"""

from __future__ import annotations

from segspark.edge import cli
from segspark.edge.score import main

if __name__ == "__main__":
    cli.run(main, "score_customers")
