"""The bad-input corpus: every kind of input a user may hand the job, and what segspark answers.

Each case ends either in one clear error (the message names the file, column or rule) or in
quarantined / excluded lines whose counts reconcile with the lines in. Cases run the job's own
ingest and accounting (`workflow.accounted_customers`) on real files; the job-level cases (k and
customer counts) run the k-range rules the job applies.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from segspark.clustering import choose_k
from segspark.edge import workflow
from segspark.errors import InputError, UsageError
from tests.builders import HEADER, csv_line

SHOPIFY = workflow.load_source_format("shopify")
SHOPIFY_TOML = (workflow.formats.BUILT_IN_FORMATS / "shopify.toml").read_text()  # a user's mapping starts from it
COLUMNS = HEADER.split(",")


def text(*lines: str, header: str | None = HEADER) -> str:
    return "\n".join(([header] if header is not None else []) + list(lines)) + "\n"


GOOD = [csv_line(customer_id=c, order_id=c * 10, total_sales=10.0 * c) for c in (1, 2, 3)]


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes | Callable[[Path], None]]
    error: str | None = None  # a piece of the one-line error
    quarantined: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)  # non-zero line exclusions expected
    unparsed: dict[str, int] = field(default_factory=dict)  # unread columns' values that do not parse
    customers: int | None = None
    format_file: str | None = None  # a format file's TOML, read with --format instead of shopify


def _parquet(frame) -> Callable[[Path], None]:
    """A Parquet file of a pandas frame (or of an Arrow table, for types pandas does not keep)."""
    if isinstance(frame, pd.DataFrame):
        return lambda path: frame.to_parquet(path, index=False)
    import pyarrow.parquet as pq

    return lambda path: pq.write_table(frame, path)


def _decimal_money(frame: pd.DataFrame) -> pd.DataFrame:
    """Money as DECIMAL(12, 2) and ids as DECIMAL(18, 0), as a warehouse export writes them."""
    import decimal

    import pyarrow as pa

    money = ("gross_sales", "discounts", "returns", "net_sales", "taxes", "total_sales")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in money:
        values = [decimal.Decimal(f"{v:.2f}") for v in frame[name]]
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.decimal128(12, 2)))
    values = [decimal.Decimal(int(v)) for v in frame["customer_id"]]
    index = table.schema.get_field_index("customer_id")
    table = table.set_column(index, "customer_id", pa.array(values, pa.decimal128(18, 0)))
    return table


def _wide_decimals(frame: pd.DataFrame, **wide: int):
    """Columns as DECIMAL(20, 0), each given column's first value replaced by a number beyond a long."""
    import decimal

    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name, big in wide.items():
        values = [decimal.Decimal(big if i == 0 else int(v)) for i, v in enumerate(frame[name])]
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.decimal128(20, 0)))
    return table


def _typed_frame(**overrides) -> pd.DataFrame:
    frame = pd.read_csv(pd.io.common.StringIO(text(*GOOD)), dtype=str)
    typed = frame.astype(
        {
            c: "int64"
            for c in (
                "variant_id",
                "customer_id",
                "order_id",
                "net_quantity",
                "returned_item_quantity",
                "ordered_item_quantity",
            )
        }
    )
    typed = typed.astype(
        {c: "float64" for c in ("gross_sales", "discounts", "returns", "net_sales", "taxes", "total_sales")}
    )
    typed["day"] = pd.to_datetime(typed["day"], format="%d/%m/%Y").dt.date
    for name, value in overrides.items():
        typed[name] = value
    return typed


CASES = [
    Case(
        "malformed lines",
        {"a.csv": text(*GOOD, "only,three,fields", GOOD[0] + ",surplus")},
        quarantined={"wrong_field_count": 2},
        customers=3,
    ),
    Case(
        "reordered header",
        {"a.csv": text(*GOOD, header=",".join([COLUMNS[1], COLUMNS[0], *COLUMNS[2:]]))},
        error="a.csv: bad header: column 1 is 'product_type' but 'product_title' belongs there",
    ),
    Case(
        "renamed header",
        {"a.csv": text(*GOOD, header=HEADER.replace("total_sales", "Total Sales"))},
        error="a.csv: bad header: missing column 'total_sales' (found 'Total Sales' instead)",
    ),
    Case(
        "missing column",
        {"a.csv": text(*GOOD, header=HEADER.replace(",taxes", ""))},
        error="a.csv: bad header: missing column 'taxes'",
    ),
    Case(
        "wrong types",
        {
            "a.csv": text(
                *GOOD,
                csv_line(customer_id=4, order_id=40, ordered_item_quantity="two"),
                csv_line(customer_id=4, order_id=41, total_sales="12,5"),
            )
        },
        quarantined={"bad_ordered_item_quantity": 1, "wrong_field_count": 1},
        customers=3,
    ),
    Case(
        "parquet whose ids drift to a lossy type",
        {"a.parquet": _parquet(_typed_frame(customer_id=[1.0, 2.0, 3.5]))},
        error="column 'customer_id' is double, expected bigint",
    ),
    Case(
        "parquet whose ids drift to text",
        {"a.parquet": _parquet(_typed_frame(customer_id=["1", "2", "x"]))},
        quarantined={"bad_customer_id": 1},
        customers=2,
    ),
    Case("parquet with the right types", {"a.parquet": _parquet(_typed_frame())}, customers=3),
    Case("empty file", {"a.csv": ""}, error="no order lines (the input is empty or has only a header)"),
    Case("header only", {"a.csv": text()}, error="no order lines (the input is empty or has only a header)"),
    Case(
        "every line excluded",
        {"a.csv": text(*[csv_line(customer_id="", order_id=i) for i in range(3)])},
        excluded={"no_customer_id": 3},
        customers=0,
    ),
    Case(
        "spending below -1",
        {"a.csv": text(*GOOD, csv_line(customer_id=9, order_id=90, total_sales=-5.0))},
        excluded={"customer_total_spending_at_most_minus_1": 1},
        customers=3,
    ),
    Case(
        "huge and non-finite values",
        {
            "a.csv": text(
                *GOOD,
                csv_line(customer_id=5, order_id=50, total_sales="1e309"),
                csv_line(customer_id=6, order_id=60, total_sales="NaN"),
                csv_line(customer_id=7, order_id=70, total_sales="1e300"),
                csv_line(customer_id=8, order_id=80, ordered_item_quantity="99999999999999999999"),
            )
        },
        quarantined={"bad_total_sales": 3, "bad_ordered_item_quantity": 1},
        customers=3,
    ),
    Case(
        "unicode and commas in quoted text",
        {
            "a.csv": text(
                *GOOD,
                csv_line(
                    customer_id=4,
                    order_id=40,
                    product_title='"Café, crème ""brûlée"" ☕"',
                    product_type='"Kaffee, Tee"',
                ),
            )
        },
        customers=4,
    ),
    Case("duplicate lines are counted as given", {"a.csv": text(*GOOD, GOOD[0], GOOD[0])}, customers=3),
    # day is read by nothing (neither the features nor the format's rules): a bad one costs no line
    Case(
        "dates out of range",
        {
            "a.csv": text(
                *GOOD,
                csv_line(customer_id=4, order_id=40, day="32/13/2019"),
                csv_line(customer_id=4, order_id=41, day="2019-01-01"),
            )
        },
        unparsed={"day": 2},
        customers=4,
    ),
    Case(
        "missing required values",
        {
            "a.csv": text(
                *GOOD, csv_line(customer_id=4, order_id=""), csv_line(customer_id=4, order_id=41, total_sales="")
            )
        },
        quarantined={"missing_order_id": 1, "missing_total_sales": 1},
        customers=3,
    ),
    Case(
        "a directory with a non-CSV file",
        {"a.csv": text(*GOOD), "notes.txt": "exported by hand\n"},
        error="notes.txt: bad header",
    ),
    Case("gzip-compressed CSV", {"a.csv.gz": gzip.compress(text(*GOOD).encode())}, customers=3),
    Case(
        "byte-order mark, CRLF line ends and blank lines",
        {"a.csv": "\ufeff" + text(*GOOD).replace("\n", "\r\n") + "\r\n\r\n"},
        customers=3,
    ),
    Case(
        "several files, one bad line each",
        {"a.csv": text(GOOD[0], "x"), "b.csv": text(GOOD[1], csv_line(customer_id="abc"))},
        quarantined={"wrong_field_count": 1, "bad_customer_id": 1},
        customers=2,
    ),
    # read line by line: the first half is quarantined; the second has the right width and is read
    Case(
        "a quoted field with a line break",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, product_title='"two\nlines"'))},
        quarantined={"wrong_field_count": 1},
        customers=4,
    ),
    Case("a missing input path", {}, error="input not found"),
    # Spreadsheet round trips: ids saved as floats are read as the whole numbers they are; dates and
    # amounts rewritten in a spreadsheet's own style are quarantined, naming the column and value.
    Case(
        "a spreadsheet saved ids and quantities with a zero fraction",
        {"a.csv": text(*[line.replace(f",{c},{c * 10},", f",{c}.0,{c * 10}.0,") for c, line in zip((1, 2, 3), GOOD)])},
        customers=3,
    ),
    Case(
        "a spreadsheet rewrote dates and amounts",
        {
            "a.csv": text(
                *GOOD,
                csv_line(customer_id=4, order_id=40, day="2018-11-23"),
                csv_line(customer_id=4, order_id=41, total_sales='"1,234.50"'),
            )
        },
        quarantined={"bad_total_sales": 1},
        unparsed={"day": 1},
        customers=4,
    ),
    Case(
        "a return whose sign was flipped by hand",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, returned_item_quantity=3))},
        quarantined={"positive_returned_item_quantity": 1},
        customers=3,
    ),
    # Other locales: semicolons between columns (and decimal commas in amounts).
    Case(
        "semicolons between columns",
        {"a.csv": text(*[line.replace(",", ";") for line in GOOD], header=HEADER.replace(",", ";"))},
        error="seems to use semicolons (16 in the header",
    ),
    Case(
        "semicolons read with a format file, decimal commas quarantined",
        {
            "a.csv": text(
                *[line.replace(",", ";") for line in GOOD],
                csv_line(customer_id=4, order_id=40, total_sales="12,50").replace(",", ";").replace("12;50", "12,50"),
                header=HEADER.replace(",", ";"),
            )
        },
        quarantined={"bad_total_sales": 1},
        customers=3,
        format_file=SHOPIFY_TOML.replace("[parsing]\n", '[parsing]\ndelimiter = ";"\n'),
    ),
    # Encodings: text is read as UTF-8; a Latin-1 accent becomes U+FFFD in a product type, no number changes.
    Case(
        "a Latin-1 encoded file",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, product_type="Caf\xe9")).encode("latin-1")},
        customers=4,
    ),
    # Files cut off mid-write: the last line is short, or ends inside an open quote.
    Case(
        "a file cut off mid-line",
        {"a.csv": text(*GOOD)[:-1] + "\n" + GOOD[0][: len(GOOD[0]) // 2]},
        quarantined={"wrong_field_count": 1},
        customers=3,
    ),
    Case(
        "a file cut off inside a quoted field",
        {"a.csv": text(*GOOD) + csv_line(customer_id=4, order_id=40).replace("Shirt - Style 1", '"Shirt - St')},
        quarantined={"wrong_field_count": 1},
        customers=3,
    ),
    Case(
        "a very long field",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, product_title="x" * 1_000_000))},
        customers=4,
    ),
    # Parquet files are checked one by one: a file without a column is refused by name; files that
    # disagree on a column's type are each typed, and their bad values quarantined.
    Case(
        "parquet files, one without customer_id",
        {"a.parquet": _parquet(_typed_frame()), "b.parquet": _parquet(_typed_frame().drop(columns="customer_id"))},
        error="b.parquet: missing column 'customer_id'",
    ),
    Case(
        "parquet files whose ids are numbers in one and text in another",
        {
            "a.parquet": _parquet(_typed_frame()),
            "b.parquet": _parquet(_typed_frame(customer_id=["4", "5", "x"], order_id=[40, 50, 60])),
        },
        quarantined={"bad_customer_id": 1},
        customers=5,
    ),
    # A user's mapping whose canonical expression gives no value: quarantined, not counted as used.
    Case(
        "a mapping that leaves a quantity empty",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, variant_title="one"))},
        quarantined={"unmapped_ordered_item_quantity": 1},
        customers=3,
        format_file=SHOPIFY_TOML.replace(
            'ordered_item_quantity = "ordered_item_quantity"',
            "ordered_item_quantity = \"CASE WHEN variant_title = 'M' THEN ordered_item_quantity END\"",
        ),
    ),
    # Issue 22: what a bad line must cost is the line, never the run or a customer silently.
    Case(
        "a customer-id mapping that gives nothing for a present id",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40), csv_line(customer_id=None, order_id=50))},
        quarantined={"unmapped_customer_id": 1},
        excluded={"no_customer_id": 1},
        customers=3,
        format_file=SHOPIFY_TOML.replace(
            'customer_id = "customer_id"', 'customer_id = "CASE WHEN customer_id < 4 THEN customer_id END"'
        ),
    ),
    Case(
        "a user mapping whose CAST does not fit a line",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, variant_title="lots"))},
        quarantined={"unmapped_ordered_item_quantity": 1},
        customers=3,
        format_file=SHOPIFY_TOML.replace(
            'ordered_item_quantity = "ordered_item_quantity"',
            "ordered_item_quantity = \"CAST(CASE WHEN variant_title = 'M' THEN '1' ELSE variant_title END AS BIGINT)\"",
        ),
    ),
    Case(
        "a format rule that divides by zero on a line",
        {"a.csv": text(*GOOD, csv_line(customer_id=4, order_id=40, net_quantity=0))},
        excluded={"big_units": 1},
        customers=3,  # the zero's line: the rule does not hold (SQL's null), line used
        format_file=SHOPIFY_TOML
        + '\n[[rules]]\nname = "big_units"\nwhen = "ordered_item_quantity / net_quantity > 1 OR order_id = 30"\n',
    ),
    Case(
        "quantities near the long range",
        {
            "a.csv": text(
                *GOOD,
                *[
                    csv_line(customer_id=4, order_id=40 + i, ordered_item_quantity=4_000_000_000_000_000_000)
                    for i in range(3)
                ],
            )
        },
        customers=4,
    ),
    Case(
        "a 0-byte parquet file next to good ones",
        {"a.parquet": _parquet(_typed_frame()), "b.parquet": b""},
        error="b.parquet: not a readable Parquet file",
    ),
    Case(
        "a corrupt parquet file next to good ones",
        {"a.parquet": _parquet(_typed_frame()), "b.parquet": b"PAR1" + b"\x00" * 64 + b"PAR1"},
        error="b.parquet: not a readable Parquet file",
    ),
    Case(
        "parquet with DECIMAL money columns, as warehouses export them",
        {"a.parquet": _parquet(_decimal_money(_typed_frame()))},
        customers=3,
    ),
    Case(  # 2^64 + 5: a plain cast kept the low 64 bits and made it customer 5, merged with nobody's
        "parquet with a DECIMAL(20,0) customer id beyond a long",
        {"a.parquet": _parquet(_wide_decimals(_typed_frame(), customer_id=18446744073709551621))},
        quarantined={"bad_customer_id": 1},
        customers=2,
    ),
    Case(
        "parquet with a DECIMAL(20,0) quantity beyond a long",
        {"a.parquet": _parquet(_wide_decimals(_typed_frame(), ordered_item_quantity=18446744073709551617))},
        quarantined={"bad_ordered_item_quantity": 1},
        customers=2,
    ),
    Case(  # as doubles 2^53 and 2^53 + 1 are one number; a double beyond 1e15 (< 2^53) is refused first
        "ids typed double beyond 2^53",
        {
            "a.csv": text(
                *GOOD,
                csv_line(customer_id=9007199254740992, order_id=91, total_sales=5.0),
                csv_line(customer_id=9007199254740993, order_id=92, total_sales=7.0),
            )
        },
        format_file=SHOPIFY_TOML.replace('customer_id = "long"', 'customer_id = "double"'),
        quarantined={"bad_customer_id": 2},
        customers=3,
    ),
]


def write_case(folder: Path, case: Case) -> Path:
    folder.mkdir()
    for name, content in case.files.items():
        path = folder / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder if case.files else folder / "nothing-here"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_ends_in_one_clear_error_or_counts_that_reconcile(spark, tmp_path, case):
    assert len(CASES) >= 35
    source = write_case(tmp_path / "input", case)
    quarantine = str(tmp_path / "quarantine")
    source_format = SHOPIFY
    if case.format_file is not None:
        (tmp_path / "mine.toml").write_text(case.format_file)
        source_format = workflow.load_source_format(str(tmp_path / "mine.toml"))
    if case.error is not None:
        with pytest.raises(InputError) as raised:
            workflow.accounted_customers(spark, str(source), source_format, quarantine)
        message = str(raised.value)
        assert case.error in message and "\n" not in message and "Traceback" not in message
        return
    accounted = workflow.accounted_customers(spark, str(source), source_format, quarantine)
    counts = accounted.counts
    assert counts.quarantined_by_rule == case.quarantined
    assert {rule: n for rule, n in counts.lines_excluded.items() if n} == case.excluded
    assert counts.unparsed_unread_values == case.unparsed
    assert counts.customers == case.customers
    assert counts.lines_in == counts.lines_used + sum(counts.lines_excluded.values()) + counts.lines_quarantined
    features = accounted.customers.select("log_total_spending", "log_average_return_rate").collect()
    assert all(math.isfinite(value) for row in features for value in row)
    # the quarantine written holds each quarantined line once, with its file, reason and text
    written = spark.read.schema(accounted.quarantined_lines.schema).json(quarantine)
    assert {
        row["quarantine_rule"]: row["count"] for row in written.groupBy("quarantine_rule").count().collect()
    } == case.quarantined
    assert written.where("source_file IS NULL OR quarantine_reason IS NULL OR raw_line IS NULL").count() == 0
    accounted.release()


def test_too_few_customers_or_too_large_a_k_is_one_clear_error():
    with pytest.raises(InputError, match=r"only 0 customer\(s\) left after the rules"):
        choose_k.sweep_ks(1, 15, 0)
    with pytest.raises(InputError, match=r"only 1 customer\(s\) left after the rules; segmenting needs at least 2"):
        choose_k.sweep_ks(1, 15, 1)
    with pytest.raises(UsageError, match=r"--k 10: k must be between 2 and the number of customers \(3\)"):
        choose_k.sweep_ks(1, 15, 3, given_k=10)
    assert choose_k.sweep_ks(1, 15, 3) == [1, 2, 3]  # the sweep is cut to the customers
