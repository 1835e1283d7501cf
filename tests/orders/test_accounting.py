"""The line accounting: every line used, excluded by a named rule, or quarantined."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from segspark.orders import accounting, features
from segspark.orders.formats import BUILT_IN_FORMATS as FORMATS_DIR
from segspark.orders.formats import load_format
from segspark.report.summary import build_summary, format_summary
from tests.builders import order_lines


def test_counts_reconcile_on_hand_written_lines(spark):
    lines = order_lines(
        spark,
        {"customer_id": 1, "order_id": 1, "total_sales": 30.0},
        {"customer_id": 1, "order_id": 1, "total_sales": 20.0},
        {"customer_id": None, "order_id": 2},
        {"customer_id": 2, "order_id": 3, "ordered_item_quantity": 0, "returned_item_quantity": -1},
        {"customer_id": 3, "order_id": 4, "total_sales": -5.0},
        {"customer_id": 3, "order_id": 5, "total_sales": -0.5},
    ).withColumn(
        "quarantine_rule", F.when(F.col("order_id") == 5, F.lit("bad_day")).otherwise(F.lit(None).cast("string"))
    )
    lines = lines.transform(features.mark_line_exclusions)
    usable = lines.where("quarantine_rule is null and exclusion_rule is null")
    customers = features.customer_features(usable).transform(features.mark_customer_exclusions)

    outcomes, unparsed_unread = accounting.line_outcomes(lines)
    assert unparsed_unread == {}
    counts = accounting.reconcile(outcomes, accounting.customer_outcomes(customers))

    assert counts.as_dict() == {
        "lines_in": 6,
        "lines_used": 2,
        "lines_excluded": {
            "no_customer_id": 1,
            "ordered_item_quantity_not_positive": 1,
            "customer_without_ordered_units": 0,
            "customer_total_spending_at_most_minus_1": 1,
        },
        "lines_quarantined": 1,
        "lines_quarantined_by_rule": {"bad_day": 1},
        "customers": 1,
        "customers_excluded": {"customer_without_ordered_units": 0, "customer_total_spending_at_most_minus_1": 1},
        "unparsed_unread_values": {},
    }


def test_counts_that_do_not_add_up_stop_the_run():
    line_outcomes = {"candidate": 5, "no_customer_id": 1}
    customer_outcomes = {"kept": (2, 4)}  # one candidate line unaccounted for
    with pytest.raises(AssertionError, match="does not reconcile"):
        accounting.reconcile(line_outcomes, customer_outcomes)


def test_the_printed_summary_lists_every_count():
    counts = accounting.reconcile(
        {"candidate": 7, "no_customer_id": 2, "quarantine:bad_day": 1},
        {"kept": (3, 6), features.SPENDING_WITHOUT_LOG: (1, 1)},
        unparsed_unread={"day": 2},
    )
    shopify = load_format("shopify", FORMATS_DIR)
    summary = build_summary("r1", "in.csv", shopify, counts, "local[2]", 1.23)
    text = format_summary(summary, "out/runs/r1")
    assert summary["counts"]["lines_in"] == 10
    assert summary["definitions"]["return_rate"] == "per_order"
    assert summary["run"]["seconds"] == 1.2
    assert summary["counts"]["unparsed_unread_values"] == {"day": 2}
    assert "unparsed value, unread column day (line kept)" in text
    for expected in ("lines in", "10", "used for features", "excluded: no_customer_id", "bad_day", "out/runs/r1"):
        assert expected in text


def test_an_outcome_no_rule_knows_stops_the_run():
    with pytest.raises(AssertionError, match="unknown outcomes"):
        accounting.reconcile({"candidate": 1, "mystery_rule": 1}, {"kept": (1, 1)})
