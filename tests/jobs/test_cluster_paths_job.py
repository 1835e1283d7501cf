"""End to end: a run, a refresh and a scoring where users run them (issue 22).

A cluster's default filesystem is not the driver's disk: with `fs.defaultFS` set to a viewfs://
mount of a temporary folder (what HDFS is to a YARN job), bare paths such as /shop/segments must
put every file of a run in that filesystem, and the refresh and the scoring must find it there.
The cluster's own SPARK_CONF_DIR sets that filesystem, and speculation on: segspark's guarantees
must hold anyway. The folder and file names have spaces, '#', '%', parentheses and accents, as
shops name their exports.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from jobs import score_customers, segment_customers
from tests.builders import orders_file, submit

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..3", "--restarts", "2", "--stability", "2")
EXPORTS = "exports/my orders #1 (é) 50%"


def files_under(folder) -> set[str]:
    return {os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names}


@pytest.fixture
def cluster_filesystem(tmp_path):
    """(the local folder the default filesystem holds, its mount point, the conf dir a cluster gives)."""
    held = tmp_path / "default-fs"  # a mount target is a URI in Hadoop conf: no space there
    (held / EXPORTS).mkdir(parents=True)
    orders = orders_file(held / EXPORTS, customers=30)
    orders.rename(orders.with_name("Sales by product variant.csv"))
    mount = f"/segspark-test-{uuid.uuid4().hex[:8]}"  # also a path on this machine's own disk, which must stay empty
    conf_dir = tmp_path / "cluster conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(
        "spark.hadoop.fs.defaultFS viewfs://cluster/\n"
        f"spark.hadoop.fs.viewfs.mounttable.cluster.link.{mount}  file://{held}\n"
        "spark.speculation true\n"
    )
    yield held, mount, conf_dir
    if os.path.exists(mount):
        shutil.rmtree(mount)  # only where the run wrote to the driver's disk: the failure asserted below


def test_a_run_refresh_and_scoring_on_a_default_filesystem_that_is_not_local(spark, cluster_filesystem):
    held, mount, conf_dir = cluster_filesystem
    env = {**os.environ, "SPARK_CONF_DIR": str(conf_dir)}
    result = submit(
        "--input",
        f"{mount}/{EXPORTS}",
        "--output",
        f"{mount}/segments of 2019",
        *ARGS,
        submit_options=("--master", "local[1]"),
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not os.path.exists(mount), "part of the run went to the driver's local disk"
    output = held / "segments of 2019"
    run_id = (output / "LATEST").read_text().strip()
    written = files_under(output / "runs" / run_id)
    for expected in (
        "summary.json",
        "report.html",
        "model/segspark-model.json",
        "customers/_SUCCESS",
        "quarantine/_SUCCESS",
        "model/metadata/_SUCCESS",
        "model/stages/1_kmeans_",
    ):
        assert any(name.startswith(expected) for name in written), expected
    summary = json.loads((output / "runs" / run_id / "summary.json").read_text())
    assert summary["input"] == f"viewfs://cluster{mount}/{EXPORTS}"
    # the cluster's conf asked for speculation: segspark's guarantee won, and the run said so
    assert summary["run"]["guarantees"]["spark.speculation"] == "false"
    assert "segspark: spark.speculation=true overridden with false" in result.stdout + result.stderr

    # the refresh and the scoring, in this session with the same default filesystem, find that run
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    before = hadoop.get("fs.defaultFS")
    hadoop.set(f"fs.viewfs.mounttable.cluster.link.{mount}", f"file://{held}")
    hadoop.set("fs.defaultFS", "viewfs://cluster/")
    try:
        assert (
            segment_customers.main(
                [
                    "--input",
                    f"{mount}/{EXPORTS}/Sales by product variant.csv",
                    "--output",
                    f"{mount}/segments of 2019",
                    *ARGS,
                ]
            )
            == 0
        )
        assert (
            score_customers.main(
                [
                    "--model",
                    f"{mount}/segments of 2019",
                    "--input",
                    f"{mount}/{EXPORTS}",
                    "--output",
                    f"{mount}/scored #1",
                ]
            )
            == 0
        )
    finally:
        hadoop.set("fs.defaultFS", before)
    assert not os.path.exists(mount)
    second = (output / "LATEST").read_text().strip()
    refresh = json.loads((output / "runs" / second / "summary.json").read_text())["refresh"]
    assert second != run_id and refresh["compared"] and refresh["previous_run"] == run_id
    assert refresh["customers"]["both"] == 30 and refresh["retired"] == []
    scored = held / "scored #1"
    scoring = json.loads((scored / "runs" / (scored / "LATEST").read_text().strip() / "summary.json").read_text())
    assert scoring["scoring"]["model"] == f"viewfs://cluster{mount}/segments of 2019/runs/{second}/model"
    assert sum(scoring["scoring"]["sizes"].values()) == 30
