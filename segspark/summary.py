"""The run's summary.json and the few lines printed at the end of a run."""

from __future__ import annotations

import time
from typing import Any

import pyspark

import segspark
from segspark.accounting import LineCounts
from segspark.features import PER_CUSTOMER, PER_ORDER
from segspark.formats import SourceFormat

RETURN_RATE_DEFINITIONS = {
    PER_ORDER: "per order -sum(returned units) / sum(ordered units), averaged over the customer's orders",
    PER_CUSTOMER: "-sum(returned units) / sum(ordered units) over all the customer's lines, returns included",
}

SUMMARY_FORMAT_VERSION = 1


class Phases:
    """Wall seconds per phase of a run, printed as each ends and kept for summary.json."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.started = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def end(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self.last, 1)
        self.last = now
        print(f"{self.job}: {phase} took {self.seconds[phase]:.1f} s", flush=True)

    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)


def build_summary(
    run_id: str,
    input_path: str,
    source_format: SourceFormat,
    counts: LineCounts,
    spark_master: str,
    seconds: float | None = None,
) -> dict[str, Any]:
    """The summary.json payload: what was read, where every line went, and how the run went."""
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "run_id": run_id,
        "input": input_path,
        "source_format": source_format.name,
        "definitions": {
            "source": source_format.description,
            "return_rate": source_format.return_rate,
            "return_rate_definition": RETURN_RATE_DEFINITIONS[source_format.return_rate],
            "format_rules": {name: condition for name, condition in source_format.rules},
        },
        "counts": counts.as_dict(),
        "run": {
            "spark_master": spark_master,
            "segspark_version": segspark.__version__,
            "spark_version": pyspark.__version__,
            "seconds": None if seconds is None else round(seconds, 1),
        },
    }


def count_rows(counts: dict[str, Any]) -> list[tuple[str, int]]:
    """Where every line went, as (label, number): the run's printout and the report list the same."""
    rows = [("lines in", counts["lines_in"]), ("used for features", counts["lines_used"])]
    rows += [(f"excluded: {rule}", lines) for rule, lines in counts["lines_excluded"].items()]
    rows += [("quarantined (see quarantine/)", counts["lines_quarantined"])]
    rows += [(f"quarantined: {rule}", lines) for rule, lines in counts["lines_quarantined_by_rule"].items()]
    rows += [("customers segmented", counts["customers"])]
    return rows


def format_summary(summary: dict[str, Any], run_dir: str) -> str:
    """A short human reading of the summary for the end of a run."""
    counts = summary["counts"]
    width = len(f"{counts['lines_in']:,}")
    rows = [f"  {label:<52}{number:>{width},}" for label, number in count_rows(counts)]
    if "model" in summary:
        chosen = summary["model"]
        rows.append(f"k = {chosen['k']} ({chosen['rule']}): {chosen['explanation']}")
        for segment, size in chosen["sizes"].items():
            centre = chosen["centres"][int(segment)]["original"]
            rows.append(
                f"  segment {segment}: {size:>{width},} customers  "
                + "  ".join(f"{name} {value:,.2f}" for name, value in centre.items())
            )
    rows.append(f"return rate: {summary['definitions']['return_rate_definition']}")
    return "\n".join(
        [f"segspark run {summary['run_id']} ({summary['run']['seconds']} s)"]
        + rows
        + [f"published: {run_dir}"]
    )
