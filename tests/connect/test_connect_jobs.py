"""The segment job, a refresh and a scoring run over a local Spark Connect server, each against the
same run in classic mode: the same elbow, k, customers' segments, refresh ids and scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from segspark.edge import score, segment
from tests.builders import PERIOD_1, PERIOD_2, PERIOD_ARGS, habit_orders_file, published, run_job
from tests.conftest import REPO


def over_connect(remote: str, job: str, *args: str) -> subprocess.CompletedProcess:
    """A job run by a plain Python with --remote, as a thin client runs it (no spark-submit)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_"))}
    env["PYTHONPATH"] = str(REPO)
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


@pytest.mark.parametrize(
    "extra, said",
    [
        (("--publish-tables", "shop"), "publishing or reading runs in tables"),
        (("--track", "mlflow"), "--track mlflow over Spark Connect"),
    ],
)
def test_what_connect_cannot_do_yet_is_refused_in_one_line(connect_server, periods, tmp_path, extra, said):
    done = over_connect(
        connect_server, "segment_customers.py", "--input", str(periods[0]), "--output", str(tmp_path / "out"), *extra
    )
    assert done.returncode == 64, done.stdout[-2000:] + done.stderr[-2000:]
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "runs").exists()
