"""One SparkSession for the whole test session (local[2], few shuffle partitions, no UI, a local Hive catalog)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# ./spark-submit.sh runs the Spark of the environment these tests run in (make test-spark-lines has one per line).
os.environ.setdefault("SEGSPARK_VENV", sys.prefix)
# The ./spark-submit.sh runs of the tests compile with C1 only: on the tests' tiny inputs a job spends
# its time compiling, not running, and C2 took 40 s of CPU against 24 s for a 60-line run. This
# session's JVM (below) and real runs and benchmarks keep the JVM's default tiered compilation.
SUBMIT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
os.environ.setdefault("SPARK_SUBMIT_OPTS", SUBMIT_JVM_OPTIONS)

from pyspark.sql import SparkSession  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = REPO.parent / "shared" / "data" / "online-retail" / "by-day"
#: Delta Lake's and Iceberg's jars (make jars: jvm/lakehouse/), built for the default Spark line.
LAKEHOUSE_JARS = REPO / "build" / "jars" / "lakehouse"
#: The Iceberg catalog of the tests' session (type jdbc on SQLite, as docs/tables.md configures it).
ICEBERG_CATALOG = "lake"


def lakehouse_settings(folder: Path) -> dict[str, str]:
    """Delta Lake over the session's catalog and an Iceberg catalog `lake` (docs/tables.md's settings),
    where the jars were fetched and this Spark is the line they are built for; else none."""
    import pyspark

    from segspark import compat

    if compat.spark_line(pyspark.__version__) != compat.DEFAULT_LINE or not (LAKEHOUSE_JARS / ".fetched").exists():
        return {}
    catalog = f"spark.sql.catalog.{ICEBERG_CATALOG}"
    return {
        "spark.jars": ",".join(str(jar) for jar in sorted(LAKEHOUSE_JARS.glob("*.jar"))),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,"
        "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        catalog: "org.apache.iceberg.spark.SparkCatalog",
        f"{catalog}.type": "jdbc",
        f"{catalog}.uri": f"jdbc:sqlite:{folder}/iceberg-catalog.db",
        f"{catalog}.jdbc.schema-version": "V1",
        f"{catalog}.warehouse": f"file://{folder}/iceberg-warehouse",
    }


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    # Spark's built-in Hive catalog (a Derby metastore and a warehouse in a temporary folder), as a
    # run that reads or publishes tables gets where no catalog is configured (segspark.edge.session)
    catalog = tmp_path_factory.mktemp("catalog")
    ours = os.environ.get("SPARK_SUBMIT_OPTS") == SUBMIT_JVM_OPTIONS
    if ours:  # not for this long-lived JVM
        del os.environ["SPARK_SUBMIT_OPTS"]
    session = (
        SparkSession.builder.master("local[2]")
        .appName("segspark-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # as the jobs run (segspark.edge.session)
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        .config("spark.sql.catalogImplementation", "hive")
        .config("spark.sql.warehouse.dir", f"file://{catalog}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={catalog}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={catalog}/derby.log")
        .config(map=lakehouse_settings(catalog))
        .getOrCreate()
    )
    if ours:
        os.environ["SPARK_SUBMIT_OPTS"] = SUBMIT_JVM_OPTIONS
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def lakehouse_session(spark):
    """The session, where it carries Delta Lake and Iceberg (`lakehouse_settings`); skipped where it
    does not, failed in CI (where `make test` fetches the jars)."""
    if f"spark.sql.catalog.{ICEBERG_CATALOG}" not in dict(spark.sparkContext.getConf().getAll()):
        message = "Delta and Iceberg are not in this session (make jars; the default Spark line only)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return spark


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory) -> str:
    """sc://127.0.0.1:PORT of a Connect server that lives as long as the test session."""
    pytest.importorskip("grpc", reason="the Connect client needs pyspark's connect extra (make venv installs it)")
    from tests.connect import server

    started = server.start(tmp_path_factory.mktemp("connect-server"))
    yield started.url
    started.stop()
