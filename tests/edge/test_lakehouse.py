"""What segspark.edge.lakehouse reads from names and options, before Spark starts."""

from __future__ import annotations

import pytest

from segspark.edge import lakehouse, workflow
from segspark.errors import UsageError


@pytest.mark.parametrize(
    ("as_of", "clause"),
    [
        ("12", "VERSION AS OF 12"),
        ("6254170318476113491", "VERSION AS OF 6254170318476113491"),
        ("2026-11-30", "TIMESTAMP AS OF '2026-11-30'"),
        ("2026-11-30T23:59:59Z", "TIMESTAMP AS OF '2026-11-30T23:59:59Z'"),
        ("2026-11-30 23:59:59.5+01:00", "TIMESTAMP AS OF '2026-11-30 23:59:59.5+01:00'"),
        ("month-end_2026.11", "VERSION AS OF 'month-end_2026.11'"),
    ],
)
def test_input_as_of_becomes_the_time_travel_clause_both_formats_read(as_of, clause):
    assert lakehouse.as_of_clause(as_of) == clause


@pytest.mark.parametrize("as_of", ["12; DROP TABLE x", "it's", "", "-1"])
def test_an_as_of_that_is_no_version_time_or_tag_is_refused(as_of):
    with pytest.raises(UsageError, match="--input-as-of"):
        lakehouse.as_of_clause(as_of)


def test_table_names_and_the_catalog_they_resolve_in():
    for name in ("orders", "shop.orders", "lake.shop.orders", "delta.`hdfs://nn:8020/x y/orders`", "`my db`.t"):
        assert lakehouse.is_table_name(name), name
    for name in ("shop.orders VERSION AS OF 1", "orders; DROP TABLE x", "shop..orders", "delta.`a`b`"):
        assert not lakehouse.is_table_name(name), name
    assert [lakehouse.in_session_catalog(n) for n in ("orders", "shop.orders", "spark_catalog.shop.orders")] == [
        True,
        True,
        True,
    ]
    assert not lakehouse.in_session_catalog("lake.shop.orders")
    assert not lakehouse.in_session_catalog("delta.`hdfs://nn:8020/orders`")


def test_the_built_in_catalog_is_made_only_for_tables_in_the_session_catalog():
    table = "table:"
    assert workflow.catalog_for("file:/out", None, "shop") == "file:/out"
    assert workflow.catalog_for("file:/out", f"{table}shop.orders", None) == "file:/out"
    assert workflow.catalog_for("file:/out", f"{table}lake.shop.orders", "lake.segments") is None
    assert workflow.catalog_for("hdfs://nn/out", f"{table}delta.`hdfs://nn/orders`", "lake.segments") is None
    assert workflow.catalog_for("file:/out", "file:/orders.csv", None) is None


def test_input_as_of_wants_a_table(tmp_path):
    from argparse import Namespace

    with pytest.raises(UsageError, match="give it with --input-table"):
        workflow.input_option(Namespace(input="orders.csv", input_table=None, input_as_of="3"))
    with pytest.raises(UsageError, match="not a table name"):
        workflow.input_option(Namespace(input=None, input_table="orders where 1=1", input_as_of="3"))
    assert (
        workflow.input_option(Namespace(input=None, input_table="lake.shop.orders", input_as_of="3"))
        == "table:lake.shop.orders VERSION AS OF 3"
    )
