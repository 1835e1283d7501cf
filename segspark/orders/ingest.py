"""Turning raw order lines into typed ones, without losing a line.

Every line comes out of `conform_to_schema` exactly once: typed, or marked for quarantine with a
rule and a reason that names the column and the offending value. Nothing here reads a path; the
jobs' edge (`segspark.edge.inputs`) does that and hands over DataFrames.
"""

from __future__ import annotations

import csv
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.errors import InputError
from segspark.expressions import first_of

CORRUPT_RECORD_COLUMN = "_corrupt_record"
SOURCE_FILE_COLUMN = "source_file"

#: Columns every conformed DataFrame carries besides the schema's own.
QUARANTINE_COLUMNS = ("source_file", "quarantine_rule", "quarantine_reason", "raw_line")

#: Source types that convert to a target type without loss (Parquet files written by other tools).
_WIDENING = {
    # a DECIMAL (how warehouses export money and ids) is read: a whole-number one as a long, any as a
    # double (the features are doubles); a value out of range is quarantined as bad_<column>
    T.LongType: (T.IntegerType, T.ShortType, T.ByteType, T.LongType, T.DecimalType),
    T.DoubleType: (T.FloatType, T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.DoubleType, T.DecimalType),
    T.DateType: (T.DateType,),
    T.TimestampType: (T.TimestampType, T.TimestampNTZType),
    T.StringType: (T.StringType,),
}

#: Amounts beyond this are quarantined: sums of them stay finite whatever the number of lines, and
#: no shop's order line is worth 10^15.
MAX_ABS_AMOUNT = 1e15

_KIND = {
    T.LongType: "a whole number",
    T.DoubleType: "a finite number within ±1e15",
    T.DateType: "a date",
    T.TimestampType: "a timestamp",
}


def raw_csv_schema(schema: T.StructType) -> T.StructType:
    """Every column as a string, plus Spark's corrupt-record column for lines of the wrong width.

    Reading strings first and typing them in `conform_to_schema` lets a bad value be quarantined
    with the name of its column, which Spark's own CSV type conversion cannot say.
    """
    fields = [T.StructField(field.name, T.StringType()) for field in schema.fields]
    return T.StructType(fields + [T.StructField(CORRUPT_RECORD_COLUMN, T.StringType())])


#: Delimiters an export may use instead of the format's, by the name a message gives them.
_DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def check_csv_header(header_line: str | None, schema: T.StructType, source: str, delimiter: str = ",") -> None:
    """Refuse a file whose header is not the schema's columns in order, naming the column.

    A header that reads as one long field was written with another delimiter (a spreadsheet in a
    locale whose decimal mark is a comma saves with semicolons): the message says which one it
    seems to be and how to read it.
    """
    if header_line is None:
        return  # an empty file holds no lines; Spark skips it and so do the counts
    header_line = header_line.lstrip("\ufeff")
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    header = [name.strip() for name in header]
    expected = schema.fieldNames()
    if header == expected:
        return
    if len(header) == 1 and len(expected) > 1:
        seen = {mark: header_line.count(mark) for mark in _DELIMITERS if mark != delimiter}
        mark, count = max(seen.items(), key=lambda item: item[1])
        if count:
            raise InputError(
                f"{source}: bad header: it reads as one column with {_DELIMITERS.get(delimiter, repr(delimiter))} "
                f"between columns, but the file seems to use {_DELIMITERS[mark]} ({count} in the header: "
                f"{header_line!r}); read it with a format file whose [parsing] has delimiter = {_toml(mark)} "
                "(copy conf/formats/shopify.toml) passed to --format"
            )
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in expected]
    if missing:
        detail = f"missing column {missing[0]!r}"
        if unexpected:
            detail += f" (found {unexpected[0]!r} instead)"
    elif unexpected:
        detail = f"unexpected column {unexpected[0]!r}"
    else:
        position = next(i for i, (a, b) in enumerate(zip(header, expected)) if a != b)
        detail = (
            f"column {position + 1} is {header[position]!r} but {expected[position]!r} belongs "
            "there; columns must be in the export's order"
        )
    raise InputError(f"{source}: bad header: {detail}")


def _toml(text: str) -> str:
    """A one-character TOML string ("\\t" for a tab)."""
    return '"\\t"' if text == "\t" else f'"{text}"'


def check_source_columns(source_schema: T.StructType, schema: T.StructType, source: str) -> None:
    """Refuse a typed source (Parquet) whose columns are missing or of a type that would lose data."""
    present = {field.name: field.dataType for field in source_schema.fields}
    for field in schema.fields:
        if field.name not in present:
            raise InputError(f"{source}: missing column {field.name!r}")
        source_type = present[field.name]
        accepted = (T.StringType,) + _WIDENING[type(field.dataType)]
        fractional = (
            isinstance(source_type, T.DecimalType) and isinstance(field.dataType, T.LongType) and source_type.scale
        )
        if not isinstance(source_type, accepted) or fractional:
            raise InputError(
                f"{source}: column {field.name!r} is {source_type.simpleString()}, "
                f"expected {field.dataType.simpleString()}"
            )


def _blank_to_null(value: Column, trim: bool) -> Column:
    return F.nullif(F.trim(value) if trim else value, F.lit(""))


def _typed(value: Column, target: T.DataType, date_format: str, timestamp_format: str) -> Column:
    if isinstance(target, T.DateType):
        return F.try_to_date(value, date_format)
    if isinstance(target, T.TimestampType):
        return F.try_to_timestamp(value, F.lit(timestamp_format))
    if isinstance(target, T.DoubleType):
        return _bounded(value.try_cast(target))
    if isinstance(target, T.LongType):
        # a whole number with a zero fraction (1000037.0: how spreadsheets save ids) is that number
        zero_fraction = F.regexp_extract(value, r"^([+-]?[0-9]+)\.0*$", 1)
        return F.coalesce(value.try_cast(target), F.nullif(zero_fraction, F.lit("")).try_cast(target))
    return value.try_cast(target)


def _bounded(amount: Column) -> Column:
    """null for NaN, infinities and amounts beyond MAX_ABS_AMOUNT (NaN compares false here)."""
    return F.when(F.abs(amount) <= F.lit(MAX_ABS_AMOUNT), amount)


def conform_to_schema(
    source: DataFrame,
    schema: T.StructType,
    required: Sequence[str],
    date_format: str,
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss",
) -> DataFrame:
    """Type every column of `schema` and mark each line that cannot be used for quarantine.

    The source has the schema's columns (strings from a CSV, or typed ones from Parquet) and a
    `source_file` column. The result has the schema's columns, typed, then `quarantine_rule`
    (null for a good line), `quarantine_reason` and `raw_line`. A line is quarantined when it has
    the wrong number of fields, a value that does not parse as its column's type, or no value in
    a `required` column; the first problem found names the rule.
    """
    source_types = {field.name: field.dataType for field in source.schema.fields}
    has_corrupt_column = CORRUPT_RECORD_COLUMN in source_types

    # 1. Each value as given (a blank is no value) and typed, each computed once.
    given, typed = {}, {}
    for field in schema.fields:
        if isinstance(source_types[field.name], T.StringType):
            given[field.name] = _blank_to_null(F.col(field.name), trim=not isinstance(field.dataType, T.StringType))
            typed[field.name] = _typed(F.col(_given(field.name)), field.dataType, date_format, timestamp_format)
        else:
            given[field.name] = F.col(field.name)
            typed[field.name] = F.col(_given(field.name)).cast(field.dataType)  # a widening (check_source_columns)
            if isinstance(field.dataType, T.DoubleType):
                typed[field.name] = _bounded(typed[field.name])
    corrupt = [F.col(CORRUPT_RECORD_COLUMN)] if has_corrupt_column else []
    values = source.select(
        *[value.alias(_given(name)) for name, value in given.items()], *corrupt, F.col(SOURCE_FILE_COLUMN)
    ).select("*", *[value.alias(name) for name, value in typed.items()])

    # 2. The first problem of each line, as its rule's name (null for a good line).
    problems: list[tuple[Column, str, Column]] = []  # (condition, rule, reason)
    if has_corrupt_column:
        wrong_width = F.lit(f"wrong number of fields (expected {len(schema.fields)})")
        problems.append((F.col(CORRUPT_RECORD_COLUMN).isNotNull(), "wrong_field_count", wrong_width))
    for field in schema.fields:
        value = F.col(_given(field.name))
        checked = isinstance(source_types[field.name], (T.StringType, T.DecimalType)) or isinstance(
            field.dataType, T.DoubleType
        )
        if checked and not isinstance(field.dataType, T.StringType):
            text = F.concat(
                F.lit(f"{field.name} is not {_KIND[type(field.dataType)]}: '"),
                F.substring(value.cast("string"), 1, 100),
                F.lit("'"),
            )
            problems.append((value.isNotNull() & F.col(field.name).isNull(), f"bad_{field.name}", text))
        if field.name in required:
            problems.append((value.isNull(), f"missing_{field.name}", F.lit(f"no value in {field.name}")))
    marked = values.withColumn(
        "_problem", first_of([(condition, F.lit(name)) for condition, name, _ in problems], "string")
    )

    # 3. The reason for that rule, and the line as read for a quarantined one (for a line of the
    # right width, its fields joined back; a missing value stays an empty field). The rule is the
    # column itself, so a filter on it, pushed down to the read, checks each value once.
    problem = F.col("_problem")
    rule = problem
    reason = first_of([(problem == F.lit(name), text) for _, name, text in problems], "string")
    joined = F.concat_ws(",", *[F.coalesce(F.col(_given(f.name)).cast("string"), F.lit("")) for f in schema.fields])
    raw_line = F.coalesce(F.col(CORRUPT_RECORD_COLUMN), joined) if has_corrupt_column else joined
    return marked.select(
        *[F.col(f.name) for f in schema.fields],
        F.col(SOURCE_FILE_COLUMN),
        rule.alias("quarantine_rule"),
        reason.alias("quarantine_reason"),
        F.when(problem.isNotNull(), raw_line).alias("raw_line"),
    )


def _given(name: str) -> str:
    return f"_given_{name}"


def require_lines(lines_in: int, source: str) -> None:
    """An input with no order lines at all is a mistake worth stopping for, not an empty result."""
    if lines_in == 0:
        raise InputError(f"{source}: no order lines (the input is empty or has only a header)")
