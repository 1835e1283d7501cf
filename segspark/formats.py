"""Source formats: how an export's columns map into segspark's canonical order lines.

A format is a TOML file (conf/formats/<name>.toml, or any path given to --format): the export's
columns and types, parsing settings, the canonical columns as Spark SQL expressions over the
export's columns, the format's own exclusion rules, and the return-rate definition. Every format
goes through the same typing, quarantine, rules and accounting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.config import read_toml
from segspark.errors import UsageError
from segspark.features import PER_CUSTOMER, PER_ORDER
from segspark.ingest import QUARANTINE_COLUMNS

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
RETURN_RATES = (PER_ORDER, PER_CUSTOMER)


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

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.rules)


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise UsageError(f"{where}: missing {key!r}")
    return table[key]


def parse_format(data: dict, where: str, name: str) -> SourceFormat:
    """A SourceFormat from a format file's contents; every mistake names the file and key."""
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
    )


def load_format(name_or_path: str, formats_dir: Path) -> SourceFormat:
    """A built-in format by name (conf/formats/<name>.toml) or a user's format file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = formats_dir / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in formats_dir.glob("*.toml")))
            raise UsageError(f"unknown --format {name_or_path!r}; known: {known}, or a path to a .toml file")
    data = read_toml(path)
    return parse_format(data, str(path), path.stem)


def to_canonical(typed: DataFrame, source_format: SourceFormat) -> DataFrame:
    """Canonical order lines from typed export lines, with `format_rule`: the first of the
    format's rules that holds (null where none does, and for quarantined lines)."""
    rule = F.lit(None).cast("string")
    for name, condition in reversed(source_format.rules):
        rule = F.when(F.expr(condition), F.lit(name)).otherwise(rule)
    is_quarantined = F.col("quarantine_rule").isNotNull()
    # try_cast: under ANSI SQL a value that does not fit is a null (then a rule or quarantine
    # matter), never a failed job.
    canonical = [
        (F.expr(expression) if kind is None else F.expr(expression).try_cast(kind)).alias(column)
        for column, expression in source_format.canonical.items()
        for kind in [CANONICAL_TYPES[column]]
    ]
    return typed.select(
        *canonical,
        F.when(is_quarantined, F.lit(None).cast("string")).otherwise(rule).alias("format_rule"),
        *QUARANTINE_COLUMNS,
    )
