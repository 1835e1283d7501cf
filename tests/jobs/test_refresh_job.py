"""End to end: a second run on a later export carries the segments over and reports who moved where.

Period 1: 60 customers in three habits (20 each). Period 2: 57 of them again, customers 1-5 moved
from the low spenders to the big spenders on purpose, 3 gone, 6 new. The second run, into the same
output folder, compares itself with the first (its LATEST). A third, with k = 2 against the first
run, retires a segment; scoring then keeps the carried ids.

The jobs' main() run in the tests' SparkSession (no JVM start per run): what spark-submit adds is
covered by tests/test_segment_customers_job.py and tests/test_hardening_job.py. The two periods'
runs (`two_periods`, tests/jobs/conftest.py) also publish into catalog tables, the second reading
its export from a table: tests/jobs/test_tables_job.py reads them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from jobs import score_customers, segment_customers
from segspark.errors import InputError
from tests.builders import MOVERS, published, run_job
from tests.builders import PERIOD_ARGS as ARGS

pytestmark = pytest.mark.e2e


def segment_of(run: Path) -> dict[int, int]:
    customers = pd.read_parquet(run / "customers")
    return dict(zip(customers["customer_id"], customers["segment"]))


@pytest.mark.spark_lines
def test_the_first_run_says_it_had_nothing_to_compare_with(two_periods):
    _, first_run, _, _ = two_periods
    refresh = json.loads((first_run / "summary.json").read_text())["refresh"]
    assert refresh["compared"] is False and refresh["reason"].startswith("no previous run in ")


@pytest.mark.spark_lines
def test_a_refresh_keeps_ids_and_names_and_counts_the_planted_movers(two_periods):
    _, first_run, second_run, _ = two_periods
    before, after = segment_of(first_run), segment_of(second_run)
    summary = json.loads((second_run / "summary.json").read_text())
    refresh = summary["refresh"]
    assert refresh["compared"] and refresh["previous_run"] == first_run.name
    assert refresh["rule"] == "centres_and_shared_customers"
    assert refresh["customers"] == {"both": 57, "only_previous": 3, "only_current": 6}
    # every customer who kept their habits kept their segment id
    stayers = [c for c in range(6, 58)]
    assert all(after[c] == before[c] for c in stayers)
    low, big = before[1], before[41]
    assert all(after[c] == big for c in MOVERS)
    migration = {(m["from"], m["to"]): m["customers"] for m in refresh["migration"]}
    assert sum(migration.values()) == refresh["customers"]["both"] == 57
    assert migration[(low, big)] == 5  # the planted movers, where they moved
    assert sum(n for (a, b), n in migration.items() if a == b) == 52  # diagonal-heavy: everyone else
    assert refresh["retired"] == []
    assert sorted(row["previous_segment"] for row in refresh["segments"]) == sorted(set(before.values()))
    new_by_segment = {row["segment"]: row["new_customers"] for row in refresh["segments"]}
    assert new_by_segment == {low: 2, before[21]: 2, big: 2}
    assert refresh["gone_by_previous_segment"] == {str(low): 0, str(before[21]): 0, str(big): 3}
    previous_names = json.loads((first_run / "summary.json").read_text())["model"]["segments"]
    assert {s: v["name"] for s, v in summary["model"]["segments"].items()} == {
        s: v["name"] for s, v in previous_names.items()
    }
    assert set(refresh["drift"]) == {"products_ordered", "average_return_rate", "total_spending"}
    page = (second_run / "report.html").read_text()
    assert 'id="chart-migrations"' in page and "Since the previous run" in page


def test_a_refresh_with_another_k_retires_a_segment_and_scoring_keeps_the_ids(two_periods, tmp_path):
    folder, first_run, _, second_input = two_periods
    output = folder / "out-k2"
    run_job(
        segment_customers,
        "--input",
        str(second_input),
        "--output",
        str(output),
        "--previous",
        str(first_run),
        "--k",
        "2",
        "--k-range",
        "1..4",
        "--restarts",
        "2",
    )
    run = published(output)
    summary = json.loads((run / "summary.json").read_text())
    refresh = summary["refresh"]
    assert refresh["compared"] and len(refresh["retired"]) == 1
    assert summary["model"]["highest_segment_id_issued"] == 2  # a retired id is never issued again
    kept = sorted(int(s) for s in summary["model"]["sizes"])
    assert kept == sorted(set(segment_of(first_run).values()) - set(refresh["retired"]))
    run_job(score_customers, "--model", str(output), "--input", str(second_input), "--output", str(tmp_path / "scored"))
    scored_run = published(tmp_path / "scored")
    assert segment_of(scored_run) == segment_of(run)  # the ids the model was trained with


def test_a_bad_latest_and_a_pruned_previous_run_are_said_and_the_ids_kept(two_periods, tmp_path):
    """Months of refreshes: LATEST garbled (it made the run say 'stopped before publishing' and renumber
    silently) and the previous run's customers/ pruned by a retention job (every later run failed with
    PATH_NOT_FOUND). The run compares with the newest complete run by its centres and says both."""
    folder, _, second_run, second_input = two_periods
    output = tmp_path / "out"
    shutil.copytree(folder / "out", output)  # this test damages its own copy
    (output / "LATEST").write_text("garbage\n")
    shutil.rmtree(output / "runs" / second_run.name / "customers")
    run_job(segment_customers, "--input", str(second_input), "--output", str(output), *ARGS)
    third = published(output)
    refresh = json.loads((third / "summary.json").read_text())["refresh"]
    assert refresh["compared"] and refresh["previous_run"] == second_run.name
    assert refresh["rule"] == "centre_distance" and refresh["retired"] == []
    notes = " ".join(refresh["notes"])
    assert "holds 'garbage', which is not a run id" in notes and "has no customers/ (pruned?)" in notes
    assert refresh["migration"] is None and refresh["drift"] is None
    second_segments = json.loads((second_run / "summary.json").read_text())["model"]["sizes"]
    assert json.loads((third / "summary.json").read_text())["model"]["sizes"] == second_segments  # same ids
    assert "no longer there (pruned)" in (third / "report.html").read_text()


def test_a_respaced_format_still_refreshes_and_a_changed_one_says_loudly_that_ids_start_again(
    two_periods, tmp_path, capsys
):
    folder, _, second_run, second_input = two_periods
    output = tmp_path / "out"
    shutil.copytree(folder / "out", output)
    shopify = (Path(__file__).parents[2] / "conf" / "formats" / "shopify.toml").read_text()
    respaced = tmp_path / "respaced.toml"
    respaced.write_text(shopify.replace('total_sales = "total_sales"', 'total_sales = "  TOTAL_SALES  "'))
    run_job(segment_customers, "--input", str(second_input), "--output", str(output), "--format", str(respaced), *ARGS)
    third = published(output)
    refresh = json.loads((third / "summary.json").read_text())["refresh"]
    assert refresh["compared"] and refresh["previous_run"] == second_run.name
    changed = tmp_path / "changed.toml"
    changed.write_text(shopify.replace('return_rate = "per_order"', 'return_rate = "per_customer"'))
    capsys.readouterr()
    run_job(segment_customers, "--input", str(second_input), "--output", str(output), "--format", str(changed), *ARGS)
    fourth = published(output)
    refresh = json.loads((fourth / "summary.json").read_text())["refresh"]
    assert refresh["compared"] is False and refresh["skipped_run"] == third.name
    warning = f"WARNING: not a refresh: the previous run {third.name} does not compare"
    assert refresh["warning"].startswith(warning)
    assert f"segment_customers: {warning}" in capsys.readouterr().out
    assert "<p class='warning'>WARNING: not a refresh" in (fourth / "report.html").read_text()


def test_an_explicit_previous_that_cannot_be_compared_is_an_input_error(two_periods, tmp_path):
    folder, first_run, _, second_input = two_periods
    unfinished = tmp_path / "out" / "runs" / "20200101T000000Z-abcdef"
    shutil.copytree(first_run, unfinished)
    (unfinished / "summary.json").unlink()
    with pytest.raises(InputError, match=r"--previous .*: cannot compare with it: .*not a complete run"):
        segment_customers.main(
            ["--input", str(second_input), "--output", str(tmp_path / "new"), "--previous", str(unfinished), *ARGS]
        )
