"""Source formats (segspark/formats.py): the built-in mappings, a user's mapping, and real files."""

from __future__ import annotations

import csv
import glob

import pytest
from pyspark.sql import functions as F

from segspark.edge import inputs as segio
from segspark.errors import UsageError
from segspark.orders import features, formats
from segspark.orders.formats import BUILT_IN_FORMATS as FORMATS_DIR
from tests.builders import SHOPIFY_ORDER_LINES
from tests.conftest import ONLINE_RETAIL

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def canonical_lines(spark, path, source_format):
    typed = segio.read_order_lines(spark, str(path), source_format)
    return formats.to_canonical(typed, source_format).transform(
        lambda frame: features.mark_line_exclusions(frame, source_format.return_rate)
    )


def test_the_shopify_format_is_the_export_schema():
    shopify = formats.load_format("shopify", FORMATS_DIR)
    assert shopify.schema == SHOPIFY_ORDER_LINES
    assert shopify.required == ("order_id", "total_sales", "returned_item_quantity", "ordered_item_quantity")
    assert shopify.delimiter == ","
    assert (shopify.return_rate, shopify.rules) == ("per_order", ())


def test_online_retail_rules_on_hand_written_lines(spark, tmp_path):
    path = tmp_path / "2011-01-04.csv"
    path.write_text(
        "\n".join(
            [
                RETAIL_HEADER,
                "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
                'C536379,22556,"PLASTERS, IN TIN",-2,2010-12-01 09:41:00,1.65,17850.0,United Kingdom',
                "536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom",
                "536367,22634,FREE SAMPLE,1,2010-12-01 08:28:00,0,17850.0,United Kingdom",
                "536368,POST,POSTAGE,3,2010-12-01 08:34:00,18.0,12583.0,France",
                "536369,gift_0001_40,Dotcomgiftshop Gift Voucher,1,2010-12-01 08:35:00,34.04,12583.0,France",
                "536370,22728,ALARM CLOCK,-3,2010-12-01 08:45:00,3.75,12583.0,France",
                "536371,22728,ALARM CLOCK,three,2010-12-01 08:45:00,3.75,12583.0,France",
                "536372,22728,ALARM CLOCK,3,01/12/2010 08:45,3.75,12583.0,France",
                "536373,22728,ALARM CLOCK,3,2010-12-01 08:45:00,3.75,12583.5,France",
            ]
        )
        + "\n"
    )
    retail = formats.load_format("online_retail", FORMATS_DIR)
    rows = canonical_lines(spark, path, retail).orderBy("order_id").collect()
    outcome = {row["order_id"]: row["quarantine_rule"] or row["exclusion_rule"] for row in rows}
    assert outcome == {
        "536365": None,
        "536366": "no_customer_id",
        "536367": "unit_price_not_positive",
        "536368": "non_product_code",
        "536369": "non_product_code",
        "536370": "ordered_item_quantity_not_positive",
        "536371": "bad_Quantity",
        "536372": None,  # a timestamp nothing reads, in another style: counted, the line used
        "536373": "customer_id_not_whole",
        "C536379": None,
    }
    order = {row["order_id"]: row for row in rows}
    assert order["536372"]["unparsed_unread_columns"] == "InvoiceDate"
    assert {row["unparsed_unread_columns"] for row in rows} == {None, "InvoiceDate"}
    assert (order["536365"]["customer_id"], order["536365"]["ordered_item_quantity"]) == (17850, 6)
    assert order["536365"]["total_sales"] == pytest.approx(6 * 2.55)
    assert (order["C536379"]["ordered_item_quantity"], order["C536379"]["returned_item_quantity"]) == (0, -2)
    assert order["C536379"]["total_sales"] == pytest.approx(-2 * 1.65)
    assert order["C536379"]["product_type"] == "22556"


def test_a_user_mapping_reads_an_export_with_other_column_names(spark, tmp_path):
    mapping = tmp_path / "my_shop.toml"
    mapping.write_text(
        """
description = "My shop's order export"
[columns]
OrderRef = "string"
Buyer = "string"
Category = "string"
Units = "long"
Refunded = "long"
LineTotal = "double"
Placed = "date"
[parsing]
date_format = "dd.MM.yyyy"
required = ["OrderRef", "Units", "LineTotal"]
[canonical]
customer_id = "TRY_CAST(regexp_extract(Buyer, '[0-9]+', 0) AS BIGINT)"
order_id = "OrderRef"
product_type = "lower(Category)"
ordered_item_quantity = "Units"
returned_item_quantity = "-abs(coalesce(Refunded, 0))"
total_sales = "LineTotal"
[[rules]]
name = "test_order"
when = "OrderRef LIKE 'TEST%'"
[features]
return_rate = "per_order"
"""
    )
    export = tmp_path / "export.csv"
    export.write_text(
        "OrderRef,Buyer,Category,Units,Refunded,LineTotal,Placed\n"
        "A1,cust-7,Shoes,2,1,80.0,01.03.2019\n"
        "A1,cust-7,SHOES,1,,40.0,01.03.2019\n"
        "A2,cust-7,Hats,1,0,10.0,02.03.2019\n"
        "TEST9,cust-8,Hats,1,0,10.0,02.03.2019\n"
        "A3,cust-9,Hats,1,0,,02.03.2019\n"
    )
    source_format = formats.load_format(str(mapping), FORMATS_DIR)
    lines = canonical_lines(spark, export, source_format)
    outcome = [row["quarantine_rule"] or row["exclusion_rule"] for row in lines.orderBy("order_id").collect()]
    assert outcome == [None, None, None, "missing_LineTotal", "test_order"]
    usable = lines.where("quarantine_rule is null and exclusion_rule is null")
    customer = features.customer_features(usable).first()
    assert customer["customer_id"] == 7
    assert customer["products_ordered"] == 2  # shoes and hats, whatever the case
    assert customer["average_return_rate"] == pytest.approx((1 / 3 + 0) / 2)
    assert customer["total_spending"] == pytest.approx(130.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[columns]\na = "integer"\n', "column 'a' has type 'integer'"),
        ('[columns]\na = "long"\n[canonical]\ncustomer_id = "a"\n', "no expression for 'order_id'"),
        ('[columns]\na = "long"\n[parsing]\nrequired = ["b"]\n', "required column 'b' is not in"),
        ("[columns\n", "not valid TOML"),
    ],
)
def test_a_broken_format_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        formats.load_format(str(path), FORMATS_DIR)


def test_an_unknown_format_name_lists_the_known_ones():
    with pytest.raises(UsageError, match="unknown --format 'amazon'; known: online_retail, shopify"):
        formats.load_format("amazon", FORMATS_DIR)


def expected_retail_outcomes(files):
    """Each line's rule, computed independently of Spark from the rules' plain-English meaning."""
    non_product = {"POST", "DOT", "M", "m", "C2", "S", "D", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
    counts = {}
    for file in files:
        with open(file, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                cancelled = row["InvoiceNo"].startswith("C")
                quantity = int(row["Quantity"])
                if not row["CustomerID"]:
                    outcome = "no_customer_id"
                elif float(row["UnitPrice"]) <= 0:
                    outcome = "unit_price_not_positive"
                elif row["StockCode"] in non_product or row["StockCode"].startswith("gift_"):
                    outcome = "non_product_code"
                elif (cancelled and quantity < 0) or (not cancelled and quantity > 0):
                    outcome = "used"
                else:
                    outcome = "ordered_item_quantity_not_positive"
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@pytest.mark.skipif(not ONLINE_RETAIL.is_dir(), reason=f"{ONLINE_RETAIL} is absent")
def test_real_online_retail_days_count_exactly_per_rule(spark):
    pattern = str(ONLINE_RETAIL / "2011-02-0[1-8].csv")  # a glob: the first week of February
    files = sorted(glob.glob(pattern))
    assert len(files) == 7
    retail = formats.load_format("online_retail", FORMATS_DIR)
    outcome = F.coalesce("quarantine_rule", "exclusion_rule", F.lit("used"))
    lines = canonical_lines(spark, pattern, retail)
    got = {row["o"]: row["count"] for row in lines.groupBy(outcome.alias("o")).count().collect()}
    expected = expected_retail_outcomes(files)
    assert got == expected
    assert sum(got.values()) > 5_000 and got["no_customer_id"] > 0 and got["non_product_code"] > 0
