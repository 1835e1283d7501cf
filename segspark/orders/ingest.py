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

from segspark.compat import try_cast, try_to_date
from segspark.errors import InputError
from segspark.expressions import first_of

CORRUPT_RECORD_COLUMN = "_corrupt_record"
SOURCE_FILE_COLUMN = "source_file"

#: Columns every conformed DataFrame carries besides the schema's own: where a quarantined line
#: came from, why, and its text; then the unread columns whose value did not parse (comma-separated).
QUARANTINE_COLUMNS = ("source_file", "quarantine_rule", "quarantine_reason", "raw_line")
UNPARSED_UNREAD_COLUMN = "unparsed_unread_columns"

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
    """Every column as a string, plus Spark's corrupt-record column for lines of the wrong width:
    how `conform_to_schema` splits a line the typed reader could not parse, to name its column."""
    fields = [T.StructField(field.name, T.StringType()) for field in schema.fields]
    return T.StructType(fields + [T.StructField(CORRUPT_RECORD_COLUMN, T.StringType())])


def typed_csv_schema(schema: T.StructType) -> T.StructType:
    """The format's own types, plus the corrupt-record column: Spark's CSV reader types a clean line
    at its own speed (twice that of reading text and typing it) and hands over the text of any
    other line."""
    return T.StructType(schema.fields + [T.StructField(CORRUPT_RECORD_COLUMN, T.StringType())])


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
        return try_to_date(value, date_format)
    if isinstance(target, T.TimestampType):
        return F.try_to_timestamp(value, F.lit(timestamp_format))
    if isinstance(target, T.DoubleType):
        return _bounded(try_cast(value, target))
    if isinstance(target, T.LongType):
        # a whole number with a zero fraction (1000037.0: how spreadsheets save ids) is that number
        zero_fraction = F.regexp_extract(value, r"^([+-]?[0-9]+)\.0*$", 1)
        return F.coalesce(try_cast(value, target), try_cast(F.nullif(zero_fraction, F.lit("")), target))
    return try_cast(value, target)


def _bounded(amount: Column) -> Column:
    """null for NaN, infinities and amounts beyond MAX_ABS_AMOUNT (NaN compares false here)."""
    return F.when(F.abs(amount) <= F.lit(MAX_ABS_AMOUNT), amount)


def conform_to_schema(
    source: DataFrame,
    schema: T.StructType,
    required: Sequence[str],
    date_format: str,
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss",
    used: Sequence[str] | None = None,
    delimiter: str = ",",
) -> DataFrame:
    """Type every column of `schema` and mark each line that cannot be used for quarantine.

    The source has the schema's columns and a `source_file` column, in one of three kinds: strings
    and the corrupt-record column (a CSV read as text), the schema's own types and the corrupt-record
    column (Spark's typed CSV reader: `typed_csv_schema`), or typed columns (Parquet). A line the
    typed reader parsed is taken as it typed it; a line it marked corrupt (a value that does not
    parse, or the wrong number of fields: usually none) is split again as text (split by
    `delimiter`) and typed here value by value, so that its reason names the column.

    The result has the schema's columns, typed, then `quarantine_rule` (null for a good line),
    `quarantine_reason`, `raw_line` and `unparsed_unread_columns`. A line is quarantined when it has
    the wrong number of fields, a value in a `used` column (all columns when not given) that does
    not parse as its type, or no value in a `required` column; the first problem found names the
    rule. A value that does not parse in a column nothing reads costs no line: it is null, and the
    column is named in `unparsed_unread_columns` (comma-separated; null for none) to be counted.
    """
    source_types = {field.name: field.dataType for field in source.schema.fields}
    has_corrupt_column = CORRUPT_RECORD_COLUMN in source_types
    typed_reader = has_corrupt_column and any(
        not isinstance(source_types[field.name], T.StringType) for field in schema.fields
    )
    used_columns = set(schema.fieldNames()) if used is None else set(used) | set(required)

    # 1. Each value as given, a blank being no value (`_given_<name>`), and typed (`<name>`), each
    # computed once. From the typed reader, `_given_<name>` is the text of a line it marked corrupt.
    first: list[Column] = [F.col(SOURCE_FILE_COLUMN)]
    if has_corrupt_column:
        first.append(F.col(CORRUPT_RECORD_COLUMN))
    if typed_reader:
        clean = F.col(CORRUPT_RECORD_COLUMN).isNull()
        text_fields = F.from_csv(
            F.col(CORRUPT_RECORD_COLUMN),
            _text_ddl(schema),
            {"sep": delimiter, "escape": '"', "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD_COLUMN},
        )
        first += [clean.alias("_clean"), F.when(~clean, text_fields).alias("_text")]
    for field in schema.fields:
        name, target = field.name, field.dataType
        trim = not isinstance(target, T.StringType)
        if typed_reader:
            first.append(F.col(name).alias(_read(name)))
            first.append(_blank_to_null(F.col("_text").getField(name), trim).alias(_given(name)))
        elif isinstance(source_types[name], T.StringType):
            first.append(_blank_to_null(F.col(name), trim).alias(_given(name)))
        else:
            first.append(F.col(name).alias(_given(name)))
    present: dict[str, Column] = {}  # a value was given
    typed: dict[str, Column] = {}
    quoted: dict[str, Column] = {}  # the value as a reason quotes it
    for field in schema.fields:
        name, target = field.name, field.dataType
        value = F.col(_given(name))
        if typed_reader:
            read = F.col(_read(name))
            present[name] = F.when(F.col("_clean"), read.isNotNull()).otherwise(value.isNotNull())
            from_text = _typed(value, target, date_format, timestamp_format)
            typed[name] = F.when(F.col("_clean"), _bounded(read) if isinstance(target, T.DoubleType) else read)
            typed[name] = typed[name].otherwise(from_text)
            quoted[name] = F.when(F.col("_clean"), read.cast("string")).otherwise(value)
        elif isinstance(source_types[name], T.StringType):
            present[name], quoted[name] = value.isNotNull(), value
            typed[name] = _typed(value, target, date_format, timestamp_format)
        else:
            present[name], quoted[name] = value.isNotNull(), value.cast("string")
            # a widening (check_source_columns); try_cast, since a plain cast of a DECIMAL(20,0) beyond
            # a long keeps its low 64 bits with ANSI off (18446744073709551621 became customer 5)
            typed[name] = try_cast(value, target)
            if isinstance(target, T.DoubleType):
                typed[name] = _bounded(typed[name])
    values = source.select(*first).select("*", *[value.alias(name) for name, value in typed.items()])

    # 2. The first problem of each line, as its rule's name (null for a good line), and the unread
    # columns whose value does not parse.
    problems: list[tuple[Column, str, Column]] = []  # (condition, rule, reason)
    wrong_width = None
    if has_corrupt_column:
        wrong_width = (
            F.col("_text").getField(CORRUPT_RECORD_COLUMN).isNotNull()
            if typed_reader
            else F.col(CORRUPT_RECORD_COLUMN).isNotNull()
        )
        reason = F.lit(f"wrong number of fields (expected {len(schema.fields)})")
        problems.append((wrong_width, "wrong_field_count", reason))
    unread: list[Column] = []
    for field in schema.fields:
        name, source_type = field.name, source_types[field.name]
        checked = (
            typed_reader
            or isinstance(source_type, (T.StringType, T.DecimalType))
            or isinstance(field.dataType, T.DoubleType)
        )
        if checked and not isinstance(field.dataType, T.StringType):
            bad = present[name] & F.col(name).isNull()
            if name in used_columns:
                text = F.concat(
                    F.lit(f"{name} is not {_KIND[type(field.dataType)]}: '"),
                    F.substring(quoted[name], 1, 100),
                    F.lit("'"),
                )
                problems.append((bad, f"bad_{name}", text))
            else:
                unread.append(F.when(bad, F.lit(name)))
        if name in required:
            problems.append((~present[name], f"missing_{name}", F.lit(f"no value in {name}")))
    marked = values.withColumn(
        "_problem", first_of([(condition, F.lit(name)) for condition, name, _ in problems], "string")
    )
    unparsed_unread = F.nullif(F.concat_ws(",", *unread), F.lit("")) if unread else F.lit(None).cast("string")
    if unread and wrong_width is not None:
        unparsed_unread = F.when(~wrong_width, unparsed_unread)  # a short line's fields are not its columns'

    # 3. The reason for that rule, and the line as read for a quarantined one: the text of a line
    # the CSV reader marked corrupt, else its fields joined back (a missing value stays an empty
    # field). The rule is the column itself, so a filter on it, pushed down to the read, checks each
    # value once.
    problem = F.col("_problem")
    reason = first_of([(problem == F.lit(name), text) for _, name, text in problems], "string")
    joined = F.concat_ws(",", *[F.coalesce(quoted[f.name], F.lit("")) for f in schema.fields])
    raw_line = F.coalesce(F.col(CORRUPT_RECORD_COLUMN), joined) if has_corrupt_column else joined
    return marked.select(
        *[F.col(f.name) for f in schema.fields],
        F.col(SOURCE_FILE_COLUMN),
        problem.alias("quarantine_rule"),
        reason.alias("quarantine_reason"),
        F.when(problem.isNotNull(), raw_line).alias("raw_line"),
        unparsed_unread.alias(UNPARSED_UNREAD_COLUMN),
    )


def _text_ddl(schema: T.StructType) -> str:
    """`raw_csv_schema(schema)` as the DDL from_csv takes (names quoted: a format's may hold spaces)."""
    return ", ".join(
        "`{}` {}".format(field.name.replace("`", "``"), field.dataType.simpleString().upper())
        for field in raw_csv_schema(schema).fields
    )


def _read(name: str) -> str:
    return f"_read_{name}"


def _given(name: str) -> str:
    return f"_given_{name}"


def require_lines(lines_in: int, source: str) -> None:
    """An input with no order lines at all is a mistake worth stopping for, not an empty result."""
    if lines_in == 0:
        raise InputError(f"{source}: no order lines (the input is empty or has only a header)")
