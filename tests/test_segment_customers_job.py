"""End to end: jobs/segment_customers.py through ./spark-submit.sh on small files."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from tests.builders import HEADER, csv_line
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def submit(*args: str) -> subprocess.CompletedProcess:
    """Run the job; spark-submit passes the Python driver's stderr through its stdout."""
    return subprocess.run(
        ["./spark-submit.sh", "--master", "local[2]", "jobs/segment_customers.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_run_publishes_customers_quarantine_and_a_summary_that_reconciles(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "\n".join(
            [
                HEADER,
                csv_line(customer_id=1, order_id=10, product_type="Shirts", total_sales=30.0),
                csv_line(customer_id=1, order_id=11, product_type="Jeans", total_sales=70.0,
                         ordered_item_quantity=2, returned_item_quantity=-1),
                csv_line(customer_id=2, order_id=20, total_sales=15.5),
                csv_line(customer_id=2, order_id=21, ordered_item_quantity=0, returned_item_quantity=-1),
                csv_line(customer_id="", order_id=30),
                csv_line(customer_id=3, order_id=40, total_sales=-25.0),
                csv_line(customer_id=4, order_id=50, ordered_item_quantity="lots"),
                "only,three,fields",
            ]
        )
        + "\n"
    )
    output = tmp_path / "out"

    result = submit("--input", str(orders), "--output", str(output))

    assert result.returncode == 0, result.stderr[-3000:]
    run_id = (output / "LATEST").read_text().strip()
    run_dir = output / "runs" / run_id
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {
        "lines_in": 8,
        "lines_used": 3,
        "lines_excluded": {
            "no_customer_id": 1,
            "ordered_item_quantity_not_positive": 1,
            "customer_total_spending_at_most_minus_1": 1,
        },
        "lines_quarantined": 2,
        "lines_quarantined_by_rule": {"bad_ordered_item_quantity": 1, "wrong_field_count": 1},
        "customers": 2,
        "customers_excluded": {"customer_total_spending_at_most_minus_1": 1},
    }
    customers = pd.read_parquet(run_dir / "customers").sort_values("customer_id")
    assert customers["customer_id"].tolist() == [1, 2]
    assert customers["products_ordered"].tolist() == [2, 1]
    assert customers["average_return_rate"].tolist() == [0.25, 0.0]
    assert customers["total_spending"].tolist() == [100.0, 15.5]
    quarantine = pd.read_json(next((run_dir / "quarantine").glob("part-*.json")), lines=True)
    assert sorted(quarantine["quarantine_rule"]) == ["bad_ordered_item_quantity", "wrong_field_count"]
    assert set(quarantine["source_file"].str.rsplit("/", n=1).str[-1]) == {"orders.csv"}
    assert "only,three,fields" in set(quarantine["raw_line"])
    assert f"published: {run_dir}" in result.stdout
    assert "lines in" in result.stdout


def test_bad_input_is_one_clear_line_and_a_non_zero_exit(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER.replace(",taxes", "") + "\n")
    output = tmp_path / "out"

    result = submit("--input", str(orders), "--output", str(output))

    assert result.returncode == 2
    assert f"segment_customers: input error: file://{orders}: bad header: missing column 'taxes'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (output / "LATEST").exists()


def test_an_input_with_no_lines_and_a_missing_input_are_refused(tmp_path):
    header_only = tmp_path / "header-only.csv"
    header_only.write_text(HEADER + "\n")
    empty = submit("--input", str(header_only), "--output", str(tmp_path / "out"))
    missing = submit("--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "out"))

    assert empty.returncode == 2
    assert "no order lines (the input is empty or has only a header)" in empty.stdout
    assert missing.returncode == 2
    assert f"{tmp_path / 'nope.csv'}: input not found" in missing.stdout
    assert "Traceback" not in empty.stdout + empty.stderr + missing.stdout + missing.stderr
