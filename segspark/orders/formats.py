"""Source formats: how an export's columns map into segspark's canonical order lines.

A format is a TOML file (conf/formats/<name>.toml, or any path given to --format): the export's
columns and types, parsing settings, the canonical columns as Spark SQL expressions over the
export's columns, the format's own exclusion rules, and the return-rate definition. Every format
goes through the same typing, quarantine, rules and accounting.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.compat import try_cast
from segspark.config import conf_resource, read_toml
from segspark.errors import InputError, UsageError
from segspark.expressions import first_of
from segspark.orders.features import PER_CUSTOMER, PER_ORDER
from segspark.orders.ingest import QUARANTINE_COLUMNS, UNPARSED_UNREAD_COLUMN

TYPES = {
    "string": T.StringType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}

#: The canonical order line the features read, with the type each expression is cast to
#: (order_id keeps its own type: only equality matters).
CANONICAL_TYPES = {
    "customer_id": T.LongType(),
    "order_id": None,
    "product_type": T.StringType(),
    "ordered_item_quantity": T.LongType(),
    "returned_item_quantity": T.LongType(),
    "total_sales": T.DoubleType(),
}
#: Canonical columns a format may map, read only by the feature sets that name them (a set whose
#: features need an order's date: segspark.orders.feature_sets). Unmapped, such a set cannot run.
DATED_TYPES = {"order_date": T.DateType()}
ALL_CANONICAL_TYPES = {**CANONICAL_TYPES, **DATED_TYPES}
RETURN_RATES = (PER_ORDER, PER_CUSTOMER)
BUILT_IN_FORMATS = conf_resource("formats")  # the checkout's conf/formats, or the installed copy


@dataclass(frozen=True)
class SourceFormat:
    name: str
    description: str
    schema: T.StructType
    required: tuple[str, ...]
    date_format: str
    timestamp_format: str
    canonical: dict[str, str]
    rules: tuple[tuple[str, str], ...]
    return_rate: str
    delimiter: str = ","
    order_date: str | None = None  # [canonical] order_date, mapped only for the sets that need it

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.rules)

    def with_dates(self, why: str) -> "SourceFormat":
        """The format with `order_date` among its canonical columns (its lines then need one: a
        line without is quarantined); a format without it is refused, saying `why` it is needed."""
        if self.order_date is None:
            raise InputError(
                f"format {self.name!r} maps no order date ([canonical] order_date in its format file), and {why}"
            )
        return dataclasses.replace(self, canonical={**self.canonical, "order_date": self.order_date})


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise UsageError(f"{where}: missing {key!r}")
    return table[key]


#: What a format file may hold, by table; anything else is a typo and is refused, naming it.
FORMAT_KEYS = {
    "parsing": ("date_format", "timestamp_format", "required", "delimiter"),
    "features": ("return_rate",),
    "canonical": tuple(ALL_CANONICAL_TYPES),
}
FORMAT_TABLES = ("description", "columns", "parsing", "canonical", "rules", "features")


def _check_keys(data: dict, where: str) -> None:
    for table in data:
        if table not in FORMAT_TABLES:
            raise UsageError(f"{where}: unknown table or key {table!r}; known: {', '.join(FORMAT_TABLES)}")
    for table, known in FORMAT_KEYS.items():
        for key in data.get(table, {}):
            if key not in known:
                raise UsageError(f"{where}: unknown key {key!r} in [{table}]; known: {', '.join(known)}")
    for rule in data.get("rules", []):
        for key in rule:
            if key not in ("name", "when"):
                raise UsageError(f"{where}: unknown key {key!r} in a [[rules]] entry; known: name, when")


def parse_format(data: dict, where: str, name: str) -> SourceFormat:
    """A SourceFormat from a format file's contents; every mistake names the file and key."""
    _check_keys(data, where)
    columns = _require(data, "columns", where)
    unknown = {column: kind for column, kind in columns.items() if kind not in TYPES}
    if unknown:
        column, kind = next(iter(unknown.items()))
        raise UsageError(f"{where}: column {column!r} has type {kind!r}; use one of {', '.join(TYPES)}")
    schema = T.StructType([T.StructField(column, TYPES[kind]) for column, kind in columns.items()])
    parsing = data.get("parsing", {})
    required = tuple(parsing.get("required", ()))
    for column in required:
        if column not in columns:
            raise UsageError(f"{where}: required column {column!r} is not in [columns]")
    canonical = _require(data, "canonical", where)
    missing = [column for column in CANONICAL_TYPES if column not in canonical]
    if missing:
        raise UsageError(f"{where}: [canonical] has no expression for {missing[0]!r}")
    rules = tuple((_require(rule, "name", where), _require(rule, "when", where)) for rule in data.get("rules", []))
    delimiter = parsing.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in ('"', "\n", "\r"):
        raise UsageError(f"{where}: [parsing] delimiter {delimiter!r}: give one character, e.g. ';' or '\\t'")
    return_rate = data.get("features", {}).get("return_rate", PER_ORDER)
    if return_rate not in RETURN_RATES:
        raise UsageError(f"{where}: return_rate {return_rate!r}; use one of {', '.join(RETURN_RATES)}")
    return SourceFormat(
        name=name,
        description=data.get("description", name),
        schema=schema,
        required=required,
        date_format=parsing.get("date_format", "yyyy-MM-dd"),
        timestamp_format=parsing.get("timestamp_format", "yyyy-MM-dd HH:mm:ss"),
        canonical={column: canonical[column] for column in CANONICAL_TYPES},
        rules=rules,
        return_rate=return_rate,
        delimiter=delimiter,
        order_date=canonical.get("order_date"),
    )


def load_format(name_or_path: str, formats_dir=BUILT_IN_FORMATS) -> SourceFormat:
    """A built-in format by name (conf/formats/<name>.toml) or a user's format file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = formats_dir / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(
                sorted(p.name[: -len(".toml")] for p in formats_dir.iterdir() if p.name.endswith(".toml"))
            )
            raise UsageError(f"unknown --format {name_or_path!r}; known: {known}, or a path to a .toml file")
    data = read_toml(path)
    return parse_format(data, str(path), path.name.rsplit(".toml", 1)[0])


#: Canonical columns every line needs a value in (customer_id has its own exclusion rule, and a
#: line without a product_type orders no type).
NEEDED_CANONICAL = ("order_id", "ordered_item_quantity", "returned_item_quantity", "total_sales")
POSITIVE_RETURNS = "positive_returned_item_quantity"


def _names(expression: str, column: str) -> bool:
    """Whether a Spark SQL expression names `column` (as a whole word, or quoted in backticks)."""
    return re.search(rf"(?<![\w`]){re.escape(column)}(?![\w`])|`{re.escape(column)}`", expression) is not None


def referenced_columns(source_format: SourceFormat, canonical_column: str) -> list[str]:
    """The export's columns a canonical expression names (as whole words)."""
    expression = source_format.canonical[canonical_column]
    return [name for name in source_format.schema.fieldNames() if _names(expression, name)]


def used_columns(source_format: SourceFormat) -> tuple[str, ...]:
    """The export's columns a run reads: the required ones and those a canonical expression or a rule
    names. A value that does not parse costs its line only in one of these; elsewhere it is counted."""
    expressions = [*source_format.canonical.values(), *(condition for _, condition in source_format.rules)]
    return tuple(
        name
        for name in source_format.schema.fieldNames()
        if name in source_format.required or any(_names(expression, name) for expression in expressions)
    )


def canonical_problems(source_format: SourceFormat) -> list[tuple[Column, str, Column]]:
    """(condition, rule, reason) for canonical values the features cannot use, in the order they apply.

    Over the canonical columns: a needed value the format's expression leaves empty (a mapping
    whose quantity or sales does not parse), and a positive returned quantity (returns are
    negative in every export; a spreadsheet edit can flip one, and its return rate would be below
    -1, where log1p has no value).
    """

    def unmapped(column: str) -> Column:
        return F.lit(f"[canonical] {column} = {source_format.canonical[column]!r} gives no value for this line")

    problems = []
    # An empty customer id is a line without a customer (excluded, no_customer_id); a customer id the
    # mapping turns into nothing is a value lost (e.g. CAST of 'C-1002'), which the quality gate must see.
    given = [F.col(f"_export_{name}").isNotNull() for name in referenced_columns(source_format, "customer_id")]
    if given:
        present = functools.reduce(lambda a, b: a | b, given)
        problems.append((F.col("customer_id").isNull() & present, "unmapped_customer_id", unmapped("customer_id")))
    needed = [*NEEDED_CANONICAL, *(column for column in DATED_TYPES if column in source_format.canonical)]
    problems += [(F.col(column).isNull(), f"unmapped_{column}", unmapped(column)) for column in needed]
    returned = F.col("returned_item_quantity")
    problems.append(
        (
            returned > 0,
            POSITIVE_RETURNS,
            F.concat(
                F.lit("returned_item_quantity is "), returned.cast("string"), F.lit(": returns are negative or 0")
            ),
        )
    )
    return problems


def built_in(name: str) -> SourceFormat:
    """A format of conf/formats/ by name ("shopify" is the export the generator writes)."""
    return load_format(name, BUILT_IN_FORMATS)


def to_canonical(typed: DataFrame, source_format: SourceFormat) -> DataFrame:
    """Canonical order lines from typed export lines, with `format_rule`: the first of the
    format's rules that holds (null where none does, and for quarantined lines).

    A line whose canonical values cannot be used (`canonical_problems`) is quarantined like a line
    that did not parse; its raw_line is its typed fields joined back with commas.
    """
    # A format's expressions are the user's SQL: a CAST that does not fit or a division by zero in
    # them must cost a line (a null: unmapped_<column>, or a rule that does not hold), never the run.
    # The jobs run with ANSI SQL off (segspark.edge.session), where such errors are nulls; the canonical
    # types are reached with try_cast either way.
    canonical = [
        (F.expr(expression) if kind is None else try_cast(F.expr(expression), kind)).alias(column)
        for column, expression in source_format.canonical.items()
        for kind in [ALL_CANONICAL_TYPES[column]]
    ]
    format_rule = first_of([(F.expr(condition), F.lit(name)) for name, condition in source_format.rules])
    export = [F.col(name).alias(f"_export_{name}") for name in source_format.schema.fieldNames()]
    unread = [UNPARSED_UNREAD_COLUMN] if UNPARSED_UNREAD_COLUMN in typed.columns else []
    mapped = typed.select(*canonical, format_rule.alias("format_rule"), *export, *QUARANTINE_COLUMNS, *unread)
    fields = [
        F.coalesce(F.col(f"_export_{name}").cast("string"), F.lit("")) for name in source_format.schema.fieldNames()
    ]

    problems = canonical_problems(source_format)  # the first listed wins
    rule = first_of([(condition, F.lit(name)) for condition, name, _ in problems])
    reason = first_of([(condition, text) for condition, _, text in problems])
    quarantine_rule = F.coalesce(F.col("quarantine_rule"), rule)
    return mapped.select(
        *source_format.canonical,
        F.when(quarantine_rule.isNull(), F.col("format_rule")).alias("format_rule"),
        F.when(quarantine_rule.isNotNull(), F.col("source_file")).alias("source_file"),
        quarantine_rule.alias("quarantine_rule"),
        F.coalesce(F.col("quarantine_reason"), reason).alias("quarantine_reason"),
        F.coalesce(F.col("raw_line"), F.when(rule.isNotNull(), F.concat_ws(",", *fields))).alias("raw_line"),
        *unread,
    )
