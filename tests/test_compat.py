"""The Spark lines segspark supports: the range it declares, the check at start, and the expressions
whose API differs between lines giving the same values on each (this module runs on every line)."""

from __future__ import annotations

import configparser
import datetime
import decimal
import re
from pathlib import Path

import pyspark
import pytest
from chispa import assert_df_equality
from packaging.requirements import Requirement
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segspark import compat
from segspark.errors import UsageError

pytestmark = pytest.mark.spark_lines
REPO = Path(__file__).resolve().parents[1]


def _pinned(path: Path) -> str:
    return re.search(r"^pyspark==(\S+)$", path.read_text(), re.MULTILINE).group(1)


def test_setup_cfg_admits_exactly_the_tested_lines_and_the_constraints_pin_their_releases():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    wanted = next(
        Requirement(line) for line in config["options"]["install_requires"].split("\n") if line.startswith("pyspark")
    )
    for release in compat.TESTED_RELEASES.values():
        assert release in wanted.specifier, release
    for untested in ("3.4.4", "4.0.5", "4.2.1", "4.4.0", "5.0.0"):
        assert untested not in wanted.specifier, untested
    assert _pinned(REPO / "constraints.txt") == compat.TESTED_RELEASES[compat.DEFAULT_LINE]
    others = {path.name: _pinned(path) for path in REPO.glob("constraints-spark-*.txt")}
    assert others == {
        f"constraints-spark-{line}.txt": release
        for line, release in compat.TESTED_RELEASES.items()
        if line != compat.DEFAULT_LINE
    }


def test_this_spark_passes_the_check_and_an_untested_line_stops_in_one_line():
    compat.check_spark_version()  # the Spark these tests run on
    assert compat.spark_line(pyspark.__version__) in compat.TESTED_RELEASES
    for accepted in ("3.5.0", "3.5.2-amzn-1", "4.1.0", "4.3.1"):
        compat.check_spark_version(accepted)
    for refused in ("3.4.4", "4.0.5", "4.2.1", "4.4.0"):
        with pytest.raises(UsageError) as refusal:
            compat.check_spark_version(refused)
        message = str(refusal.value)
        assert message.startswith(f"Spark {refused} is not a Spark line segspark is tested on")
        assert "3.5 (tested: 3.5.9), 4.1 (tested: 4.1.4), 4.3 (tested: 4.3.0)" in message


def test_try_cast_gives_null_where_a_value_does_not_fit_on_every_line(spark):
    schema = T.StructType([T.StructField("text", T.StringType()), T.StructField("wide", T.DecimalType(20, 0))])
    source = spark.createDataFrame(
        [
            ("12", decimal.Decimal(12)),
            ("1000037.5", decimal.Decimal("18446744073709551621")),  # a plain cast would wrap it to 5
            (" 7 ", decimal.Decimal("-9223372036854775808")),
            ("abc", None),
        ],
        schema,
    )
    result = source.select(
        compat.try_cast(F.col("text"), T.LongType()).alias("text_as_long"),
        compat.try_cast(F.col("text"), "double").alias("text_as_double"),
        compat.try_cast(F.col("wide"), "long").alias("wide_as_long"),
    )
    expected = spark.createDataFrame(
        [(12, 12.0, 12), (None, 1000037.5, None), (7, 7.0, -9223372036854775808), (None, None, None)],
        "text_as_long long, text_as_double double, wide_as_long long",
    )
    assert_df_equality(result, expected)


def test_try_to_date_reads_the_pattern_strictly_and_gives_null_otherwise(spark):
    source = spark.createDataFrame(
        [("2023-01-05",), ("2023-13-05",), ("2023-01-05 10:00",), ("5/1/2023",), (None,)], "day string"
    )
    result = source.select(compat.try_to_date(F.col("day"), "yyyy-MM-dd").alias("day"))
    expected = spark.createDataFrame([(datetime.date(2023, 1, 5),), (None,), (None,), (None,), (None,)], "day date")
    assert_df_equality(result, expected)
