"""One idea of a run folder, for publishing, refreshes and scoring alike.

An output folder holds `runs/<run_id>/` and `LATEST`, a one-line file naming the current run. A run
id is the UTC start time and a random suffix (`20260101T000000Z-a1b2c3`); nothing else is a run id,
so a pointer holding a path, `..` or garbage is never followed. A run is complete when its
`summary.json` is written (the step before publishing); a segment run also has `model/`.

The current run of an output folder is the run LATEST names when that run is complete. Where LATEST
is missing (a publish caught between a delete and a rename on a filesystem without an atomic
rename-over, or killed there), empty, not a run id, or names a run that is missing or incomplete,
it is the newest complete run, and `CurrentRun.note` says what was wrong with LATEST.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import SparkSession

from segspark.edge import paths
from segspark.errors import InputError

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
LATEST = "LATEST"
SUMMARY = "summary.json"
MODEL_METADATA = "segspark-model.json"


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def is_run_id(text: str) -> bool:
    return bool(RUN_ID.fullmatch(text))


@dataclass(frozen=True)
class RunFolder:
    """A run's folder, complete or not: `<output>/runs/<run_id>/` (or a run folder copied elsewhere)."""

    path: str
    run_id: str

    @classmethod
    def at(cls, output: str, run_id: str) -> "RunFolder":
        return cls(paths.join(output, "runs", run_id), run_id)

    @classmethod
    def of(cls, path: str) -> "RunFolder | None":
        """The run folder a path names (`…/runs/<run_id>`), or None."""
        trimmed = path.rstrip("/")
        parent, run_id = trimmed.rsplit("/", 1) if "/" in trimmed else ("", trimmed)
        if not is_run_id(run_id) or not (parent.endswith("/runs") or parent == "runs"):
            return None
        return cls(trimmed, run_id)

    @property
    def output(self) -> str | None:
        """The output folder it was published in (None for a run folder elsewhere)."""
        parent, _, _ = self.path.rpartition("/")
        return parent[: -len("/runs")] or "/" if parent.endswith("/runs") else None

    def file(self, *parts: str) -> str:
        return paths.join(self.path, *parts)

    @property
    def model_dir(self) -> str:
        return self.file("model")

    def is_complete(self, spark: SparkSession) -> bool:
        return paths.exists(spark, self.file(SUMMARY))

    def has_model(self, spark: SparkSession) -> bool:
        return paths.exists(spark, paths.join(self.model_dir, MODEL_METADATA))

    def has_customers(self, spark: SparkSession) -> bool:
        """customers/ written whole (its _SUCCESS marker): a retention job may have pruned it."""
        return paths.exists(spark, self.file("customers", "_SUCCESS"))

    def summary(self, spark: SparkSession) -> dict:
        return json.loads(paths.read_text(spark, self.file(SUMMARY)))


def run_ids(spark: SparkSession, output: str) -> list[str]:
    """The run ids under `<output>/runs/`, oldest first (other entries are not runs)."""
    return [name for name in paths.list_names(spark, paths.join(output, "runs")) if is_run_id(name)]


@dataclass(frozen=True)
class CurrentRun:
    """An output folder's current run (None in a folder with no complete run) and, where LATEST was
    not usable, what was wrong with it."""

    run: RunFolder | None
    note: str | None = None


def current_run(spark: SparkSession, output: str) -> CurrentRun:
    """The run LATEST names if it is complete, else the newest complete run (see the module)."""
    try:
        pointer = paths.read_text(spark, paths.join(output, LATEST)).strip()
    except FileNotFoundError:
        pointer = None
    note = None
    if pointer is not None:
        named = RunFolder.at(output, pointer)
        if not is_run_id(pointer):
            note = f"{paths.join(output, LATEST)} holds {pointer[:80]!r}, which is not a run id"
        elif not paths.exists(spark, named.path):
            note = f"{paths.join(output, LATEST)} names run {pointer}, which is not in {paths.join(output, 'runs')}"
        elif not named.is_complete(spark):
            note = f"{paths.join(output, LATEST)} names run {pointer}, which has no {SUMMARY} (it did not complete)"
        else:
            return CurrentRun(named)
    for run_id in run_ids(spark, output)[::-1]:  # run ids sort by start time
        run = RunFolder.at(output, run_id)
        if run.is_complete(spark):
            return CurrentRun(run, note and f"{note}; took the newest complete run, {run_id}")
    return CurrentRun(None, note and f"{note}, and no run there is complete")


#: The runs this process published, in order (what a YARN cluster-mode driver reports: segspark.edge.yarn).
PUBLISHED: list[str] = []
#: What a run being published has made visible so far, newest last (the jobs' Ctrl-C line says it).
VISIBLE: list[str] = []


def publish(spark: SparkSession, run: RunFolder) -> None:
    """Point <output>/LATEST at a run whose files are all written (replaced in one step)."""
    assert run.output is not None, "a run is published in its output folder"
    paths.write_text(spark, paths.join(run.output, LATEST), run.run_id + "\n")
    PUBLISHED.append(run.path)
    VISIBLE.append(f"published {run.path}")


def resolve_model_dir(spark: SparkSession, path: str) -> str:
    """A model folder from itself, a run folder (…/model) or an output folder (its current run's
    model, or, where the current run has none, the newest complete run that has one).

    Only complete runs count: a run killed after saving its model but before its summary was
    never published, and its model is not offered.
    """
    base = path.rstrip("/")
    for candidate in (base, paths.join(base, "model")):
        if paths.exists(spark, paths.join(candidate, MODEL_METADATA)):
            run = RunFolder.of(candidate.rsplit("/", 1)[0] if candidate.endswith("/model") else candidate)
            if run is not None and not run.is_complete(spark):
                raise InputError(f"{path}: run {run.run_id} did not complete (no {SUMMARY}); its model is not used")
            return candidate
    current = current_run(spark, base)
    newest_first = [RunFolder.at(base, run_id) for run_id in run_ids(spark, base)[::-1]]
    for run in ([current.run] if current.run else []) + newest_first:
        if run.is_complete(spark) and run.has_model(spark):
            if current.note:
                print(f"segspark: {current.note}")
            return run.model_dir
    raise InputError(f"{path}: no segspark model here (expected {MODEL_METADATA}, or complete runs with one)")


def training_run(model_dir: str) -> RunFolder | None:
    """The run folder a model was saved in (…/runs/<run_id>/model), if it was."""
    if not model_dir.rstrip("/").endswith("/model"):
        return None
    return RunFolder.of(model_dir.rstrip("/")[: -len("/model")])


def training_output(model_dir: str) -> str | None:
    """The output folder a model was published in, if it was."""
    run = training_run(model_dir)
    return run.output if run else None
