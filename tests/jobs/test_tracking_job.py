"""Experiment tracking (issue 33): a segment run recorded in a real MLflow store (SQLite, under the
output folder) and read back by value; scoring from the registered model; a tracker that is down."""

from __future__ import annotations

import json
import os
import sys

import pytest
from chispa import assert_df_equality

from segspark.edge import score, segment, tracking
from segspark.errors import InputError, QualityError, UsageError
from tests.builders import HEADER, csv_line, orders_file, published, run_job

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.e2e
FAST = ("--k-range", "1..5", "--restarts", "2", "--stability", "0", "--no-previous")
MODEL_NAME = "shop-segments"


@pytest.fixture
def no_tracking_server(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def tracked(spark, tmp_path_factory):
    """One segment run with --track mlflow --register-model, into the output folder's own store."""
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    folder = tmp_path_factory.mktemp("tracked")
    path, output = orders_file(folder, customers=60), folder / "out"
    try:
        run_job(segment, "--input", str(path), "--output", str(output), "--track", "mlflow",
                "--register-model", MODEL_NAME, *FAST)  # fmt: skip
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    store = f"sqlite:///{output / 'mlflow' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    (logged,) = client.search_runs([client.get_experiment_by_name("segspark").experiment_id])
    return path, output, published(output), client, logged


def test_the_run_is_logged_with_its_params_elbow_counts_and_tags(tracked):
    _, output, run, _, logged = tracked
    summary = json.loads((run / "summary.json").read_text())
    params, metrics, tags = logged.data.params, logged.data.metrics, logged.data.tags
    assert logged.info.status == "FINISHED" and logged.info.run_name == run.name
    assert (params["feature_set"], params["k"], params["k_rule"]) == ("seed", str(summary["model"]["k"]),
                                                                     summary["model"]["rule"])  # fmt: skip
    assert (params["k_min"], params["k_max"], params["source_format"]) == ("1", "5", "shopify")
    assert params["spark_version"] == summary["run"]["spark_version"]
    assert (
        metrics["lines_in"] == summary["counts"]["lines_in"] and metrics["customers"] == summary["counts"]["customers"]
    )
    assert metrics["seconds_elbow_sweep"] == summary["run"]["phases"]["elbow sweep"]
    assert (tags["segspark.run_id"], tags["segspark.output"]) == (run.name, f"file:{output}")


def test_the_elbow_is_a_metric_curve_with_k_as_its_step(tracked):
    _, _, run, client, logged = tracked
    elbow = json.loads((run / "summary.json").read_text())["elbow"]
    history = client.get_metric_history(logged.info.run_id, "cost")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(p["k"], p["cost"]) for p in elbow]
    silhouettes = {m.step: m.value for m in client.get_metric_history(logged.info.run_id, "silhouette")}
    assert silhouettes == {p["k"]: p["silhouette"] for p in elbow if p["silhouette"] is not None}


def test_the_summary_report_elbow_chart_and_model_are_artifacts(tracked):
    _, _, run, client, logged = tracked
    run_id = logged.info.run_id
    names = {artifact.path for artifact in client.list_artifacts(run_id)}
    assert {"summary.json", "report.html", "elbow.html", "model"} <= names
    assert sorted(p.name for p in run.parent.parent.iterdir()) == ["LATEST", "mlflow", "runs"]  # no scratch left
    summary = mlflow.artifacts.load_text(f"runs:/{run_id}/summary.json")
    assert summary == (run / "summary.json").read_text()
    assert "chart-elbow" in mlflow.artifacts.load_text(f"runs:/{run_id}/report.html")
    info = mlflow.models.get_model_info(f"runs:/{run_id}/model")
    assert "spark" in info.flavors
    assert info.metadata[tracking.METADATA_KEY] == json.loads((run / "model" / "segspark-model.json").read_text())
    assert [c["name"] for c in info.signature.inputs.to_dict()] == [
        "log_products_ordered", "log_average_return_rate", "log_total_spending"
    ]  # fmt: skip


def test_scoring_from_the_registered_model_equals_scoring_from_the_run_folder(spark, tracked, tmp_path):
    path, output, run, client, logged = tracked
    (version,) = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert version.run_id == logged.info.run_id and int(version.version) == 1
    mlflow.set_tracking_uri(client.tracking_uri)  # as MLFLOW_TRACKING_URI would
    run_job(score, "--model", f"models:/{MODEL_NAME}/1", "--input", str(path), "--output", str(tmp_path / "m"))
    run_job(score, "--model", str(output), "--input", str(path), "--output", str(tmp_path / "f"))
    from_registry = spark.read.parquet(str(published(tmp_path / "m") / "customers"))
    from_folder = spark.read.parquet(str(published(tmp_path / "f") / "customers"))
    assert_df_equality(from_registry, from_folder, ignore_row_order=True)
    scoring = json.loads((published(tmp_path / "m") / "summary.json").read_text())["scoring"]
    assert scoring["model"] == f"models:/{MODEL_NAME}/1" and scoring["trained_on_run"] == run.name
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["LATEST", "runs"]  # no scratch left


def test_a_tracking_server_that_is_down_costs_the_run_a_warning(spark, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    path, output = orders_file(tmp_path, customers=30), tmp_path / "out"
    run_job(segment, "--input", str(path), "--output", str(output), "--track", "mlflow", *FAST)
    run = published(output)
    said = capsys.readouterr().out
    assert f"segment_customers: warning: run {run.name} is published but not tracked in MLflow:" in said
    conf = tmp_path / "required.toml"
    conf.write_text("[tracking]\nrequired = true\n")
    with pytest.raises(InputError, match=r"--track mlflow: the tracking store does not answer \("):
        segment.options(["--input", str(path), "--output", str(tmp_path / "o2"), "--track", "mlflow",
                         "--conf-file", str(conf)])  # fmt: skip


def test_a_run_that_does_not_publish_logs_nothing(spark, tmp_path, no_tracking_server):
    lines = [HEADER, *(csv_line(customer_id=c, order_id=c, total_sales="lots") for c in range(1, 11))]
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(QualityError):
        run_job(segment, "--input", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "out"),
                "--track", "mlflow", *FAST)  # fmt: skip
    assert not (tmp_path / "out" / "mlflow").exists()


def test_tracking_without_mlflow_installed_is_one_line(tmp_path, monkeypatch, no_tracking_server):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(UsageError, match=r"need MLflow: pip install 'segspark\[mlflow\]'"):
        segment.options(["--output", str(tmp_path / "out"), "--track", "mlflow"])
    with pytest.raises(UsageError, match="--register-model registers the run's model in MLflow"):
        segment.options(["--output", str(tmp_path / "out"), "--register-model", "x"])
    assert segment.options(["--output", str(tmp_path / "out")]).tracking.on is False


@pytest.fixture
def tracking_server(tmp_path):
    """`mlflow server` (what `mlflow ui` serves, and a team's tracking server is) on a free port,
    its store and artifacts in `tmp_path`; stopped with its workers."""
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=(tmp_path / "server.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                os.killpg(server.pid, signal.SIGKILL)
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield uri
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def test_a_run_tracked_on_a_server_shows_there_and_scores_from_it(spark, tmp_path, monkeypatch, tracking_server):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    path, output = orders_file(tmp_path, customers=30), tmp_path / "out"
    run_job(segment, "--input", str(path), "--output", str(output), "--track", "mlflow", *FAST)
    run = published(output)
    assert not (output / "mlflow").exists()  # the server's store, not the output folder's
    client = mlflow.MlflowClient(tracking_uri=tracking_server)
    (logged,) = client.search_runs(
        [client.get_experiment_by_name("segspark").experiment_id], f"tags.`segspark.run_id` = '{run.name}'"
    )
    elbow = json.loads((run / "summary.json").read_text())["elbow"]
    history = sorted(client.get_metric_history(logged.info.run_id, "cost"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(p["k"], p["cost"]) for p in elbow]
    assert (tmp_path / "server-artifacts").is_dir()  # artifacts went through the server
    run_job(score, "--model", f"runs:/{logged.info.run_id}/model", "--input", str(path), "--output",
            str(tmp_path / "scored"))  # fmt: skip
    expected = spark.read.parquet(str(run / "customers")).select("customer_id", "segment")
    scored = spark.read.parquet(str(published(tmp_path / "scored") / "customers")).select("customer_id", "segment")
    assert_df_equality(scored, expected, ignore_row_order=True)
