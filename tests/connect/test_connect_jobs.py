"""The segment job, a refresh and a scoring run over a local Spark Connect server, each against the
same run in classic mode: the same elbow, k, customers' segments, refresh ids and scores; and the
runs published into the server's catalog under its lock view."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from segspark.edge import score, segment
from tests.builders import PERIOD_1, PERIOD_2, PERIOD_ARGS, habit_orders_file, published, run_job
from tests.conftest import REPO
from tests.connect.conftest import run_over_connect


def over_connect(remote: str, job: str, *args: str, **environment: str) -> subprocess.CompletedProcess:
    """A job run by a plain Python with --remote, as a thin client runs it (no spark-submit)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_", "MLFLOW_"))}
    env.update(environment, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, f"jobs/{job}", "--remote", remote, *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def summary(output) -> dict:
    return json.loads((published(output) / "summary.json").read_text())


@pytest.fixture(scope="module")
def periods(tmp_path_factory):
    folder = tmp_path_factory.mktemp("connect-periods")
    return habit_orders_file(folder, "period1.csv", PERIOD_1), habit_orders_file(folder, "period2.csv", PERIOD_2)


def test_segment_refresh_and_score_over_connect_equal_classic_mode(spark, connect_server, periods, tmp_path):
    first, second = periods
    classic, remote = tmp_path / "classic", tmp_path / "connect"
    for period in (first, second):  # the second run is a refresh of the first
        run_job(segment, "--input", str(period), "--output", str(classic), *PERIOD_ARGS)
        done = over_connect(
            connect_server, "segment_customers.py", "--input", str(period), "--output", str(remote), *PERIOD_ARGS
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        expected, found = summary(classic), summary(remote)
        assert [p["k"] for p in found["elbow"]] == [p["k"] for p in expected["elbow"]]
        for over, mine in zip(found["elbow"], expected["elbow"]):
            assert over["cost"] == pytest.approx(mine["cost"], rel=1e-9)
        assert found["model"]["k"] == expected["model"]["k"]
        assert found["refresh"].get("migration") == expected["refresh"].get("migration")
        assert found["run"]["engine"] == "connect" and expected["run"]["engine"] == "classic"
        assert found["run"]["spark_jobs"] is None and "job counter" in found["run"]["spark_jobs_unavailable"]
        assert_df_equality(
            spark.read.parquet(str(published(remote) / "customers")),
            spark.read.parquet(str(published(classic) / "customers")),
            ignore_row_order=True,
        )
    scored_classic, scored_remote = tmp_path / "scored-classic", tmp_path / "scored-connect"
    run_job(score, "--model", str(classic), "--input", str(second), "--output", str(scored_classic))
    done = over_connect(
        connect_server,
        "score_customers.py",
        "--model",
        str(remote),
        "--input",
        str(second),
        "--output",
        str(scored_remote),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_df_equality(
        spark.read.parquet(str(published(scored_remote) / "customers")),
        spark.read.parquet(str(published(scored_classic) / "customers")),
        ignore_row_order=True,
    )


def test_runs_over_connect_publish_into_the_servers_catalog(spark, connect_server, periods, tmp_path):
    """Segment, refresh and score runs over Connect publish into tables of the server's catalog under
    a lock view it makes once: the tables hold exactly the runs' customers, the view the newest
    segment run's, and no lock is left; a table of that catalog is an input as its file is."""
    first, second = periods
    output, scored = tmp_path / "connect", tmp_path / "scored"
    for period in (first, second):
        done = over_connect(
            connect_server, "segment_customers.py", "--input", str(period), "--output", str(output),
            "--publish-tables", "connect_shop", *PERIOD_ARGS,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "published to the tables of connect_shop" in done.stdout
    done = over_connect(
        connect_server, "score_customers.py", "--model", str(output), "--input", str(second),
        "--output", str(scored), "--publish-tables", "connect_shop",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = sorted(path.name for path in (output / "runs").iterdir()) + [published(scored).name]
    found = run_over_connect(
        connect_server,
        "query",
        {
            "database": "connect_shop",
            "queries": {
                "SELECT run_id, job FROM connect_shop.segspark_runs": str(tmp_path / "q-runs"),
                "SELECT * FROM connect_shop.segspark_customer_segments": str(tmp_path / "q-customers"),
                "SELECT * FROM connect_shop.segspark_current": str(tmp_path / "q-current"),
            },
        },
        tmp_path,
    )
    assert "segspark_publishing" not in found["tables"]
    assert sorted((r.run_id, r.job) for r in spark.read.parquet(str(tmp_path / "q-runs")).collect()) == sorted(
        zip(runs, ["segment", "segment", "score"])
    )
    in_tables = spark.read.parquet(str(tmp_path / "q-customers"))
    for run in (output / "runs" / runs[0], output / "runs" / runs[1], published(scored)):
        customers = spark.read.parquet(str(run / "customers"))
        assert_df_equality(
            in_tables.where(F.col("run_id") == run.name).select(*customers.columns),
            customers,
            ignore_row_order=True,
            ignore_nullable=True,
        )
    current = spark.read.parquet(str(tmp_path / "q-current"))
    assert {row.run_id for row in current.select("run_id").distinct().collect()} == {runs[1]}

    # the second period as a table of the server's catalog: scoring it equals scoring its file
    statement = f"CREATE TABLE connect_shop.period2 USING csv OPTIONS (path '{second}', header 'true')"
    run_over_connect(connect_server, "query", {"database": "connect_shop", "statements": [statement]}, tmp_path)
    from_table = tmp_path / "scored-from-table"
    done = over_connect(
        connect_server, "score_customers.py", "--model", str(output), "--input-table", "connect_shop.period2",
        "--output", str(from_table),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_df_equality(
        spark.read.parquet(str(published(from_table) / "customers")),
        spark.read.parquet(str(published(scored) / "customers")),
        ignore_row_order=True,
    )


def test_a_publisher_over_connect_waits_for_the_lock_view_then_names_its_holder(connect_server, tmp_path):
    found = run_over_connect(
        connect_server, "lock", {"database": "connect_locked", "output": "file:/locked-out"}, tmp_path
    )
    assert found["held"] and not found["left"]
    assert found["message"].startswith(
        "--publish-tables connect_locked: another run is publishing into it (run 20261205T000000Z-aaaaaa since 20"
    )
    assert found["message"].endswith(
        "lock view connect_locked.segspark_publishing); waited 1 s. If no run is publishing (one was killed), "
        "drop the lock view (DROP VIEW connect_locked.segspark_publishing) and publish again"
    )
    assert not found["jvm_started"] and not found["segspark_jvm_imported"]


def test_a_run_over_connect_is_tracked_in_mlflow_without_its_model(connect_server, periods, tmp_path):
    """MLflow's Spark flavour copies the model by py4j: over Connect the run is logged (params, the
    elbow, counts, summary, report, the model's metadata) and says where its model is instead."""
    mlflow = pytest.importorskip("mlflow")
    output, store = tmp_path / "out", f"sqlite:///{tmp_path / 'mlflow.db'}"
    # the experiment made here with its artifacts in tmp_path (a SQLite store's default is ./mlruns)
    mlflow.MlflowClient(tracking_uri=store).create_experiment("segspark", artifact_location=str(tmp_path / "art"))
    done = over_connect(
        connect_server, "segment_customers.py", "--input", str(periods[0]), "--output", str(output),
        "--track", "mlflow", *PERIOD_ARGS, MLFLOW_TRACKING_URI=store,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tracked in MLflow as run" in done.stdout and "without its model" in done.stdout
    run = published(output)
    run_summary = summary(output)
    client = mlflow.MlflowClient(tracking_uri=store)
    (logged,) = client.search_runs([client.get_experiment_by_name("segspark").experiment_id])
    assert logged.info.status == "FINISHED" and logged.info.run_name == run.name
    assert logged.data.params["k"] == str(run_summary["model"]["k"])
    history = client.get_metric_history(logged.info.run_id, "cost")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (p["k"], p["cost"]) for p in run_summary["elbow"]
    ]
    assert logged.data.tags["segspark.model_folder"] == str(run / "model")  # the server's path, as given
    assert "py4j" in logged.data.tags["segspark.model_not_logged"]
    names = {artifact.path for artifact in client.list_artifacts(logged.info.run_id)}
    assert names == {"summary.json", "report.html", "elbow.html", "segspark-model.json"}
    assert sorted(path.name for path in output.iterdir()) == ["LATEST", "runs"]


@pytest.mark.parametrize(
    "job, extra, said",
    [
        ("segment_customers.py", ("--track", "mlflow"), "--track mlflow over Spark Connect: set MLFLOW_TRACKING_URI"),
        (
            "segment_customers.py",
            ("--track", "mlflow", "--register-model", "shop"),
            "--register-model over Spark Connect: MLflow's Spark flavour",
        ),
        ("score_customers.py", ("--model", "runs:/0123/model"), "--model runs:/0123/model over Spark Connect"),
    ],
)
def test_what_connect_cannot_do_is_refused_in_one_line(connect_server, periods, tmp_path, job, extra, said):
    done = over_connect(
        connect_server, job, "--input", str(periods[0]), "--output", str(tmp_path / "out"), *extra
    )  # fmt: skip
    assert done.returncode == 64, done.stdout[-2000:] + done.stderr[-2000:]
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "runs").exists()


def test_the_built_in_sample_is_made_on_the_server_whole_then_kept(connect_server, tmp_path):
    """No rename over Connect: the sample is written in place under the output folder, and a run takes
    it once its _SUCCESS is there; one without it (a run stopped while making it) is named, not read."""
    settings = tmp_path / "small.toml"
    settings.write_text("[sample]\nlines = 3000\n")
    output = tmp_path / "out"
    sample = output / "built-in-sample"
    for made in (True, False):
        done = over_connect(
            connect_server, "segment_customers.py", "--output", str(output), "--conf-file", str(settings),
            "--k-range", "1..3", "--restarts", "1", "--stability", "0",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (f"made the built-in sample at {sample}\n" in done.stdout) is made  # the server's path, as given
        assert summary(output)["counts"]["lines_in"] == 3000
    assert (sample / "_SUCCESS").is_file()
    (sample / "_SUCCESS").unlink()
    done = over_connect(connect_server, "segment_customers.py", "--output", str(output), "--conf-file", str(settings))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"{sample}: the built-in sample there is incomplete (no _SUCCESS" in done.stderr
    assert "Traceback" not in done.stderr
