"""Tables with versions (Delta Lake, Apache Iceberg): the one place that knows a table format.

segspark reads and writes every table through Spark's catalog API, the same calls for a Hive, Delta
or Iceberg table (docs/tables.md): each append to a Delta or Iceberg table is one transaction of
that format. What differs is what a format keeps besides the rows, and that is answered here:

- `table_version`: a table's current version (Delta's version number, Iceberg's current snapshot id
  on its main branch), None for a table without versions. A published run names, in segspark_runs,
  each of its tables' version once its rows were in (`table_versions`), to read them as of that run.
- `as_of_clause`: what `--input-as-of` asks for (a version or snapshot id, a timestamp, an Iceberg
  tag) as the SQL time travel clause both formats read (`VERSION AS OF`, `TIMESTAMP AS OF`).
- `SESSION_CATALOGS_IN_METASTORE`: session catalogs (Delta's) that keep their tables in the session's
  metastore: given alone, they get the output folder's built-in one, as plain tables do.
"""

from __future__ import annotations

import re

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from segspark.errors import UsageError

DELTA, ICEBERG = "delta", "iceberg"
#: The table formats whose tables have versions to read as of.
VERSIONED = (DELTA, ICEBERG)
SESSION_CATALOGS_IN_METASTORE = (
    "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "org.apache.iceberg.spark.SparkSessionCatalog",
)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_PART = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
_TABLE_NAME = re.compile(rf"{_PART}(?:\.{_PART})*")


def is_table_name(name: str) -> bool:
    """Whether `name` is a table's name alone (parts, each an identifier or back-quoted), nothing more
    of SQL: the name goes into statements here and in the reader."""
    return bool(_TABLE_NAME.fullmatch(name))


def in_session_catalog(name: str) -> bool:
    """Whether a table name resolves in the session's catalog: `t`, `db.t`, `spark_catalog.db.t`; not
    a named catalog's `catalog.db.t` or a table named by its path (delta.`hdfs://...`)."""
    parts = re.findall(rf"{_PART}", name)
    if len(parts) == 2 and parts[1].startswith("`") and parts[0].lower() in ("delta", "parquet", "iceberg"):
        return False
    return len(parts) < 3 or parts[0].lower() == "spark_catalog"


def table_format(spark: SparkSession, name: str) -> str | None:
    """The table's provider as its catalog describes it (delta, iceberg, parquet, hive, ...), lower
    case; None where the catalog does not say (or the table is missing: reading it says so)."""
    if not is_table_name(name):
        return None
    if name.lower().startswith("delta.`"):
        return DELTA  # a Delta table named by its path
    try:
        rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
    except AnalysisException:
        return None
    provider = next((row.data_type for row in rows if row.col_name.strip() == "Provider"), None)
    return provider.strip().lower() if provider else None


def table_version(spark: SparkSession, name: str, table_format_: str | None = None) -> int | None:
    """The table's current version: Delta's version, Iceberg's current snapshot id (None while an
    Iceberg table has none), None for a table without versions."""
    kind = table_format_ or table_format(spark, name)
    if kind == DELTA:
        return int(spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()["version"])
    if kind == ICEBERG:
        row = spark.sql(f"SELECT snapshot_id FROM {name}.refs WHERE name = 'main'").first()
        return None if row is None else int(row.snapshot_id)
    return None


def as_of_clause(as_of: str) -> str:
    """`--input-as-of` as SQL's time travel clause: digits are a version (Delta) or snapshot id
    (Iceberg), a date or timestamp is a time, any other name an Iceberg tag or branch."""
    value = as_of.strip()
    if value.isdigit():
        return f"VERSION AS OF {int(value)}"
    if _TIMESTAMP.fullmatch(value):
        return f"TIMESTAMP AS OF '{value}'"
    if _TAG.fullmatch(value):
        return f"VERSION AS OF '{value}'"
    raise UsageError(
        f"--input-as-of {as_of!r}: give a version or snapshot id (12), a time (2026-11-30 or "
        "2026-11-30T23:59:59Z) or a tag name"
    )
