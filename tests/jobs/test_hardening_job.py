"""End to end: the run guards a real shop relies on (issue: hardening), through ./spark-submit.sh.

The quality gate, two runs publishing into one folder at once, and a whole run and its scoring
on a filesystem segspark reaches only through Hadoop (a viewfs:// mount of a local folder).
Scoring's refusals are in tests/test_segment_customers_job.py, beside the model they refuse.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from jobs import score_customers
from tests.builders import HEADER, csv_line, orders_file, published, submit
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..3", "--restarts", "2")


def test_a_run_that_quarantines_too_much_stops_before_publishing_unless_accepted(tmp_path):
    orders = tmp_path / "orders.csv"
    good = [csv_line(customer_id=c, order_id=c * 10, total_sales=float(c)) for c in range(1, 31)]
    bad = [csv_line(customer_id=f"C-{c}", order_id=c * 10 + 1) for c in range(1, 4)]  # 3 of 33: 9.1%
    orders.write_text("\n".join([HEADER, *good, *bad]) + "\n")
    output = tmp_path / "out"

    stopped = submit("--input", str(orders), "--output", str(output), *ARGS)
    assert stopped.returncode == 2
    assert (
        "input error: 9.1% of the 33 input lines were quarantined, more than the 5% allowed "
        "([quality] max_quarantined_share): most under bad_customer_id (3 lines), e.g. orders.csv: "
        "customer_id is not a whole number: 'C-"
    ) in stopped.stdout
    assert "--accept-quarantine" in stopped.stdout and "Traceback" not in stopped.stdout
    assert not (output / "LATEST").exists()
    # the quarantine stays for inspection; the run folder has no summary (it was not published)
    (run,) = (output / "runs").iterdir()
    assert any((run / "quarantine").glob("part-*.json")) and not (run / "summary.json").exists()
    # an accepted run: tests/test_segment_customers_job.py's small run (a quarter of its lines quarantined)


def test_two_runs_at_once_into_one_folder_on_a_hadoop_filesystem_both_publish_and_score(spark, tmp_path):
    """Two runs started together into one output folder on viewfs:// (a mount of a local folder that
    segspark reaches only through Hadoop's FileSystem): both complete, both run folders are intact,
    LATEST names one of them; then scoring reads that model and writes its runs there too."""
    (tmp_path / "data").mkdir()
    orders_file(tmp_path / "data", customers=30)
    mount = ("--conf", f"spark.hadoop.fs.viewfs.mounttable.segspark.link./shop=file://{tmp_path}/data")
    command = [
        "./spark-submit.sh",
        "--master",
        "local[1]",
        *mount,
        "jobs/segment_customers.py",
        "--input",
        "viewfs://segspark/shop/orders.csv",
        "--output",
        "viewfs://segspark/shop/segments",
        *ARGS,
    ]
    runs = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    segments = tmp_path / "data" / "segments"
    folders = sorted((segments / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:  # both intact: complete, with their own model and customers
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["run_id"] == folder.name and summary["counts"]["customers"] == 30
        assert (folder / "model" / "segspark-model.json").exists() and any((folder / "customers").glob("*.parquet"))
    latest = (segments / "LATEST").read_text().strip()
    assert latest in {folder.name for folder in folders}
    assert [p.name for p in segments.iterdir() if ".tmp-" in p.name] == []

    # scoring, in this session with the same mount: reads that model, writes its runs there too
    spark.sparkContext._jsc.hadoopConfiguration().set(
        "fs.viewfs.mounttable.segspark.link./shop", f"file://{tmp_path}/data"
    )
    assert (
        score_customers.main(
            [
                "--model",
                "viewfs://segspark/shop/segments",
                "--input",
                "viewfs://segspark/shop/orders.csv",
                "--output",
                "viewfs://segspark/shop/scored",
            ]
        )
        == 0
    )
    summary = json.loads((published(tmp_path / "data" / "scored") / "summary.json").read_text())
    assert summary["scoring"]["model"] == f"viewfs://segspark/shop/segments/runs/{latest}/model"
    assert sum(summary["scoring"]["sizes"].values()) == 30
