"""Score new orders with a saved segspark model: the same features, the saved segments.

    ./spark-submit.sh jobs/score_customers.py --model out --input NEW_ORDERS --output DIR

--model takes a model folder, a run folder, or an output folder (its current run's model, or its
newest complete run with a model where the current one has none). Scoring runs go to an output
folder of their own. Each customer gets the segment of the nearest saved centre,
distance_to_centre, and out_of_range: true when farther from that centre than the training's
99th-percentile distance for the segment. The phases are segspark.edge.score's.
"""

from __future__ import annotations

from segspark.edge import cli, score


def main(argv: list[str] | None = None) -> int:
    options = score.options(argv)  # read once, typed and checked before Spark starts
    run = score.start(options)  # the session, every path qualified, the model found and checked
    accounted, quality = score.ingest(run)  # the same ingest, rules and features as training
    scoring = score.score(run, accounted)  # each customer at the nearest saved centre
    score.publish(run, accounted, quality, scoring)  # summary.json, then LATEST
    return 0


if __name__ == "__main__":
    cli.run(main, "score_customers")
