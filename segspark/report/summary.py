"""The run's summary.json and the few lines printed at the end of a run."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import pyspark

import segspark
from segspark.clustering.choose_k import KChoice
from segspark.clustering.model import KMeansSettings, TrainingSet
from segspark.clustering.space import SEED, FeatureSpace
from segspark.orders.accounting import LineCounts
from segspark.orders.features import RETURN_RATE_DEFINITIONS
from segspark.orders.formats import SourceFormat
from segspark.report.naming import SegmentName
from segspark.report.profiles import Profiles

SUMMARY_FORMAT_VERSION = 1


class Phases:
    """Wall seconds and Spark jobs per phase of a run, printed as each ends and kept for summary.json.

    On small data a Spark job costs tens of milliseconds whatever it does, so the job count is the
    other half of a phase's cost; `jobs_started` reads the session's job counter (segspark.engine),
    which Spark Connect does not give: there every phase's job count is None (summary.json: null).
    """

    def __init__(self, job: str, jobs_started: Callable[[], int | None] = lambda: 0) -> None:
        self.job = job
        self.jobs_started = jobs_started
        self.started = self.last = time.monotonic()
        self.last_jobs = jobs_started()
        self.seconds: dict[str, float] = {}
        self.spark_jobs: dict[str, int | None] = {}

    def end(self, phase: str) -> None:
        now, jobs = time.monotonic(), self.jobs_started()
        self.seconds[phase] = round(now - self.last, 1)
        self.spark_jobs[phase] = None if jobs is None else jobs - self.last_jobs
        self.last, self.last_jobs = now, jobs
        counted = "Spark jobs not counted" if jobs is None else f"{self.spark_jobs[phase]} Spark jobs"
        print(f"{self.job}: {phase} took {self.seconds[phase]:.1f} s, {counted}", flush=True)

    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)


def build_summary(
    run_id: str,
    input_path: str,
    source_format: SourceFormat,
    counts: LineCounts,
    spark_master: str,
    seconds: float | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The summary.json payload: what was read, where every line went, and how the run went.

    `sections` (e.g. `elbow`, `model`, `scoring`) are added after `counts`, in the order given.
    """
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
        **sections,
        "run": {
            "spark_master": spark_master,
            "segspark_version": segspark.__version__,
            "spark_version": pyspark.__version__,
            "seconds": None if seconds is None else round(seconds, 1),
        },
    }


def with_timing(summary: dict[str, Any], phases: Phases, **run: Any) -> dict[str, Any]:
    """The summary with the run's seconds, phases and Spark jobs so far (and any other `run` entries)."""
    timed = dict(summary)
    timed["run"] = {
        **summary["run"],
        **run,
        "seconds": phases.total(),
        "phases": dict(phases.seconds),
        **(
            {"spark_jobs": None, "spark_jobs_unavailable": "the session gives no job counter (Spark Connect)"}
            if None in phases.spark_jobs.values()
            else {"spark_jobs": dict(phases.spark_jobs)}
        ),
    }
    return timed


def model_summary(
    choice: KChoice,
    settings: KMeansSettings,
    training: TrainingSet,
    segment_profiles: Profiles,
    segment_centres: Mapping[int, Sequence[float]],
    names: Sequence[SegmentName],
    segment_stability: Sequence[dict] = (),
    highest_issued: int | None = None,
    space: FeatureSpace = SEED,
) -> dict[str, Any]:
    """summary.json's `model`: the k and why, how it was trained, and each segment's size, centre and name.

    `segment_centres` maps segment id -> centre: ids run 0..k-1 by spending, except after a refresh
    (segments keep the ids they had). `highest_issued` (default: this run's highest id) is the
    highest id this run or any before it issued, so that a later refresh never reissues one.
    A centre is given in the transformed features' space (`log`: log1p where the feature has it,
    the z-score undone) and in the features' own units (`original`).
    """
    return {
        **choice.as_dict(),
        "seed": settings.seed,
        "restarts": settings.restarts,
        "partitions": training.partitions,
        "training_points": training.points,
        "training": "every customer" if training.every_customer else "a uniform sample of the customers",
        "seeding_points": len(training.sample),
        "silhouettes_on": "every customer" if training.every_customer else "the uniform training sample",
        "grid_step": 0.0,  # format_version 1 readers: training no longer uses a grid
        "sizes": {str(s): segment_profiles.sizes.get(s, 0) for s in sorted(segment_centres)},
        "centres": [
            {
                "segment": s,
                "log": dict(zip(space.model_columns, space.to_model(centre))),
                "original": dict(zip(space.features, space.to_original(centre))),
            }
            for s, centre in sorted(segment_centres.items())
        ],
        "segments": {
            str(n.segment): {
                "name": n.name,
                "action": n.action,
                "levels": n.levels,
                "medians": {name: medians[name] for name in space.features if name in medians},
            }
            for n in names
            for medians in [segment_profiles.segment_medians().get(n.segment, {})]
        },
        "segment_stability": list(segment_stability),
        "highest_segment_id_issued": max(segment_centres, default=-1) if highest_issued is None else highest_issued,
    }


def log_centres(model: Mapping[str, Any]) -> dict[int, list[float]]:
    """segment id -> centre in the transformed features' space (log features for the reference's),
    read back from a summary's `model` (this run's or a previous run's), in the features' order."""
    return {int(c["segment"]): [float(value) for value in c["log"].values()] for c in model["centres"]}


def count_rows(counts: dict[str, Any]) -> list[tuple[str, int]]:
    """Where every line went, as (label, number): the run's printout and the report list the same."""
    rows = [("lines in", counts["lines_in"]), ("used for features", counts["lines_used"])]
    rows += [(f"excluded: {rule}", lines) for rule, lines in counts["lines_excluded"].items()]
    rows += [("quarantined (see quarantine/)", counts["lines_quarantined"])]
    rows += [(f"quarantined: {rule}", lines) for rule, lines in counts["lines_quarantined_by_rule"].items()]
    rows += [
        (f"unparsed value, unread column {column} (line kept)", lines)
        for column, lines in counts.get("unparsed_unread_values", {}).items()
    ]
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
        centres = {str(c["segment"]): c["original"] for c in chosen["centres"]}
        named = summary.get("features", {}).get("set", "seed") != "seed"
        for segment, size in chosen["sizes"].items():
            centre = centres[segment]
            name = f"  {chosen['segments'][segment]['name']}" if named and segment in chosen["segments"] else ""
            rows.append(
                f"  segment {segment}: {size:>{width},} customers{name}  "
                + "  ".join(f"{name} {value:,.2f}" for name, value in centre.items())
            )
    rfm = summary.get("features", {}).get("rfm")
    if rfm:
        rows.append("RFM segments (scores 1-5 by quintile; named by R and F):")
        rows += [f"  {name:<24}{n:>{width},} customers" for name, n in rfm["segments"].items()]
    described = summary.get("features", {})
    if described.get("set", "seed") == "seed":
        rows.append(f"return rate: {summary['definitions']['return_rate_definition']}")
    else:
        as_of = f", as of {described['analysis_date']}" if described.get("analysis_date") else ""
        clamped = ", ".join(
            f"{n:,} customers' {name} raised to its floor" for name, n in described.get("clamped", {}).items() if n
        )
        rows.append(
            f"features: {described['set']} ({', '.join(described['columns'])}){as_of}"
            + (f"; {clamped}" if clamped else "")
        )
    return "\n".join(
        [f"segspark run {summary['run_id']} ({summary['run']['seconds']} s)"] + rows + [f"published: {run_dir}"]
    )
