"""Reruns give byte-identical customer data; a run killed midway leaves the last published run current."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.builders import HEADER, csv_line
from tests.conftest import REPO
from tests.test_segment_customers_job import submit

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..4", "--restarts", "2")


def orders_file(folder: Path) -> Path:
    lines = [HEADER]
    for customer in range(1, 41):
        for order in range(1 + customer % 3):
            lines.append(
                csv_line(customer_id=customer, order_id=customer * 10 + order, product_type=f"type{customer % 5}",
                         total_sales=float(customer * (order + 1) % 97), ordered_item_quantity=1 + order,
                         returned_item_quantity=-(customer % 4 == 0))
            )
    path = folder / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def published(output: Path) -> Path:
    return output / "runs" / (output / "LATEST").read_text().strip()


def data_pages(folder: Path) -> list[bytes]:
    """Each Parquet part's bytes before its footer, in part order (names carry a random write id).

    The footer is left out: parquet-mr lists a column chunk's encodings from a hash set, so their
    order in the footer changes from one JVM to the next (seen here); the data does not.
    """
    parts = []
    for path in sorted(folder.glob("part-*.parquet")):
        content = path.read_bytes()
        footer_length = int.from_bytes(content[-8:-4], "little")
        parts.append(content[: len(content) - 8 - footer_length])
    return parts


def test_a_rerun_gives_byte_identical_customer_data_and_the_same_segments(tmp_path):
    orders = orders_file(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    for output in (first, second):
        result = submit("--input", str(orders), "--output", str(output), *ARGS)
        assert result.returncode == 0, result.stdout[-3000:]
    a, b = published(first), published(second)
    assert data_pages(a / "customers") and data_pages(a / "customers") == data_pages(b / "customers")
    first_table, second_table = (pd.read_parquet(run / "customers") for run in (a, b))
    pd.testing.assert_frame_equal(first_table, second_table, check_exact=True)
    summary_a, summary_b = (json.loads((run / "summary.json").read_text()) for run in (a, b))
    assert summary_a["model"]["centres"] == summary_b["model"]["centres"]
    assert summary_a["elbow"][1]["cost"] == summary_b["elbow"][1]["cost"]


def test_a_run_killed_midway_leaves_the_previous_run_current_and_intact(tmp_path):
    orders = orders_file(tmp_path)
    output = tmp_path / "out"
    result = submit("--input", str(orders), "--output", str(output), *ARGS)
    assert result.returncode == 0, result.stdout[-3000:]
    previous = published(output)
    latest_before = (output / "LATEST").read_bytes()

    job = subprocess.Popen(
        ["./spark-submit.sh", "--master", "local[2]", "jobs/segment_customers.py", "--input", str(orders),
         "--output", str(output), *ARGS],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    seen = []
    for line in job.stdout:  # kill it in the sweep: after the quarantine is written, before any result
        seen.append(line)
        if "k= 2" in line:
            os.killpg(job.pid, signal.SIGKILL)
            break
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL, "".join(seen)[-3000:]

    assert (output / "LATEST").read_bytes() == latest_before
    assert json.loads((previous / "summary.json").read_text())["run_id"] == previous.name
    assert len(pd.read_parquet(previous / "customers")) == 40
    unfinished = [run for run in (output / "runs").iterdir() if run != previous]
    assert len(unfinished) == 1  # the killed run left a folder, and nothing in it looks finished
    assert not (unfinished[0] / "summary.json").exists() and not (unfinished[0] / "report.html").exists()
