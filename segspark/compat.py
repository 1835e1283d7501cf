"""The Spark lines segspark runs on, and the one place where what differs between them is handled.

Each line is tested in CI at its newest release (docs/development.md, "Spark lines"): the whole suite
on the default, a segment run, a refresh, a score and tables on the others. setup.cfg's pyspark range
admits exactly these lines; a run on any other Spark stops at its start (`check_spark_version`), since
an untested Spark could give other features or costs without a word. What differs, and is handled here:

- `Column.try_cast` came with Spark 4.0. On 3.5 the same expression (a cast that gives null where it
  does not fit, as SQL's `try_cast` has done since 3.2) is built from the column's expression.
- `try_to_date` came with Spark 4.0. On 3.5, `try_to_timestamp` (3.5.0) with the same pattern, as a date.
- Dates parsed by patterns: 3.5's default time parser policy fails a run on a string the legacy
  parser reads otherwise; 4.x's (CORRECTED) is set on every line (segspark.edge.session).
"""

from __future__ import annotations

import pyspark
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark.errors import UsageError

#: Each Spark line segspark supports, with the release of it that CI tests.
TESTED_RELEASES = {"3.5": "3.5.9", "4.1": "4.1.4", "4.3": "4.3.0"}
#: The line constraints.txt pins: the newest that the job, Delta Lake and Apache Iceberg all support.
DEFAULT_LINE = "4.1"


def spark_line(version: str) -> str:
    """'4.1' of '4.1.4' (or of '4.1.0-SNAPSHOT', a vendor's '3.5.2-amzn-1')."""
    return ".".join(version.split("-")[0].split(".")[:2])


def supported_range() -> str:
    return ", ".join(f"{line} (tested: {release})" for line, release in TESTED_RELEASES.items())


def check_spark_version(version: str = pyspark.__version__) -> None:
    """Refuse a Spark whose line no test has run on, in one line naming the lines that are tested."""
    if spark_line(version) not in TESTED_RELEASES:
        raise UsageError(
            f"Spark {version} is not a Spark line segspark is tested on; supported: {supported_range()}. "
            "Install one of them (pip install -c constraints.txt pins the default)"
        )


def try_cast(value: Column, target: T.DataType | str) -> Column:
    """`value` as `target`, null where it does not fit (never an error, never a wrapped number)."""
    if hasattr(Column, "try_cast"):
        return value.try_cast(target)
    return _try_cast_35(value, target)


def try_to_date(value: Column, date_format: str) -> Column:
    """The date `value` gives with `date_format`, null where it gives none."""
    if hasattr(F, "try_to_date"):
        return F.try_to_date(value, date_format)
    return F.to_date(F.try_to_timestamp(value, F.lit(date_format)))


def _try_cast_35(value: Column, target: T.DataType | str) -> Column:
    # Spark 3.5's Python API has no try_cast; its Catalyst has the expression SQL's try_cast parses
    # to: Cast(child, type, time zone (resolved by the analyzer), EvalMode.TRY).
    from pyspark import SparkContext

    jvm = SparkContext._jvm
    data_type = T._parse_datatype_string(target) if isinstance(target, str) else target
    expressions = jvm.org.apache.spark.sql.catalyst.expressions
    cast = expressions.Cast(
        value._jc.expr(),
        jvm.org.apache.spark.sql.types.DataType.fromJson(data_type.json()),
        jvm.scala.Option.empty(),
        expressions.EvalMode.TRY(),
    )
    return Column(jvm.org.apache.spark.sql.Column(cast))
