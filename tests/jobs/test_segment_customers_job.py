"""End to end: jobs/segment_customers.py through ./spark-submit.sh on small files."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess

import pandas as pd
import pytest

from tests.browser import require_in_ci
from tests.builders import HEADER, csv_line, published, submit
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


PAYLOAD = "</script><script>alert(1)</script>"
PSEUDONYM_KEY = "e2e-pseudonym-key-7d1f0a"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One run on hand-made lines: every outcome once, and a script payload in a product's text."""
    tmp_path = tmp_path_factory.mktemp("small-run")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "\n".join(
            [
                HEADER,
                csv_line(customer_id=1, order_id=10, product_type="Shirts", total_sales=30.0),
                csv_line(
                    customer_id=1,
                    order_id=11,
                    product_type=PAYLOAD,
                    product_title=PAYLOAD,
                    total_sales=70.0,
                    ordered_item_quantity=2,
                    returned_item_quantity=-1,
                ),
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
    output = tmp_path / "o ut"  # a space: Hadoop paths, Derby and the query command all take it
    env = {**os.environ, "SEGSPARK_PSEUDONYM_KEY": PSEUDONYM_KEY}
    # a quarter of these lines is quarantined on purpose: past the quality gate, accepted for this run
    result = submit(
        "--input",
        str(orders),
        "--output",
        str(output),
        "--k-range",
        "1..3",
        "--restarts",
        "1",
        "--png",
        "--accept-quarantine",
        "--publish-tables",
        "segspark",
        env=env,
    )
    return result, output


@pytest.mark.spark_lines
def test_a_run_publishes_customers_quarantine_and_a_summary_that_reconciles(small_run):
    result, output = small_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = published(output)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"] == {
        "lines_in": 8,
        "lines_used": 3,
        "lines_excluded": {
            "no_customer_id": 1,
            "ordered_item_quantity_not_positive": 1,
            "customer_without_ordered_units": 0,
            "customer_total_spending_at_most_minus_1": 1,
        },
        "lines_quarantined": 2,
        "lines_quarantined_by_rule": {"bad_ordered_item_quantity": 1, "wrong_field_count": 1},
        "customers": 2,
        "customers_excluded": {"customer_without_ordered_units": 0, "customer_total_spending_at_most_minus_1": 1},
        "unparsed_unread_values": {},
    }
    assert summary["quality"] == {"max_quarantined_share": 0.05, "quarantined_share": 0.25, "accepted": True}
    assert "k range cut to 1..2: there are only 2 customers" in result.stdout
    assert [point["k"] for point in summary["elbow"]] == [1, 2]
    assert summary["model"]["k"] == 2 and summary["model"]["sizes"] == {"0": 1, "1": 1}
    customers = pd.read_parquet(run_dir / "customers").sort_values("customer_id")
    assert customers["customer_id"].tolist() == [1, 2]
    assert customers["segment"].tolist() == [1, 0]  # customer 2 spends less: segment 0
    assert customers["products_ordered"].tolist() == [2, 1]
    assert customers["average_return_rate"].tolist() == [0.25, 0.0]
    assert customers["total_spending"].tolist() == [100.0, 15.5]
    quarantine = pd.read_json(next((run_dir / "quarantine").glob("part-*.json")), lines=True)
    assert sorted(quarantine["quarantine_rule"]) == ["bad_ordered_item_quantity", "wrong_field_count"]
    assert set(quarantine["source_file"].str.rsplit("/", n=1).str[-1]) == {"orders.csv"}
    assert "only,three,fields" in set(quarantine["raw_line"])
    assert f"published: file:{run_dir}" in result.stdout  # where it went, as Hadoop names it
    assert "lines in" in result.stdout


def test_without_a_catalog_the_run_publishes_into_one_under_its_output_that_spark_sql_reads(small_run):
    result, output = small_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (output / "catalog" / "metastore_db").is_dir() and not (REPO / "derby.log").exists()
    hint = next(line for line in result.stdout.splitlines() if "query them with:" in line)
    assert f"./spark-sql.sh '{output}' -e" in hint
    query = subprocess.run(
        ["./spark-sql.sh", str(output), "-e", "SELECT count(*), min(run_id) FROM segspark.segspark_current"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert query.returncode == 0, query.stderr[-2000:]
    count, run_id = query.stdout.strip().splitlines()[-1].split("\t")
    assert (int(count), run_id) == (2, published(output).name)


def test_the_report_holds_every_chart_and_no_raw_payload_from_the_data(small_run):
    result, output = small_run
    assert result.returncode == 0, result.stdout[-3000:]
    run_dir = published(output)
    page = (run_dir / "report.html").read_text()
    for chart_id in ("chart-sizes", "chart-scatter", "chart-distributions", "chart-elbow", "chart-profiles"):
        assert f'id="{chart_id}"' in page
    assert PAYLOAD not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # listed, escaped, as a product type
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()) == 1  # plotly.js inline, once
    own = page.replace(get_plotlyjs(), "")  # the bundle's own text mentions URLs it never loads here
    assert "<script src=" not in own and "https://" not in own and "http://" not in own
    summary_text = (run_dir / "summary.json").read_text()
    summary = json.loads(summary_text)
    assert set(summary["model"]["segments"]) == {"0", "1"}
    # customers appear only as keyed pseudonyms; the key is named, never shown
    for customer_id in (1, 2):
        assert (
            "c-" + hmac.new(PSEUDONYM_KEY.encode(), str(customer_id).encode(), hashlib.sha256).hexdigest()[:16] in page
        )
    assert summary["run"]["pseudonym_key"] == "SEGSPARK_PSEUDONYM_KEY"
    assert not [text for text in (page, summary_text, result.stdout, result.stderr) if PSEUDONYM_KEY in text]
    phases = summary["run"]["phases"]
    assert list(phases) == ["ingest and features", "elbow sweep", "stability", "segments and model", "report"]
    assert sum(phases.values()) <= summary["run"]["seconds"] + 0.5
    jobs = summary["run"]["spark_jobs"]
    assert list(jobs) == list(phases) and all(isinstance(n, int) and n > 0 for p, n in jobs.items() if p != "stability")
    assert jobs["stability"] == 0  # refits on a bounded sample in the driver: no Spark job
    for phase, n in jobs.items():
        assert f"segment_customers: {phase} took {phases[phase]:.1f} s, {n} Spark jobs" in result.stdout


def test_the_report_renders_in_headless_chromium_offline_without_console_errors(small_run):
    from tests.browser import render_offline

    result, output = small_run
    run_dir = published(output)
    dom, console = render_offline(run_dir / "report.html")
    for chart_id in ("chart-sizes", "chart-scatter", "chart-distributions", "chart-elbow", "chart-profiles"):
        chart = dom.split(f'id="{chart_id}"', 1)[1].split('<div class="chart">', 1)[0]
        assert "main-svg" in chart, f"{chart_id} did not render"
    assert "gl-container" in dom  # the 3D scatter drew with WebGL
    assert not [line for line in console if "Uncaught" in line or ":ERROR:" in line and "CONSOLE" in line], console


def test_png_writes_every_chart_as_an_image_or_says_in_one_line_why_not(small_run):
    from segspark.edge.outputs import find_chromium

    result, output = small_run
    charts = published(output) / "charts"
    if find_chromium() is None:
        assert "no Chromium found" in result.stdout and not charts.exists()
        require_in_ci("no Chromium here: --png said so in one line and the run went on")
    images = sorted(charts.glob("*.png"))
    assert [image.stem for image in images] == sorted(
        ["chart-sizes", "chart-scatter", "chart-distributions", "chart-elbow", "chart-profiles"]
    )
    assert all(image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000 for image in images)


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


@pytest.fixture(scope="module")
def sample_sized_run(spark, tmp_path_factory):
    """A run on 6,000 generated lines (about 2,000 customers), k = 1..8: the model scoring tests use."""
    from segspark.edge import outputs
    from segspark.orders import datagen

    tmp_path = tmp_path_factory.mktemp("sample-sized")
    orders = str(tmp_path / "orders")
    outputs.write_order_lines(datagen.as_export_text(datagen.generate_order_lines(spark, 6_000, seed=3)), orders, "csv")
    output = tmp_path / "out"
    trained = submit("--input", orders, "--output", str(output), "--k-range", "1..8", "--restarts", "2")
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    return orders, output, trained


def test_the_sample_sized_run_sweeps_k_chooses_and_scoring_reproduces_segments(sample_sized_run, tmp_path):
    orders, output, trained = sample_sized_run
    run_dir = published(output)
    summary = json.loads((run_dir / "summary.json").read_text())

    elbow = summary["elbow"]
    assert [point["k"] for point in elbow] == list(range(1, 9))
    assert elbow[0]["silhouette"] is None and elbow[0]["iterations"] == 0
    assert all(point["silhouette"] is not None for point in elbow[1:])
    assert elbow[1]["cost"] < elbow[0]["cost"] and elbow[-1]["cost"] < elbow[1]["cost"]
    chosen = summary["model"]
    assert chosen["rule"] in ("kneedle", "best_silhouette") and 2 <= chosen["k"] <= 8
    assert sum(chosen["sizes"].values()) == summary["counts"]["customers"]
    assert len(chosen["centres"]) == chosen["k"]
    for line in range(1, 9):
        assert f"k={line:>2}" in trained.stdout
    customers = pd.read_parquet(run_dir / "customers")
    assert set(customers.columns) >= {"segment", "distance_to_centre", "log_total_spending"}
    means = customers.groupby("segment")["total_spending"].mean()
    assert means.is_monotonic_increasing  # stable ids: ascending mean spending
    metadata = json.loads((run_dir / "model" / "segspark-model.json").read_text())
    assert metadata["k"] == chosen["k"] and len(metadata["distance_quantiles"]["by_segment"]) == chosen["k"]

    scored_output = tmp_path / "scored"
    scored = submit(
        "--model", str(output), "--input", orders, "--output", str(scored_output), job="jobs/score_customers.py"
    )
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    scored_run = published(scored_output)
    rescored = pd.read_parquet(scored_run / "customers")
    joined = customers.merge(rescored, on="customer_id", suffixes=("", "_scored"))
    assert len(joined) == len(customers) == len(rescored)
    assert (joined["segment"] == joined["segment_scored"]).all()
    assert (joined["distance_to_centre"] - joined["distance_to_centre_scored"]).abs().max() < 1e-12
    # 99th percentile per segment: about 1% of the training customers are out of range
    assert 0 < rescored["out_of_range"].sum() <= 0.03 * len(rescored)
    scored_summary = json.loads((scored_run / "summary.json").read_text())
    assert scored_summary["counts"] == summary["counts"]
    assert scored_summary["scoring"]["sizes"] == chosen["sizes"]


def test_the_saved_model_records_its_format_features_and_version(sample_sized_run):
    _, output, _ = sample_sized_run
    metadata = json.loads((published(output) / "model" / "segspark-model.json").read_text())
    assert metadata["segspark_version"] == "0.2.0" and metadata["features_version"] == 1
    assert metadata["source_format"]["name"] == "shopify"
    assert metadata["source_format"]["return_rate"] == "per_order"
    assert metadata["source_format"]["canonical"]["total_sales"] == "total_sales"


def test_scoring_into_the_training_output_or_with_other_definitions_is_refused(sample_sized_run, tmp_path):
    orders, output, _ = sample_sized_run
    latest = (output / "LATEST").read_text()
    into_training = submit(
        "--model", str(output), "--input", orders, "--output", str(output), job="jobs/score_customers.py"
    )
    assert into_training.returncode == 64
    assert "is where the model's training runs are published" in into_training.stdout
    other_format = submit(
        "--model",
        str(output),
        "--input",
        orders,
        "--output",
        str(tmp_path / "s"),
        "--format",
        "online_retail",
        job="jobs/score_customers.py",
    )
    assert other_format.returncode == 64
    assert (
        "the model cannot score this input: it was trained on format 'shopify' whose return rates differ from "
        "format 'online_retail' used here ('per_order' in the model, 'per_customer' here); score with --format "
        "shopify"
    ) in other_format.stdout
    assert (output / "LATEST").read_text() == latest and not (tmp_path / "s").exists()
    assert "Traceback" not in into_training.stdout + other_format.stdout
