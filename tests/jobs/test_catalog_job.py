"""End to end through ./spark-submit.sh and ./spark-sql.sh: one shop's runs and the output folder's
built-in catalog (issue 30, items 2, 4, 5 and 8).

A fresh output's catalog is set up with spark-sql.sh (given the `file:/` path the jobs print), a
segment run reads a table there and publishes; scoring, with its own --output, uses the same
catalog (the model's output's); a copy of the output folder, whose catalog names the original's
files, is refused; and a catalog another process has open is one line before Spark opens it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from tests.builders import orders_file, published, submit
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..3", "--restarts", "2", "--stability", "2")


def spark_sql(output: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(["./spark-sql.sh", output, "-e", sql], cwd=REPO, capture_output=True, text=True, timeout=300)


def lines_of(done: subprocess.CompletedProcess, prefix: str) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith(prefix)]


def test_one_shops_catalog_from_set_up_to_scoring_and_a_copied_output_refused(tmp_path):
    orders = orders_file(tmp_path, customers=40)
    output = tmp_path / "out"
    # 1. a fresh output: spark-sql.sh makes its catalog, given the path as the jobs print it
    made = spark_sql(
        f"file:{output}",
        f"CREATE DATABASE shop; CREATE TABLE shop.orders USING csv OPTIONS (path 'file:{orders}', header 'true')",
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert f"spark-sql.sh: no catalog in {output} yet: making one" in made.stderr
    # 2. a segment run reads it and publishes into the same catalog
    segmented = submit("--input-table", "shop.orders", "--output", str(output), "--publish-tables", "segspark", *ARGS)
    assert segmented.returncode == 0, segmented.stdout[-3000:]
    # 3. scoring, with an output of its own, uses the model's output's catalog: its table and its tables
    scored = submit(
        "--model", str(output), "--input-table", "shop.orders", "--output", str(tmp_path / "scored"),
        "--publish-tables", "segspark", job="jobs/score_customers.py",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stdout[-3000:]
    assert not (tmp_path / "scored" / "catalog").exists()
    assert f"score_customers: query them with: ./spark-sql.sh {output} -e" in scored.stdout  # the shared one
    jobs = spark_sql(str(output), "SELECT job, count(*) FROM segspark.segspark_runs GROUP BY job ORDER BY job")
    assert jobs.stdout.split() == ["score", "1", "segment", "1"]
    # 4. a copy of the output folder: its catalog names the original's files, so a run there is refused
    copy = tmp_path / "copy"
    shutil.copytree(output, copy)
    refused = submit("--input-table", "shop.orders", "--output", str(copy), "--publish-tables", "segspark", *ARGS)
    assert refused.returncode == 2
    (line,) = lines_of(refused, "segment_customers: input error: --publish-tables segspark: the catalog in ")
    assert f"keeps segspark at file:{output}/catalog/warehouse/segspark.db, outside its warehouse" in line
    assert "this output folder was copied or moved with its catalog" in line
    assert sorted(p.name for p in (output / "runs").iterdir()) == sorted(p.name for p in (copy / "runs").iterdir())
    assert published(output).name == published(copy).name  # nothing new in either


HOLD_CATALOG = """
import sys, time
from segspark.edge import session
spark = session.start("a notebook", sys.argv[1])
spark.catalog.listDatabases()
print("holding", flush=True)
time.sleep(120)
"""


def test_a_catalog_another_process_has_open_is_one_line_before_spark_opens_it(tmp_path):
    output = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CATALOG, str(output)], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO), "SPARK_LOCAL_IP": "127.0.0.1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        busy = submit("--output", str(output), "--publish-tables", "segspark", *ARGS)
        seconds = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 2
    assert lines_of(busy, "segment_customers: input error: ") == [
        f"segment_customers: input error: the built-in catalog in {output}/catalog is open in another process "
        "(its Derby metastore serves one process at a time: another run with tables in this output folder, a "
        "./spark-sql.sh, a notebook): run again when that one has ended, or give the runs a shared metastore "
        "(docs/tables.md)"
    ]
    assert "Another instance of Derby" not in busy.stdout + busy.stderr and seconds < 60
