"""segspark on a real HDFS and a real YARN (the test cluster): the runs a user makes there, checked by values.

In order, sharing one output folder on HDFS (folder names with spaces):
1. YARN cluster deploy mode, the wheel in --py-files, plain spark-submit from an empty folder,
   hdfs:// URIs: the run, LATEST, summary.json, report.html and model on HDFS, the customers of
   local mode exactly, nothing left on the submitter's disk or in the containers' working folders;
2. the driver killed in cluster mode: the previous LATEST and run intact;
3. YARN client mode with scheme-less paths (the default filesystem is the HDFS), an executor
   killed during the elbow sweep: a refresh of run 1 with its ids and the same segments;
4. scoring in client mode, the model read from HDFS;
5. the quality gate in cluster mode: the application FAILED with the job's reason as its
   diagnostics, one attempt, spark-submit.sh exiting 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from segspark.edge import paths
from tests.builders import HEADER, csv_line
from tests.cluster.conftest import (
    ARGS,
    HDFS,
    STATE,
    assert_same_customers,
    copy_to_hadoop,
    customers_frame,
    java_processes_with,
    reference_customers,
    run_lines,
    wait_for,
)
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

SPARK_SUBMIT = str(REPO / ".venv" / "bin" / "spark-submit")
#: What a run writes: none of it may land in a container's working folder or the submitter's.
RUN_FILES = {"runs", "LATEST", "summary.json", "report.html", "model", "customers", "data", "out", "metastore_db",
             "spark-warehouse", "derby.log", "built-in-sample", "catalog"}  # fmt: skip


@pytest.fixture(scope="module")
def hdfs(spark, orders, root) -> dict[str, str]:
    """The input on HDFS, and where the runs go: hdfs:// URIs and the same as bare paths."""
    base = f"/{root}/yarn"
    copy_to_hadoop(spark, orders, f"{HDFS}{base}/exports/period 1/orders.csv")
    return {
        "input": f"{HDFS}{base}/exports/period 1",
        "output": f"{HDFS}{base}/segments/my shop",
        "bare_input": f"{base}/exports/period 1",
        "bare_output": f"{base}/segments/my shop",
        "base": base,
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[str, str]:
    """The wheel and the job's entry file, as `make dist` makes them, outside the checkout."""
    folder = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(folder),
         str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = folder.glob("segspark-*.whl")
    entry = folder / "segment_customers.py"
    entry.write_text((REPO / "jobs" / "segment_customers.py").read_text())
    return str(built), str(entry)


def latest(spark, output: str) -> str:
    return paths.read_text(spark, paths.join(output, "LATEST")).strip()


def container_folders(app_id: str) -> list[Path]:
    return [path for path in STATE.glob(f"yarn/**/appcache/{app_id}/container_*") if path.is_dir()]


def newest_app(test_cluster, after: set[str]) -> dict | None:
    fresh = [app for app in test_cluster.apps() if app["id"] not in after]
    return max(fresh, key=lambda app: app["startedTime"]) if fresh else None


@pytest.fixture(scope="module")
def cluster_mode_run(test_cluster, hdfs, wheel, tmp_path_factory):
    """Run 1: plain spark-submit of the wheel in YARN cluster deploy mode, from an empty folder."""
    built, entry = wheel
    submitter = tmp_path_factory.mktemp("submitter")
    before = {app["id"] for app in test_cluster.apps()}
    done = run_lines(
        [SPARK_SUBMIT, "--master", "yarn", "--deploy-mode", "cluster", "--py-files", built, entry,
         "--input", hdfs["input"], "--output", hdfs["output"], *ARGS],
        env=test_cluster.env, cwd=submitter,
    )  # fmt: skip
    app = newest_app(test_cluster, before)
    return done, app, submitter


def test_cluster_mode_publishes_on_hdfs_the_customers_of_local_mode_and_leaves_nothing_elsewhere(
    spark, test_cluster, hdfs, cluster_mode_run, local_run
):
    done, app, submitter = cluster_mode_run
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert app["finalStatus"] == "SUCCEEDED" and app["applicationType"] == "SPARK", app
    run_id = latest(spark, hdfs["output"])
    run = paths.join(hdfs["output"], "runs", run_id)
    # the line a user needs: the application's diagnostics name the published run, and spark-submit prints them
    assert app["diagnostics"] == f"segment_customers: published {run}", app["diagnostics"]
    assert f"diagnostics: segment_customers: published {run}" in log
    for name in ("summary.json", "report.html", "model/segspark-model.json", "customers/_SUCCESS"):
        assert paths.exists(spark, paths.join(run, name)), name
    summary = json.loads(paths.read_text(spark, paths.join(run, "summary.json")))
    assert summary["run"]["spark_master"] == "yarn"
    assert summary["counts"]["customers"] == 200
    assert_same_customers(customers_frame(spark, paths.join(run, "customers")), reference_customers(local_run))
    # nothing on the submitter's disk, nothing a run writes in a container's working folder
    assert list(submitter.iterdir()) == []
    folders = container_folders(app["id"])
    assert folders, "the containers' working folders are kept an hour (the test cluster's setting)"
    for folder in folders:
        assert not RUN_FILES & {entry.name for entry in folder.iterdir()}, sorted(p.name for p in folder.iterdir())


def test_the_driver_killed_in_cluster_mode_leaves_the_previous_run_current_and_intact(
    spark, test_cluster, hdfs, cluster_mode_run, local_run
):
    current = latest(spark, hdfs["output"])
    before = {app["id"] for app in test_cluster.apps()}
    job = subprocess.Popen(
        ["./spark-submit.sh", "--master", "yarn", "--deploy-mode", "cluster", "--conf", "spark.yarn.maxAppAttempts=1",
         "jobs/segment_customers.py", "--input", hdfs["input"], "--output", hdfs["output"], *ARGS],
        cwd=REPO, env=test_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        app = wait_for(lambda: newest_app(test_cluster, before), 180, "the application")
        driver_log = wait_for(
            lambda: next(iter(STATE.glob(f"yarn/**/{app['id']}/container_*_000001/stdout")), None), 180, "the driver"
        )
        wait_for(lambda: "elbow over k" in driver_log.read_text(), 300, "the elbow sweep")
        driver = java_processes_with(f"{app['id']}", "_000001", "org.apache.spark.deploy.yarn.ApplicationMaster")
        assert driver, "the driver's JVM"
        for pid in driver:
            os.kill(pid, signal.SIGKILL)
        output, _ = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0, output[-3000:]
    assert test_cluster.app(app["id"])["finalStatus"] == "FAILED"
    assert latest(spark, hdfs["output"]) == current
    run = paths.join(hdfs["output"], "runs", current)
    assert_same_customers(customers_frame(spark, paths.join(run, "customers")), reference_customers(local_run))


def test_client_mode_with_bare_paths_refreshes_run_1_despite_an_executor_killed_mid_sweep(
    spark, test_cluster, hdfs, cluster_mode_run, local_run
):
    previous = latest(spark, hdfs["output"])
    job = subprocess.Popen(
        ["./spark-submit.sh", "--master", "yarn", "jobs/segment_customers.py",
         "--input", hdfs["bare_input"], "--output", hdfs["bare_output"], *ARGS],
        cwd=REPO, env=test_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    seen, killed = [], []
    try:
        for line in job.stdout:
            seen.append(line)
            if " fitted: training cost" in line and not killed:  # the sweep's first k is in
                app_ids = [app["id"] for app in test_cluster.apps() if app["state"] == "RUNNING"]
                executors = [
                    pid for app_id in app_ids for pid in java_processes_with(app_id, "YarnCoarseGrainedExecutorBackend")
                ]
                assert len(executors) == 2, "".join(seen)[-3000:]
                killed.append(executors[0])
                os.kill(executors[0], signal.SIGKILL)
        job.wait(timeout=600)
    finally:
        if job.poll() is None:
            job.kill()
    log = "".join(seen)
    assert job.returncode == 0, log[-4000:]
    assert killed, log[-3000:]
    assert "Lost executor" in log or "ExecutorLostFailure" in log, log[-3000:]
    assert f"published: {hdfs['output']}/runs/" in log  # the bare path on the default filesystem: the HDFS
    run_id = latest(spark, hdfs["output"])
    assert run_id != previous
    run = paths.join(hdfs["output"], "runs", run_id)
    summary = json.loads(paths.read_text(spark, paths.join(run, "summary.json")))
    refresh = summary["refresh"]
    assert refresh["compared"] and refresh["previous_run"] == previous
    assert refresh["customers"] == {"both": 200, "only_previous": 0, "only_current": 0}
    assert all(move["from"] == move["to"] for move in refresh["migration"])  # the same data: nobody moved
    assert_same_customers(customers_frame(spark, paths.join(run, "customers")), reference_customers(local_run))


def test_scoring_in_client_mode_reads_the_model_from_hdfs(spark, test_cluster, hdfs, cluster_mode_run, local_run):
    scored = f"{hdfs['base']}/scored"
    done = run_lines(
        ["./spark-submit.sh", "--master", "yarn", "jobs/score_customers.py",
         "--model", hdfs["bare_output"], "--input", hdfs["bare_input"], "--output", scored],
        env=test_cluster.env,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run = paths.join(f"{HDFS}{scored}", "runs", latest(spark, f"{HDFS}{scored}"))
    found = customers_frame(spark, paths.join(run, "customers"))
    expected = reference_customers(local_run)
    assert dict(zip(found["customer_id"], found["segment"])) == dict(zip(expected["customer_id"], expected["segment"]))


def test_the_quality_gate_in_cluster_mode_fails_the_application_with_the_reason_once(
    spark, test_cluster, hdfs, tmp_path
):
    bad = tmp_path / "orders.csv"
    good = [csv_line(customer_id=c, order_id=c * 10, total_sales=float(c)) for c in range(1, 31)]
    broken = [csv_line(customer_id=f"C-{c}", order_id=c * 10 + 1) for c in range(1, 4)]  # 3 of 33: 9.1%
    bad.write_text("\n".join([HEADER, *good, *broken]) + "\n")
    copy_to_hadoop(spark, bad, f"{HDFS}{hdfs['base']}/bad/orders.csv")
    output = f"{hdfs['base']}/gated"
    before = {app["id"] for app in test_cluster.apps()}
    started = time.monotonic()
    done = run_lines(
        ["./spark-submit.sh", "--master", "yarn", "--deploy-mode", "cluster", "jobs/segment_customers.py",
         "--input", f"{hdfs['base']}/bad", "--output", output, *ARGS],
        env=test_cluster.env,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 2, log[-4000:]
    app = newest_app(test_cluster, before)
    reason = "segment_customers: input error: 9.1% of the 33 input lines were quarantined"
    assert app["finalStatus"] == "FAILED" and app["diagnostics"].startswith(reason), app
    assert app["diagnostics"].endswith("(exit 2)")
    # one attempt: another could not mend the input
    with urllib.request.urlopen(f"{test_cluster.web}/apps/{app['id']}/appattempts") as answer:
        assert len(json.load(answer)["appAttempts"]["appAttempt"]) == 1
    last = log.strip().splitlines()[-1]
    assert last.startswith(f"spark-submit.sh: YARN application {app['id']}: {reason}"), last
    assert not paths.exists(spark, f"{HDFS}{output}/LATEST")
    print(f"quality gate in cluster mode: {time.monotonic() - started:.0f} s")
