"""The segment job on feature sets other than the reference's (issue 31): RFM end to end against
pandas, a custom feature file, and the one-line refusals of sets that cannot run."""

from __future__ import annotations

import datetime
import json

import pandas as pd
import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.ml.feature import StandardScalerModel

from segspark.clustering import rfm
from segspark.edge import score, segment, tables
from segspark.errors import InputError, UsageError
from tests.builders import HEADER, csv_line, published, run_job
from tests.conftest import ONLINE_RETAIL, REPO

FAST = ("--k-range", "1..4", "--restarts", "2", "--stability", "0", "--no-previous")
START = datetime.date(2024, 1, 1)


def dated_orders(folder, customers: int = 60):
    """A Shopify export over a year: customer c orders 1 + c % 6 times, every 7 x c % 50 + 1 days,
    each fourth returns one unit of an order in a line of its own (ordered 0), and a few cancel only."""
    lines, rows = [HEADER], []
    for customer in range(1, customers + 1):
        if customer % 29 == 0:  # a return-only customer: no purchase
            rows.append((customer, customer * 100, START, 0, -1, -10.0))
            continue
        for order in range(1 + customer % 6):
            day = START + datetime.timedelta(days=(order * (7 * customer % 50 + 1)) % 360)
            sales = float(10 * (customer % 7 + 1) * (order + 1))
            rows.append((customer, customer * 100 + order, day, 2, 0, sales))
            if customer % 4 == 0 and order == 0:
                rows.append((customer, customer * 100 + order, day + datetime.timedelta(days=3), 0, -1, -sales / 2))
    for customer, order, day, ordered, returned, sales in rows:
        lines.append(
            csv_line(
                customer_id=customer,
                order_id=order,
                day=day.strftime("%d/%m/%Y"),
                product_type="Shirts",
                ordered_item_quantity=ordered,
                returned_item_quantity=returned,
                total_sales=sales,
                net_quantity=ordered + returned,
            )  # fmt: skip
        )
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "day", "ordered", "returned", "sales"])
    return folder / "orders.csv", frame


def pandas_rfm(frame: pd.DataFrame, analysis_date: datetime.date) -> pd.DataFrame:
    orders = frame.groupby(["customer_id", "order_id"]).agg(
        day=("day", "min"), ordered=("ordered", "sum"), sales=("sales", "sum")
    )
    purchases = orders[orders["ordered"] > 0].groupby("customer_id")
    return pd.DataFrame(
        {
            "recency_days": purchases["day"].max().map(lambda last: float((analysis_date - last).days)),
            "purchase_orders": purchases.size().astype(float),
            "net_spending": orders.groupby("customer_id")["sales"].sum().clip(lower=0),
        }
    ).dropna()


@pytest.fixture(scope="module")
def rfm_run(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rfm")
    path, frame = dated_orders(folder)
    output = folder / "out"
    run_job(segment, "--input", str(path), "--output", str(output), "--features", "rfm", *FAST)
    return published(output), frame


@pytest.mark.spark_lines
def test_rfm_features_scores_and_names_reach_customers_and_the_summary(spark, rfm_run):
    run, frame = rfm_run
    summary = json.loads((run / "summary.json").read_text())
    analysis_date = frame["day"].max()
    assert summary["features"]["set"] == "rfm" and summary["features"]["analysis_date"] == analysis_date.isoformat()
    expected = pandas_rfm(frame, analysis_date)
    customers = spark.read.parquet(str(run / "customers")).toPandas().set_index("customer_id").sort_index()
    assert list(customers.index) == list(expected.index)  # the return-only customers are left out, counted
    assert summary["counts"]["customers_excluded"]["customer_without_ordered_units"] == 2
    pd.testing.assert_frame_equal(customers[list(expected.columns)], expected, check_names=False)
    assert {"r_score", "f_score", "m_score", rfm.SEGMENT_NAME} <= set(customers.columns)
    assert customers[rfm.SEGMENT_NAME].notna().all()
    named = summary["features"]["rfm"]["segments"]
    assert sum(named.values()) == len(customers) == summary["counts"]["customers"]
    assert customers[rfm.SEGMENT_NAME].value_counts().to_dict() == {n: c for n, c in named.items() if c}
    vocabulary = set(named)
    assert all(s["name"].split(" (")[0] in vocabulary for s in summary["model"]["segments"].values())
    assert "RFM segments" in (run / "report.html").read_text()


def test_the_saved_model_standardises_as_the_sweep_did(spark, rfm_run):
    run, _ = rfm_run
    summary = json.loads((run / "summary.json").read_text())
    pipeline = PipelineModel.load(str(run / "model"))
    scaler = pipeline.stages[1]
    assert isinstance(scaler, StandardScalerModel)
    scaling = summary["features"]["space"]["scaling"]
    assert list(scaler.mean.toArray()) == scaling["mean"] and list(scaler.std.toArray()) == scaling["deviation"]
    customers = spark.read.parquet(str(run / "customers"))
    metadata = json.loads((run / "model" / "segspark-model.json").read_text())
    segment_of = {int(c): s for c, s in metadata["segment_of_cluster"].items()}
    again = pipeline.transform(customers).select("customer_id", "segment", "cluster").toPandas()
    assert (again["cluster"].map(segment_of) == again["segment"]).all()


def test_a_custom_feature_file_adds_a_feature_without_code(spark, tmp_path):
    path, _ = dated_orders(tmp_path)
    output = tmp_path / "out"
    example = REPO / "conf" / "features" / "examples" / "rfm_returns.toml"
    run_job(segment, "--input", str(path), "--output", str(output), "--features", str(example), *FAST)
    summary = json.loads((published(output) / "summary.json").read_text())
    assert summary["features"]["columns"] == ["recency_days", "purchase_orders", "net_spending", "returned_share"]
    assert len(summary["model"]["centres"][0]["original"]) == 4
    assert "the first three of 4 features" in (published(output) / "report.html").read_text()


@pytest.mark.parametrize(
    "feature, message",
    [
        ('name = "tips"\nsql = "SUM(tip_amount)"', "feature 'tips' ('SUM(tip_amount)' over orders): names a column"),
        ('name = "days"\nsql = "DATEDIFF(analysis_date, order_date)"', "feature 'days'"),
        ('name = "same"\nsql = "MAX(1)"', "feature 'same' ('MAX(1)') is 1.0 for every customer"),
    ],
)
def test_a_bad_definition_is_one_line_naming_the_feature(spark, tmp_path, feature, message):
    path, _ = dated_orders(tmp_path, customers=12)
    features = tmp_path / "mine.toml"
    features.write_text(f'extends = "rfm"\n[[features]]\n{feature}\n')
    with pytest.raises(InputError) as refused:
        run_job(segment, "--input", str(path), "--output", str(tmp_path / "out"), "--features", str(features), *FAST)
    assert message in str(refused.value)
    assert not (tmp_path / "out" / "LATEST").exists()


def test_sets_that_cannot_run_are_refused_before_spark_reads_a_line(tmp_path):
    undated = (REPO / "conf" / "formats" / "shopify.toml").read_text().replace('order_date = "day"\n', "")
    (tmp_path / "undated.toml").write_text(undated)
    with pytest.raises(InputError, match=r"format 'undated' maps no order date .* feature set 'rfm' needs one"):
        segment.options(["--features", "rfm", "--format", str(tmp_path / "undated.toml")])
    with pytest.raises(UsageError, match="--as-of '2024-13-01': give a date"):
        segment.options(["--features", "rfm", "--as-of", "2024-13-01"])
    with pytest.raises(InputError, match="unknown feature set 'rmf'; known: rfm, seed"):
        segment.options(["--features", "rmf"])


RFM_DATABASE = "rfm_shop"


@pytest.fixture(scope="module")
def rfm_refresh(spark, tmp_path_factory):
    """Two rfm runs of one export into one output folder and database (the second a refresh of the
    first), then a scoring of the same export with the second's model, published beside them."""
    folder = tmp_path_factory.mktemp("rfm-refresh")
    path, _ = dated_orders(folder)
    output, scores = folder / "out", folder / "scores"
    common = ("--input", str(path), "--features", "rfm", "--publish-tables", RFM_DATABASE)
    run_job(segment, *common, "--output", str(output), *FAST)
    first = published(output)
    run_job(segment, *common, "--output", str(output), *FAST[:-1])  # compared with the first
    second = published(output)
    run_job(score, "--model", str(output), "--input", str(path), "--output", str(scores),
            "--publish-tables", RFM_DATABASE)  # fmt: skip
    return path, first, second, published(scores)


def test_a_second_rfm_run_refreshes_the_first_keeping_every_id(rfm_refresh):
    _, first, second, _ = rfm_refresh
    before = json.loads((first / "summary.json").read_text())
    refreshed = json.loads((second / "summary.json").read_text())["refresh"]
    assert refreshed["compared"] is True and refreshed["previous_run"] == first.name
    assert {int(m["from"]) for m in refreshed["migration"]} == {int(s) for s in before["model"]["segments"]}
    assert all(m["from"] == m["to"] for m in refreshed["migration"])  # the same data: nobody moves
    assert sum(m["customers"] for m in refreshed["migration"]) == before["counts"]["customers"]


@pytest.mark.spark_lines
def test_scoring_with_an_rfm_model_computes_its_features_and_names_as_training_did(spark, rfm_refresh):
    _, _, second, scored = rfm_refresh
    columns = ["customer_id", "recency_days", "purchase_orders", "net_spending", "r_score", "f_score", "m_score",
               rfm.SEGMENT_NAME, "segment"]  # fmt: skip
    trained = spark.read.parquet(str(second / "customers")).select(*columns)
    assert_df_equality(spark.read.parquet(str(scored / "customers")).select(*columns), trained, ignore_row_order=True)
    summary = json.loads((scored / "summary.json").read_text())
    assert summary["scoring"]["feature_set"] == "rfm" and summary["scoring"]["out_of_range"] < 5
    training = json.loads((second / "summary.json").read_text())["features"]
    assert summary["features"]["analysis_date"] == training["analysis_date"]
    assert summary["features"]["rfm"] == training["rfm"]  # the same breakpoints, the same customers per name


def test_one_new_customer_is_scored_though_its_features_are_constant(spark, rfm_refresh, tmp_path):
    path, _, second, _ = rfm_refresh
    lines = path.read_text().splitlines()
    column = lines[0].split(",").index("customer_id")
    one = [lines[0], *(line for line in lines[1:] if line.split(",")[column] == "7")]
    assert len(one) > 2
    (tmp_path / "one.csv").write_text("\n".join(one) + "\n")
    run_job(score, "--model", str(second), "--input", str(tmp_path / "one.csv"), "--output", str(tmp_path / "s"),
            "--as-of", "2025-01-01")  # fmt: skip
    summary = json.loads((published(tmp_path / "s") / "summary.json").read_text())
    assert summary["counts"]["customers"] == 1 and summary["features"]["analysis_date"] == "2025-01-01"
    assert sum(summary["features"]["rfm"]["segments"].values()) == 1


def test_rfm_runs_publish_tables_of_their_features_and_a_seed_run_is_refused_there(spark, rfm_refresh, tmp_path):
    path, first, second, scored = rfm_refresh
    runs_table = {row.run_id: row for row in spark.table(f"{RFM_DATABASE}.{tables.RUNS}").collect()}
    assert {run_id: row.feature_set for run_id, row in runs_table.items()} == {
        first.name: "rfm",
        second.name: "rfm",
        scored.name: "rfm",
    }
    current = spark.table(f"{RFM_DATABASE}.{tables.CURRENT}")
    expected = spark.read.parquet(str(second / "customers"))
    assert_df_equality(
        current.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True,
        ignore_column_order=True,
    )  # fmt: skip
    segments_columns = spark.table(f"{RFM_DATABASE}.{tables.SEGMENTS}").columns
    assert {"centre_recency_days", "median_net_spending"} <= set(segments_columns)
    with pytest.raises(UsageError) as refused:
        run_job(segment, "--input", str(path), "--output", str(tmp_path / "seed"), "--publish-tables",
                RFM_DATABASE, *FAST)  # fmt: skip
    assert str(refused.value) == (
        f"--publish-tables {RFM_DATABASE}: its tables hold feature set 'rfm', and this run's is 'seed': a database's "
        f"tables hold one set's features; publish into a database of its own (e.g. --publish-tables {RFM_DATABASE}_seed)"
    )
    assert not (tmp_path / "seed" / "LATEST").exists()


@pytest.mark.skipif(not ONLINE_RETAIL.is_dir(), reason="../shared/data/online-retail/ is not on this machine")
def test_online_retail_under_rfm_reconciles(spark, tmp_path):
    output = tmp_path / "out"
    run_job(
        segment, "--input", str(ONLINE_RETAIL), "--format", "online_retail", "--features", "rfm",
        "--output", str(output), "--stability", "0", "--no-previous",
    )  # fmt: skip
    summary = json.loads((published(output) / "summary.json").read_text())
    counts = summary["counts"]
    assert counts["lines_in"] == 541_909
    assert (
        counts["lines_in"]
        == counts["lines_used"] + sum(counts["lines_excluded"].values()) + counts["lines_quarantined"]
    )
    assert summary["features"]["analysis_date"] == "2011-12-09"
    assert sum(summary["features"]["rfm"]["segments"].values()) == counts["customers"] == 4_334
