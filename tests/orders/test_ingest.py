"""Typing raw lines and refusing bad headers (segspark/ingest.py), without files."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from segspark.errors import InputError
from segspark.orders.ingest import (
    check_csv_header,
    check_source_columns,
    conform_to_schema,
    raw_csv_schema,
    require_lines,
    typed_csv_schema,
)
from tests.builders import SHOPIFY_ORDER_LINES

pytestmark = pytest.mark.spark_lines  # also run on every Spark line (make test-spark-lines)

NAMES = SHOPIFY_ORDER_LINES.fieldNames()
SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType()),
        T.StructField("day", T.DateType()),
        T.StructField("total_sales", T.DoubleType()),
        T.StructField("product_type", T.StringType()),
    ]
)


def raw(spark, *rows):
    """Raw string rows as a CSV read gives them: the schema's columns, corrupt record, source file."""
    schema = T.StructType(raw_csv_schema(SCHEMA).fields + [T.StructField("source_file", T.StringType())])
    return spark.createDataFrame([row + ("file:/orders.csv",) for row in rows], schema)


def conform(frame):
    return conform_to_schema(frame, SCHEMA, required=("total_sales",), date_format="d/M/yyyy")


def test_good_strings_become_typed_values(spark):
    result = conform(raw(spark, ("17", "23/11/2018", "12.50", "Shirts", None), (" 18 ", "1/2/2019", "-3", "", None)))
    expected = spark.createDataFrame(
        [
            (17, dt.date(2018, 11, 23), 12.5, "Shirts", "file:/orders.csv", None, None, None, None),
            (18, dt.date(2019, 2, 1), -3.0, None, "file:/orders.csv", None, None, None, None),
        ],
        "customer_id long, day date, total_sales double, product_type string, source_file string, "
        "quarantine_rule string, quarantine_reason string, raw_line string, unparsed_unread_columns string",
    )
    assert_df_equality(result, expected, ignore_nullable=True)


@pytest.mark.parametrize(
    ("row", "rule", "reason"),
    [
        (("x7", "23/11/2018", "1", "T", None), "bad_customer_id", "customer_id is not a whole number: 'x7'"),
        (("7", "31/02/2019", "1", "T", None), "bad_day", "day is not a date: '31/02/2019'"),
        (("7", "2019-02-01", "1", "T", None), "bad_day", "day is not a date: '2019-02-01'"),
        (
            ("7", "23/11/2018", "1,5", "T", None),
            "bad_total_sales",
            "total_sales is not a finite number within ±1e15: '1,5'",
        ),
        (("7", "23/11/2018", None, "T", None), "missing_total_sales", "no value in total_sales"),
        (("7", "23/11/2018", "2.5", "T", "7,23/11/2018"), "wrong_field_count", "wrong number of fields (expected 4)"),
        (("1.5", "bad", None, "T", None), "bad_customer_id", "customer_id is not a whole number: '1.5'"),
        (("7.01", "23/11/2018", "1", "T", None), "bad_customer_id", "customer_id is not a whole number: '7.01'"),
        (("1e3", "23/11/2018", "1", "T", None), "bad_customer_id", "customer_id is not a whole number: '1e3'"),
    ],
)
def test_each_bad_line_is_quarantined_with_the_first_problem(spark, row, rule, reason):
    result = conform(raw(spark, row)).first()
    assert (result["quarantine_rule"], result["quarantine_reason"]) == (rule, reason)
    assert result["raw_line"] == (row[4] or ",".join("" if v is None else v.strip() for v in row[:4]))


def test_a_filter_on_the_rule_checks_each_value_once(spark):
    """The quarantine is written by filtering the lines on their rule, a filter Spark pushes down to
    the read: with the rule looked up from the problem's position, every rule repeated every check,
    and on 10M lines the plan was too large to compile (205 s instead of 20 s)."""
    frame = conform(raw(spark, ("x7", "23/11/2018", "1", "T", None), ("7", "23/11/2018", "1", "T", None)))
    quarantined = frame.where("quarantine_rule IS NOT NULL")
    plan = quarantined._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count("try_cast(") <= 4 * len(SCHEMA.fields), plan  # each value's casts, once
    assert [row["quarantine_rule"] for row in quarantined.collect()] == ["bad_customer_id"]


def read_typed(spark, *rows):
    """Rows as Spark's typed CSV reader gives them: typed values, the text of a line it could not
    parse (with whatever it parsed of it), and the source file."""
    schema = T.StructType(typed_csv_schema(SCHEMA).fields + [T.StructField("source_file", T.StringType())])
    return spark.createDataFrame([row + ("file:/orders.csv",) for row in rows], schema)


def test_lines_the_typed_reader_parsed_are_taken_as_typed_and_the_others_typed_from_their_text(spark):
    result = conform(
        read_typed(
            spark,
            (17, dt.date(2018, 11, 23), 12.5, "Shirts", None),
            (18, None, float("nan"), "Hats", None),  # NaN parses as a double; it is no amount
            (19, dt.date(2018, 11, 23), None, "Hats", None),
            (None, dt.date(2018, 11, 23), 1.0, "T", "x7,23/11/2018,1,T"),
            (None, dt.date(2018, 11, 23), 1.0, '"T, U"', '7.0,23/11/2018,1,"T, U"'),
            (None, None, None, None, " 8 ,1/2/2019, 2.5 ,T"),
            (7, None, None, None, "7,23/11/2018"),
        )
    ).orderBy("customer_id")
    expected = spark.createDataFrame(
        [
            (
                None,
                dt.date(2018, 11, 23),
                1.0,
                "T",
                "bad_customer_id",
                "customer_id is not a whole number: 'x7'",
                "x7,23/11/2018,1,T",
            ),
            (7, dt.date(2018, 11, 23), 1.0, "T, U", None, None, None),
            (
                7,
                dt.date(2018, 11, 23),
                None,
                None,
                "wrong_field_count",
                "wrong number of fields (expected 4)",
                "7,23/11/2018",
            ),
            (8, dt.date(2019, 2, 1), 2.5, "T", None, None, None),
            (17, dt.date(2018, 11, 23), 12.5, "Shirts", None, None, None),
            (
                18,
                None,
                None,
                "Hats",
                "bad_total_sales",
                "total_sales is not a finite number within ±1e15: 'NaN'",
                "18,,NaN,Hats",
            ),
            (
                19,
                dt.date(2018, 11, 23),
                None,
                "Hats",
                "missing_total_sales",
                "no value in total_sales",
                "19,2018-11-23,,Hats",
            ),
        ],
        "customer_id long, day date, total_sales double, product_type string, "
        "quarantine_rule string, quarantine_reason string, raw_line string",
    )
    assert_df_equality(result.drop("source_file", "unparsed_unread_columns"), expected, ignore_nullable=True)


def test_a_bad_value_in_a_column_nothing_reads_costs_no_line_and_is_counted(spark):
    frames = {
        "text": raw(spark, ("7", "31/02/2019", "1", "T", None), ("8", "1/2/2019", "x", "T", None)),
        "typed reader": read_typed(
            spark, (7, None, 1.0, "T", "7,31/02/2019,1,T"), (8, None, None, "T", "8,1/2/2019,x,T")
        ),
    }
    for kind, frame in frames.items():
        result = conform_to_schema(
            frame, SCHEMA, required=("total_sales",), date_format="d/M/yyyy", used=("customer_id", "total_sales")
        )
        rows = result.orderBy("customer_id").select("day", "quarantine_rule", "unparsed_unread_columns").collect()
        assert [tuple(row) for row in rows] == [
            (None, None, "day"),
            (dt.date(2019, 2, 1), "bad_total_sales", None),
        ], kind


def test_a_whole_number_with_a_zero_fraction_is_that_number(spark):
    """Spreadsheets save ids as 1000037.0: unambiguous, so read as 1000037 rather than quarantined."""
    rows = [(value, "23/11/2018", "1", "T", None) for value in ("1000037.0", "-4.00", "+5.", "6")]
    result = conform(raw(spark, *rows)).select("customer_id", "quarantine_rule").collect()
    assert [(row[0], row[1]) for row in result] == [(1000037, None), (-4, None), (5, None), (6, None)]


def test_a_missing_customer_id_is_not_a_quarantine_matter(spark):
    result = conform(raw(spark, (None, "23/11/2018", "1", "T", None))).first()
    assert result["quarantine_rule"] is None and result["customer_id"] is None


@pytest.mark.parametrize(
    ("mark", "name", "toml"), [(";", "semicolons", '";"'), ("\t", "tabs", '"\\t"'), ("|", "vertical bars", '"|"')]
)
def test_a_header_in_another_delimiter_says_which_and_how_to_read_it(mark, name, toml):
    header = mark.join(NAMES)
    with pytest.raises(InputError) as raised:
        check_csv_header(header, SHOPIFY_ORDER_LINES, "a.csv")
    message = str(raised.value)
    assert message.startswith("a.csv: bad header: it reads as one column with commas between columns")
    assert f"seems to use {name} (16 in the header: {header!r})" in message
    assert f"[parsing] has delimiter = {toml}" in message
    check_csv_header(header, SHOPIFY_ORDER_LINES, "a.csv", delimiter=mark)  # read with that delimiter: fine


def test_typed_sources_are_cast_without_reparsing(spark):
    frame = spark.createDataFrame(
        [(17, dt.date(2018, 11, 23), 3, "Shirts", "f"), (18, dt.date(2018, 11, 24), None, "Hats", "f")],
        "customer_id int, day date, total_sales int, product_type string, source_file string",
    )
    result = conform(frame).select("customer_id", "total_sales", "quarantine_rule")
    expected = spark.createDataFrame(
        [(17, 3.0, None), (18, None, "missing_total_sales")],
        "customer_id long, total_sales double, quarantine_rule string",
    )
    assert_df_equality(result, expected, ignore_nullable=True)


def test_header_in_export_order_passes():
    check_csv_header(",".join(NAMES), SHOPIFY_ORDER_LINES, "a.csv")
    check_csv_header("\ufeff" + ",".join(NAMES), SHOPIFY_ORDER_LINES, "a.csv")  # Excel's BOM
    check_csv_header(None, SHOPIFY_ORDER_LINES, "empty.csv")  # empty file: nothing to check


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            NAMES[:2] + [NAMES[3], NAMES[2]] + NAMES[4:],
            "a.csv: bad header: column 3 is 'variant_sku' but 'variant_title' belongs there",
        ),
        ([n for n in NAMES if n != "total_sales"], "a.csv: bad header: missing column 'total_sales'"),
        (
            [("TotalSales" if n == "total_sales" else n) for n in NAMES],
            "a.csv: bad header: missing column 'total_sales' (found 'TotalSales' instead)",
        ),
        (NAMES + ["note"], "a.csv: bad header: unexpected column 'note'"),
    ],
)
def test_a_reordered_renamed_or_short_header_is_refused_by_name(header, message):
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        check_csv_header(",".join(header), SHOPIFY_ORDER_LINES, "a.csv")


def test_parquet_columns_must_exist_and_widen_without_loss():
    good = T.StructType([T.StructField(f.name, f.dataType) for f in SHOPIFY_ORDER_LINES.fields])
    check_source_columns(good, SHOPIFY_ORDER_LINES, "p")
    narrow = T.StructType(
        [T.StructField(f.name, T.IntegerType() if f.name == "order_id" else f.dataType) for f in good.fields]
    )
    check_source_columns(narrow, SHOPIFY_ORDER_LINES, "p")
    lossy = T.StructType(
        [T.StructField(f.name, T.DoubleType() if f.name == "order_id" else f.dataType) for f in good.fields]
    )
    with pytest.raises(InputError, match="p: column 'order_id' is double, expected bigint"):
        check_source_columns(lossy, SHOPIFY_ORDER_LINES, "p")
    missing = T.StructType([f for f in good.fields if f.name != "customer_id"])
    with pytest.raises(InputError, match="p: missing column 'customer_id'"):
        check_source_columns(missing, SHOPIFY_ORDER_LINES, "p")


def test_no_lines_at_all_is_an_error_naming_the_input():
    require_lines(1, "x")
    with pytest.raises(InputError, match="orders/: no order lines"):
        require_lines(0, "orders/")
