"""Experiment tracking: a published run recorded in MLflow, and models read back from it.

The one module that knows MLflow. A job calls `check` before Spark starts, `record` once its run is
published (LATEST replaced) and `load_model` for a `models:/` or `runs:/` URI; with tracking off
(`[tracking] tracker = "none"`, the default) `record` does nothing, so a run's phases are the same
either way. MLflow is imported only here and only when asked for (`pip install segspark[mlflow]`).

Where: the server `MLFLOW_TRACKING_URI` names, else a SQLite store under the output folder
(`<output>/mlflow/mlflow.db`, artifacts beside it). A run that did not publish logs nothing; a
tracker that is down or refuses costs the run nothing but a warning naming why (the run is
published already), or, with `[tracking] required = true`, an error (exit 2), checked also before
any work.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

from pyspark.sql import SparkSession

import segspark
from segspark.edge import paths, runs
from segspark.engine import is_connect
from segspark.errors import InputError, UsageError

TRACKERS = ("none", "mlflow")
MODEL_URI_SCHEMES = ("models:/", "runs:/")
#: The model's metadata key in MLflow's MLmodel file: segspark-model.json as scoring reads it.
METADATA_KEY = "segspark_model"
LOCAL_STORE = "mlflow"
#: A server that does not answer costs seconds, not minutes (MLflow retries 7 times by default);
#: set either yourself to change it.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}
#: Why a run over Spark Connect is tracked without its model (the model stays in its run folder).
MODEL_OVER_CONNECT = (
    "MLflow's Spark flavour copies a model between Spark's filesystem and MLflow through Hadoop's FileSystem "
    "by py4j, which a Spark Connect client does not have"
)


@dataclass(frozen=True)
class TrackingSettings:
    """[tracking] with --track and --register-model over it."""

    tracker: str = "none"
    experiment: str = "segspark"
    required: bool = False
    register_model: str | None = None

    @classmethod
    def from_settings(
        cls, table: Mapping[str, Any], track: str | None = None, register_model: str | None = None
    ) -> "TrackingSettings":
        tracker = track or table["tracker"]
        if tracker not in TRACKERS:
            raise UsageError(f"--track {tracker!r}: use one of {', '.join(TRACKERS)}")
        if register_model and tracker == "none":
            raise UsageError("--register-model registers the run's model in MLflow: give --track mlflow with it")
        return cls(tracker, table["experiment"], bool(table["required"]), register_model)

    @property
    def on(self) -> bool:
        return self.tracker != "none"


def check(settings: TrackingSettings, output: str) -> None:
    """Before Spark starts: MLflow installed, a store to log to (a server, or a local output folder
    for the local store), and, where tracking is required, the store answering."""
    if not settings.on:
        return
    if os.environ.get("SPARK_REMOTE"):
        if settings.register_model:
            raise UsageError(
                f"--register-model over Spark Connect: {MODEL_OVER_CONNECT}; register it from classic mode"
            )
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            raise UsageError(
                "--track mlflow over Spark Connect: set MLFLOW_TRACKING_URI (the local store would go under the "
                "output folder, which is the Connect server's, not this machine's)"
            )
    mlflow = _mlflow()
    if not os.environ.get("MLFLOW_TRACKING_URI") and not paths.is_local(output):
        raise UsageError(
            f"--track mlflow: no MLFLOW_TRACKING_URI, and the local store goes under the output folder, which is "
            f"not on this machine ({output}): set MLFLOW_TRACKING_URI to the team's tracking server"
        )
    if settings.required:
        try:
            _connect(mlflow, settings, output)
        except Exception as error:  # noqa: BLE001 - any refusal is the reason
            raise InputError(f"--track mlflow: the tracking store does not answer ({_reason(error)})") from None


def record(
    settings: TrackingSettings,
    spark: SparkSession,
    folder: runs.RunFolder,
    run_summary: Mapping[str, Any],
    pipeline: Any,
    model_metadata: Mapping[str, Any],
    figures: Mapping[str, Any],
    job: str,
) -> dict | None:
    """The published run as one MLflow run (params, per-k metrics, counts and timings, tags, its
    summary, report and elbow chart, and its PipelineModel in MLflow's Spark flavour, registered
    when asked): what was logged, or None when tracking is off or failed (a warning, or an error
    where required)."""
    if not settings.on:
        return None
    mlflow = _mlflow()
    started, run_id = time.monotonic(), None
    scratch = paths.join(folder.output, "_mlflow_tmp")  # where MLflow saves the model through Spark
    without_model = MODEL_OVER_CONNECT if is_connect(spark) else None
    try:
        experiment_id = _connect(mlflow, settings, folder.output)
        client = mlflow.MlflowClient()
        run_tags = tags(run_summary, folder)
        if without_model:
            run_tags.update({"segspark.model_folder": folder.model_dir, "segspark.model_not_logged": without_model})
        run = client.create_run(experiment_id, run_name=folder.run_id, tags=run_tags)
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=[mlflow.entities.Metric(*m) for m in metrics(run_summary)],
                         params=[mlflow.entities.Param(k, v) for k, v in params(run_summary).items()])  # fmt: skip
        for name in (runs.SUMMARY, "report.html"):
            client.log_text(run_id, paths.read_text(spark, folder.file(name)), name)
        if "chart-elbow" in figures:
            client.log_figure(run_id, figures["chart-elbow"], "elbow.html")
        if without_model:
            logged = None
            client.log_text(run_id, json.dumps(dict(model_metadata), indent=2), "segspark-model.json")
        else:
            with mlflow.start_run(run_id=run_id):
                logged = mlflow.spark.log_model(
                    pipeline, artifact_path="model", signature=signature(model_metadata),
                    metadata={METADATA_KEY: dict(model_metadata)},
                    pip_requirements=[f"pyspark=={spark.version}", f"segspark=={segspark.__version__}"],
                    registered_model_name=settings.register_model,
                    dfs_tmpdir=scratch,
                )  # fmt: skip
        client.set_terminated(run_id, "FINISHED")
        if not without_model:
            paths.delete_tree(spark, scratch)
    except Exception as error:  # noqa: BLE001 - the tracker never costs a published run
        if not without_model:
            paths.delete_tree(spark, scratch)
        if run_id is not None:
            try:
                mlflow.MlflowClient().set_terminated(run_id, "FAILED")
            except Exception:  # noqa: BLE001, S110 - the store is gone; the warning says so
                pass
        where = f" (its MLflow run {run_id} is marked FAILED)" if run_id else ""
        message = f"run {folder.run_id} is published but not tracked in MLflow{where}: {_reason(error)}"
        if settings.required:
            raise InputError(message + "; [tracking] required = true makes this an error") from None
        print(f"{job}: warning: {message}")
        return None
    version = getattr(logged, "registered_model_version", None)
    tracked = {
        "tracking_uri": mlflow.get_tracking_uri(),
        "experiment_id": experiment_id,
        "run_id": run_id,
        "model_uri": None if without_model else f"runs:/{run_id}/model",
        "registered_model": f"models:/{settings.register_model}/{version}" if version else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    registered = f"; registered as {tracked['registered_model']}" if version else ""
    if without_model:
        registered = f"; without its model (in {folder.model_dir}): {without_model}"
    print(f"{job}: tracked in MLflow as run {run_id} ({tracked['tracking_uri']}){registered}, {tracked['seconds']} s")
    return tracked


def is_model_uri(text: str) -> bool:
    return text.startswith(MODEL_URI_SCHEMES)


def load_model(spark: SparkSession, uri: str, scratch: str) -> tuple[Any, dict]:
    """(PipelineModel, segspark-model.json) of a model logged by `record`, by `models:/NAME/VERSION`
    (or alias) or `runs:/RUN_ID/model`; `scratch` is a folder on the session's filesystem that
    MLflow copies the model through for Spark to read."""
    if is_connect(spark):
        raise UsageError(f"--model {uri} over Spark Connect: {MODEL_OVER_CONNECT}; give the model's run folder")
    mlflow = _mlflow()
    try:
        info = mlflow.models.get_model_info(uri)
    except Exception as error:  # noqa: BLE001 - a wrong name, version or server
        raise InputError(f"--model {uri}: MLflow has no such model ({_reason(error)})") from None
    metadata = (info.metadata or {}).get(METADATA_KEY)
    if metadata is None:
        raise InputError(f"--model {uri}: not a segspark model (its MLmodel has no {METADATA_KEY} metadata)")
    try:
        return mlflow.spark.load_model(uri, dfs_tmpdir=scratch), metadata
    finally:
        paths.delete_tree(spark, scratch)


def params(run_summary: Mapping[str, Any]) -> dict[str, str]:
    """What the run was asked for and ran on."""
    model, elbow = run_summary["model"], run_summary["elbow"]
    features = run_summary.get("features") or {}
    values = {
        "feature_set": features.get("set", "seed"),
        "features": ", ".join(features.get("columns", [])) or None,
        "analysis_date": features.get("analysis_date"),
        "k_min": elbow[0]["k"],
        "k_max": elbow[-1]["k"],
        "k": model["k"],
        "k_rule": model["rule"],
        "seed": model.get("seed"),
        "restarts": model.get("restarts"),
        "training": model.get("training"),
        "input": run_summary["input"],
        "source_format": run_summary["source_format"],
        "spark_version": run_summary["run"]["spark_version"],
        "spark_master": run_summary["run"]["spark_master"],
        "segspark_version": run_summary["run"]["segspark_version"],
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def metrics(run_summary: Mapping[str, Any]) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp, step): each k's cost, silhouette and stability with k as the step (the
    elbow as a curve), the line and customer counts, the chosen k's silhouette and the phases' seconds."""
    stamp = int(time.time() * 1000)
    found = []
    for point in run_summary["elbow"]:
        found.append(("cost", point["cost"], stamp, point["k"]))
        if point.get("silhouette") is not None:
            found.append(("silhouette", point["silhouette"], stamp, point["k"]))
        if (point.get("stability") or {}).get("ari_mean") is not None:
            found.append(("stability_ari", point["stability"]["ari_mean"], stamp, point["k"]))
    counts = run_summary["counts"]
    for key in ("lines_in", "lines_used", "lines_excluded", "lines_quarantined", "customers", "customers_excluded"):
        value = counts.get(key)
        total = sum(value.values()) if isinstance(value, Mapping) else value
        if total is not None:
            found.append((key, float(total), stamp, 0))
    found.append(("k", float(run_summary["model"]["k"]), stamp, 0))
    for phase, seconds in (run_summary["run"].get("phases") or {}).items():
        found.append((f"seconds_{phase.replace(' ', '_')}", float(seconds), stamp, 0))
    found.append(("seconds", float(run_summary["run"]["seconds"]), stamp, 0))
    return found


def tags(run_summary: Mapping[str, Any], folder: runs.RunFolder) -> dict[str, str]:
    refresh = run_summary.get("refresh") or {}
    values = {
        "segspark.run_id": folder.run_id,
        "segspark.run_folder": folder.path,
        "segspark.output": folder.output,
        "segspark.previous_run": refresh.get("previous_run") if refresh.get("compared") else None,
    }
    return {key: value for key, value in values.items() if value}


def signature(model_metadata: Mapping[str, Any]) -> Any:
    """The model's input (its transformed features, double) and output (`cluster`, an integer),
    from its metadata: no data read."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = model_metadata["log_feature_columns"]
    return ModelSignature(
        inputs=Schema([ColSpec("double", column) for column in columns]),
        outputs=Schema([ColSpec("integer", "cluster")]),
    )


def _connect(mlflow: Any, settings: TrackingSettings, output: str) -> str:
    """The experiment's id, in the store MLFLOW_TRACKING_URI names or the output folder's own."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        artifacts = None
    else:
        store = os.path.join(paths.local_path(output), LOCAL_STORE)
        os.makedirs(store, exist_ok=True)
        mlflow.set_tracking_uri(f"sqlite:///{os.path.join(store, 'mlflow.db')}")
        artifacts = os.path.join(store, "artifacts")
    experiment = mlflow.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(settings.experiment, artifact_location=artifacts)


def _mlflow() -> Any:
    try:
        import mlflow
        import mlflow.spark  # noqa: F401 - the Spark flavour
    except ImportError:
        raise UsageError(
            "--track mlflow and MLflow models need MLflow: pip install 'segspark[mlflow]' "
            "(in a checkout: pip install -c constraints.txt -e '.[mlflow]')"
        ) from None
    return mlflow


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
