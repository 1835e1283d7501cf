"""Reading order files and writing runs (segspark/io.py) on real files in a temporary folder."""

from __future__ import annotations

import gzip
import os
import re

import pytest

from segspark.edge import inputs as segio
from segspark.edge import outputs
from segspark.errors import InputError, UsageError
from segspark.orders.formats import built_in
from tests.builders import HEADER, csv_line, order_lines


def read(spark, path):
    return segio.read_order_lines(spark, str(path), built_in("shopify"))


def write_csv(path, *lines, header=HEADER):
    path.write_text("\n".join(([header] if header is not None else []) + list(lines)) + "\n")
    return path


def outcomes(frame):
    rows = frame.select("order_id", "quarantine_rule", "source_file").orderBy("order_id").collect()
    return [(row["order_id"], row["quarantine_rule"], os.path.basename(row["source_file"])) for row in rows]


def test_malformed_lines_are_quarantined_with_their_file_and_reason(spark, tmp_path):
    path = write_csv(
        tmp_path / "orders.csv",
        csv_line(order_id=1),
        ",".join(csv_line(order_id=2).split(",")[:-1]),  # a short line
        csv_line(order_id=3, ordered_item_quantity="two"),
        csv_line(order_id=4, day="30/02/2019"),
        csv_line(order_id=5) + ",surplus",  # a long line
    )
    frame = read(spark, path)
    rows = {row["raw_line"]: row for row in frame.where("quarantine_rule is not null").collect()}
    assert len(rows) == 3
    assert outcomes(frame) == [
        (1, None, "orders.csv"),
        (2, "wrong_field_count", "orders.csv"),
        (3, "bad_ordered_item_quantity", "orders.csv"),
        (4, None, "orders.csv"),  # nothing reads day: the bad date is counted, the line kept
        (5, "wrong_field_count", "orders.csv"),
    ]
    unread = frame.select("order_id", "unparsed_unread_columns").orderBy("order_id").collect()
    assert [row["unparsed_unread_columns"] for row in unread] == [None, None, None, "day", None]
    # a count on the persisted parse (as the job does) sees them too: it must not skip parsing
    frame.persist()
    assert frame.where("quarantine_rule = 'wrong_field_count'").count() == 2
    frame.unpersist()
    short = ",".join(csv_line(order_id=2).split(",")[:-1])
    assert rows[short]["quarantine_reason"] == "wrong number of fields (expected 17)"
    bad_quantity = next(r for r in rows.values() if r["quarantine_rule"] == "bad_ordered_item_quantity")
    assert bad_quantity["quarantine_reason"] == "ordered_item_quantity is not a whole number: 'two'"
    assert bad_quantity["raw_line"] == csv_line(order_id=3, ordered_item_quantity="two")  # the line as read


def test_quoted_commas_quotes_and_unicode_survive(spark, tmp_path):
    title = '"Boots ""Nordic"", size 42 – ÆØÅ"'
    path = write_csv(tmp_path / "orders.csv", csv_line(product_title=title, order_id=9))
    row = read(spark, path).first()
    assert row["quarantine_rule"] is None
    assert row["product_title"] == 'Boots "Nordic", size 42 – ÆØÅ'


def test_a_reordered_header_is_an_error_naming_file_and_column(spark, tmp_path):
    names = HEADER.split(",")
    names[5], names[6] = names[6], names[5]
    write_csv(tmp_path / "a.csv", csv_line(), header=",".join(names))
    with pytest.raises(InputError, match=r"a\.csv: bad header: column 6 is 'order_id' but 'customer_id'"):
        read(spark, tmp_path / "a.csv")


def test_one_bad_header_in_a_folder_names_that_file(spark, tmp_path):
    write_csv(tmp_path / "2019-01-01.csv", csv_line())
    write_csv(tmp_path / "2019-01-02.csv", csv_line(), header=HEADER.replace("total_sales", "total"))
    with pytest.raises(InputError, match=r"2019-01-02\.csv: bad header: missing column 'total_sales'"):
        read(spark, tmp_path)


def test_empty_and_header_only_files_hold_no_lines(spark, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    write_csv(tmp_path / "header-only.csv")
    assert read(spark, tmp_path / "empty.csv").count() == 0
    assert read(spark, tmp_path / "header-only.csv").count() == 0


def test_a_missing_path_is_an_input_error(spark, tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.csv: input not found"):
        read(spark, tmp_path / "nowhere.csv")


def test_a_file_a_folder_and_a_glob_read_the_same_lines(spark, tmp_path):
    folder = tmp_path / "by-day"
    folder.mkdir()
    for day in range(1, 4):
        write_csv(folder / f"2019-01-0{day}.csv", csv_line(order_id=day * 10), csv_line(order_id=day * 10 + 1))
    assert read(spark, folder).count() == 6
    assert read(spark, f"{folder}/2019-01-0[12].csv").count() == 4
    assert read(spark, folder / "2019-01-03.csv").count() == 2
    files = {os.path.basename(row["source_file"]) for row in read(spark, folder).collect()}
    assert files == {"2019-01-01.csv", "2019-01-02.csv", "2019-01-03.csv"}


def test_a_gzip_compressed_csv_is_read(spark, tmp_path):
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "\n" + csv_line(order_id=1) + "\n" + csv_line(order_id=2) + "\n")
    frame = read(spark, path)
    assert sorted(row["order_id"] for row in frame.collect()) == [1, 2]


def test_parquet_input_is_checked_and_read(spark, tmp_path):
    path = str(tmp_path / "lines.parquet")
    order_lines(spark, {"order_id": 1}, {"order_id": 2, "total_sales": None}).write.parquet(path)
    assert outcomes(read(spark, path)) == [
        (1, None, os.path.basename(outcomes(read(spark, path))[0][2])),
        (2, "missing_total_sales", os.path.basename(outcomes(read(spark, path))[1][2])),
    ]
    broken = str(tmp_path / "broken.parquet")
    order_lines(spark, {"order_id": 1}).drop("customer_id").write.parquet(broken)
    with pytest.raises(InputError, match="missing column 'customer_id'"):
        read(spark, broken)


@pytest.mark.parametrize(
    ("input_path", "output", "message"),
    [
        ("data/orders", "data/orders", "inside --input"),
        ("data/orders", "data/orders/out", "inside --input"),
        ("data/orders/*.csv", "data/orders/out", "inside --input"),
        ("data/orders", "/", "is the root of its filesystem"),
        ("data/orders", "out/../data", "contains '..'"),
        # other filesystems, as Hadoop would resolve them
        ("hdfs:///in", "hdfs:///in/out", "inside --input"),
        ("hdfs://namenode:8020/in", "hdfs:///in/out", "inside --input"),
        ("hdfs://namenode:8020/in/", "hdfs://namenode:8020/in", "inside --input"),
        ("data/orders", "hdfs:///", "is the root of its filesystem"),
        ("s3a://bucket/exports/*.csv", "s3a://bucket/exports/segments", "inside --input"),
        ("data/orders", "file:///", "is the root of its filesystem"),
    ],
)
def test_outputs_that_could_touch_the_input_are_refused(input_path, output, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        segio.check_output_location(input_path, output)


def test_a_sibling_output_is_fine():
    segio.check_output_location("data/orders", "data/orders-out")
    segio.check_output_location("data/orders", "out")
    segio.check_output_location("hdfs:///in", "hdfs:///segments")
    segio.check_output_location("hdfs://a/in", "hdfs://b/in/out")  # another cluster
    segio.check_output_location("s3a://bucket/in", "/tmp/in/out")


def test_order_lines_are_never_written_over_an_existing_path(spark, tmp_path):
    target = tmp_path / "orders"
    outputs.write_order_lines(order_lines(spark, {"order_id": 1}), str(target), "parquet")
    assert spark.read.parquet(str(target)).count() == 1
    with pytest.raises(UsageError, match="exists already"):
        outputs.write_order_lines(order_lines(spark, {"order_id": 2}), str(target), "parquet")
    assert [p for p in os.listdir(tmp_path) if ".tmp-" in p] == []


def test_a_table_with_lower_cased_column_names_is_read_as_spark_resolves_names(spark):
    """Hive, Glue and Athena keep column names lower-cased: `invoiceno` is Online Retail's `InvoiceNo`."""
    retail = built_in("online_retail")
    rows = [
        ("536365", "85123A", "WHITE HANGING HEART", "6", "2010-12-01 08:26:00", "2.55", "17850.0", "United Kingdom")
    ]
    names = [name.lower() for name in retail.schema.fieldNames()]
    spark.createDataFrame(rows, names).createOrReplaceTempView("lower_cased_retail")
    lines = segio.read_order_lines(spark, segio.table_source("lower_cased_retail"), retail)
    row = lines.select("InvoiceNo", "Quantity", "CustomerID", "quarantine_rule").first()
    assert (row["InvoiceNo"], row["Quantity"], row["CustomerID"], row["quarantine_rule"]) == (
        "536365",
        6,
        17850.0,
        None,
    )
    both = spark.createDataFrame([r + ("7",) for r in rows], [*names, "QUANTITY"])
    both.createOrReplaceTempView("two_quantities")
    with pytest.raises(InputError, match=r"columns 'quantity', 'QUANTITY' all match the format's 'Quantity'"):
        segio.read_order_lines(spark, segio.table_source("two_quantities"), retail)
