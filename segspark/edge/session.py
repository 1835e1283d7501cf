"""The SparkSession every job runs in, with the settings segspark's guarantees rest on.

`./spark-submit.sh` points SPARK_CONF_DIR at conf/, whose spark-defaults.conf holds these; but where
Spark is installed SPARK_CONF_DIR is usually set already (the cluster's own defaults), and a job may
be started by plain spark-submit or a scheduler. So the job applies them itself, whatever the conf:

- required (a user's other value is overridden, and the run says so; on a SparkContext that is
  already running only the session's settings can change, and the lines say what holds): speculation off (duplicate
  attempts would race to write published files), the v1 file committer (task output moves into
  place only when the job commits), and ANSI SQL off: a source format's expressions are the user's
  SQL, and a CAST that does not fit or a division by zero on one line must make that line's value
  null (quarantined as unmapped_<column>, or a rule that does not hold), not fail the run. segspark's
  own typing uses try_cast and sums whole numbers as decimals, so it does not rest on ANSI errors;
- defaults (where the user set nothing): the web UI and progress bar off, dates in UTC (reruns
  anywhere read the same days), for local masters the driver bound to loopback only, and the
  tuning of conf/spark-defaults.conf (shuffle partitions, the codegen limit, the memory fraction):
  the same file spark-submit.sh uses, also where segspark is installed and started by a console
  script or plain spark-submit. The driver's heap is the one setting code cannot give a JVM that is
  already running: spark-submit's --driver-memory, or PYSPARK_SUBMIT_ARGS for the console scripts.
"""

from __future__ import annotations

import os
import shlex

from pyspark.conf import SparkConf
from pyspark.sql import SparkSession

from segspark.compat import check_spark_version
from segspark.config import IN_CHECKOUT, conf_resource
from segspark.edge import lakehouse, paths
from segspark.edge.paths import local_path, local_uri
from segspark.engine import is_connect
from segspark.errors import InputError, UsageError

REQUIRED = {
    "spark.speculation": ("false", "speculative duplicate tasks would race to write published files"),
    "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": (
        "1",
        "the v1 committer moves task output into place only when the job commits",
    ),
    "spark.sql.ansi.enabled": (
        "false",
        "a format's SQL that fails on one line (a CAST, a division by zero) must cost that line, not the run",
    ),
    "spark.sql.legacy.timeParserPolicy": (
        "CORRECTED",
        "dates parse as Spark 4 parses them on every Spark line (3.5's default fails a run on a date the "
        "legacy parser reads otherwise)",
    ),
}
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}
LOCAL_DEFAULTS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
#: Settings that give a session a catalog of its own (a cluster's Hive metastore, Glue, a Delta or
#: Iceberg session catalog): where any is given, or a hive-site.xml is in the configuration, the run
#: uses that catalog as configured.
CATALOG_SETTINGS = (
    "spark.sql.catalogImplementation",
    "spark.sql.catalog.spark_catalog",
    "spark.sql.defaultCatalog",
    "spark.hadoop.hive.metastore.uris",
    "spark.hadoop.javax.jdo.option.ConnectionURL",  # a user's own Derby or JDBC metastore
    "spark.sql.warehouse.dir",
)
#: The folder of an output folder that keeps its built-in catalog (`local_catalog`).
CATALOG_FOLDER = "catalog"
_METASTORE_URL = "spark.hadoop.javax.jdo.option.ConnectionURL"
COMMITTER = "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version"
#: The committer setting a session's own DataFrame writes read (its SQL settings are laid over the
#: context's Hadoop configuration for each write): the one a job can still set on a running context.
SESSION_COMMITTER = COMMITTER.removeprefix("spark.hadoop.")
#: What summary.json's `run.guarantees` records of the session the run had.
RECORDED = (*REQUIRED, SESSION_COMMITTER, "spark.ui.enabled", "spark.driver.bindAddress")


#: Settings of spark-defaults.conf a running JVM cannot take, or that only local masters want.
_NOT_FROM_FILE = ("spark.driver.memory", "spark.driver.host", "spark.driver.bindAddress")


def file_defaults(everything: bool = False) -> dict[str, str]:
    """conf/spark-defaults.conf (the checkout's, or the installed package's copy) as key -> value
    (without the driver's heap and address unless `everything`)."""
    pairs = {}
    for line in conf_resource("spark-defaults.conf").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            if everything or key not in _NOT_FROM_FILE:
                pairs[key] = value.strip()
    return pairs


def launch_conf() -> SparkConf:
    """The settings the launcher gave (spark-submit's --conf and properties file, or the builder's)."""
    from pyspark import SparkContext  # classic only: a thin Connect client (pyspark-client) has none

    SparkContext._ensure_initialized()  # in spark-submit, its JVM: the settings are its system properties
    return SparkConf()


def settings_for(given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(settings to apply, one line per user setting that was overridden) for the launch settings `given`."""
    master = given.get("spark.master", "local[*]")
    defaults = {**file_defaults(), **DEFAULTS, **(LOCAL_DEFAULTS if master.startswith("local") else {})}
    apply = {key: value for key, value in defaults.items() if key not in given}
    lines = []
    for key, (value, why) in REQUIRED.items():
        user = given.get(key)
        if user is not None and user.strip().lower() != value.lower():
            lines.append(f"segspark: {key}={user} overridden with {value}: {why}")
        apply[key] = value
    if "spark.master" not in given:
        apply["spark.master"] = master
    apply[SESSION_COMMITTER] = REQUIRED[COMMITTER][0]
    return apply, lines


def settings_for_running(context: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(settings to apply, one line per guarantee) for a SparkContext already running (a notebook's,
    a scheduler's), whose settings are `context`: what a job can still change is its session's SQL
    settings, so ANSI is overridden and the committer set for this session's DataFrame writes; the
    context's speculation and its own Hadoop configuration stay as they are, and the lines say so."""
    committer = REQUIRED[COMMITTER][0]
    apply = {SESSION_COMMITTER: committer}
    lines = []
    for key, (value, why) in REQUIRED.items():
        if key.startswith("spark.sql."):  # the session's own settings
            apply[key] = value
            user = context.get(key)
            if user is not None and user.strip().lower() != value.lower():
                lines.append(f"segspark: {key}={user} overridden with {value} for this run: {why}")
    if context.get("spark.speculation", "false").strip().lower() != "false":
        lines.append(
            f"segspark: spark.speculation={context['spark.speculation']} on the running SparkContext cannot be "
            f"changed by a job and stays on: {REQUIRED['spark.speculation'][1]}; run the job with its own "
            "spark-submit, or start the context with spark.speculation=false"
        )
    user = context.get(COMMITTER)
    if user is not None and user.strip() != committer:
        lines.append(
            f"segspark: {COMMITTER}={user} on the running SparkContext: this run's DataFrame writes use {committer} "
            f"(set on its session), but the context's own Hadoop configuration keeps {user} for RDD writes "
            "(MLlib's model metadata); run the job with its own spark-submit for the whole guarantee"
        )
    return apply, lines


def own_catalog_settings(given: dict[str, str]) -> list[str]:
    """The launch settings that configure a catalog of the session's own. A session catalog that keeps
    its tables in the session's metastore (Delta's DeltaCatalog) is not one by itself: without a
    metastore it works over the output folder's built-in catalog, as plain tables do."""
    return [
        key
        for key in CATALOG_SETTINGS
        if key in given
        and not (key == "spark.sql.catalog.spark_catalog" and given[key] in lakehouse.SESSION_CATALOGS_IN_METASTORE)
    ]


def has_own_catalog(given: dict[str, str]) -> bool:
    """Whether the launch settings (or a hive-site.xml beside them) configure a catalog."""
    if own_catalog_settings(given):
        return True
    folders = (os.environ.get("SPARK_CONF_DIR"), os.environ.get("HADOOP_CONF_DIR"))
    return any(folder and os.path.exists(os.path.join(folder, "hive-site.xml")) for folder in folders)


def local_catalog(folder: str) -> dict[str, str]:
    """Spark's built-in Hive catalog kept in a local `folder`: a Derby metastore (one process at a
    time) and the tables' warehouse. The tables are there for the next process that opens it."""
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": local_uri(os.path.join(folder, "warehouse")),
        _METASTORE_URL: f"jdbc:derby:;databaseName={os.path.join(folder, 'metastore_db')};create=true",
    }


def catalog_folder(output: str, given: dict[str, str]) -> str:
    """The local folder of an output folder's built-in catalog: `<output>/catalog`. Derby keeps its
    metastore on a local disk, so an output on another filesystem (HDFS, a bare path on a cluster
    whose default filesystem is HDFS) needs a catalog of the session's own."""
    default_fs = given.get("spark.hadoop.fs.defaultFS") or _hadoop_default_fs()
    where = output if paths.scheme(output) else (default_fs or "file:///")
    if paths.scheme(where) != "file":
        raise UsageError(
            f"--output {output} is not on a local disk and the session has no catalog configured: "
            "give it one (e.g. --conf spark.sql.catalogImplementation=hive with the cluster's hive-site.xml "
            "or hive.metastore.uris), or an output folder on a local disk for the built-in catalog"
        )
    return built_in_catalog_folder(output)


def built_in_catalog_folder(output: str) -> str:
    """Where a local output folder keeps its built-in catalog: `<output>/catalog` on the driver's disk."""
    return os.path.join(os.path.abspath(local_path(output)), CATALOG_FOLDER)


def _hadoop_default_fs() -> str | None:
    """fs.defaultFS as Hadoop's own configuration files (core-site.xml) give it, before Spark starts."""
    from pyspark import SparkContext

    return SparkContext._jvm.org.apache.hadoop.conf.Configuration().get("fs.defaultFS")


def start(app_name: str, catalog_for: str | None = None) -> SparkSession:
    """The job's session: the launcher's settings plus segspark's (see the module), lines printed
    for every user setting segspark overrode.

    `catalog_for`: the output folder of a run that reads or publishes tables. Where the session has
    no catalog configured, it gets the built-in one kept under that folder (`local_catalog`).
    """
    check_spark_version()
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        return start_remote(app_name, remote)  # the server's catalog, whatever `catalog_for`
    from pyspark import SparkContext

    context = SparkContext._active_spark_context  # e.g. a notebook's, the tests': its settings are fixed
    if context is not None:
        given = dict(context.getConf().getAll())
        given.setdefault(COMMITTER, context._jsc.hadoopConfiguration().get(SESSION_COMMITTER))
        apply, lines = settings_for_running(given)
    else:
        given = dict(launch_conf().getAll())
        apply, lines = settings_for(given)
    if context is None and catalog_for is not None:
        apply.update(catalog_settings(catalog_for, given))
    for line in lines:
        print(line)
    builder = SparkSession.builder.appName(app_name)
    for key, value in apply.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _wheels_importable_on_workers(spark)
    return spark


def start_remote(app_name: str, remote: str) -> SparkSession:
    """A Spark Connect session (SPARK_REMOTE, or --remote): the server's context is fixed, so what
    the job sets is its session's SQL settings (segspark's required and default ones, and
    spark-defaults.conf's) and the DataFrame-write committer, as for a running context; a line says
    where the server's speculation is on. Tables are in the server's catalog, set when it starts
    (an in-memory one is refused by segspark.edge.tables)."""
    spark = SparkSession.builder.remote(remote).appName(app_name).getOrCreate()
    wanted = {key: value for key, value in {**file_defaults(), **DEFAULTS}.items() if key.startswith("spark.sql.")}
    wanted.update({key: value for key, (value, _) in REQUIRED.items() if key.startswith("spark.sql.")})
    wanted[SESSION_COMMITTER] = REQUIRED[COMMITTER][0]
    for key, value in wanted.items():
        spark.conf.set(key, value)
    speculation = (spark.conf.get("spark.speculation", None) or "false").strip().lower()
    if speculation != "false":
        print(
            f"segspark: spark.speculation={speculation} on the Spark Connect server cannot be changed by a job: "
            f"{REQUIRED['spark.speculation'][1]}"
        )
    return spark


def driver_is_here(spark: SparkSession) -> bool:
    """Whether the session's driver is this process (not a Spark Connect server's)."""
    return not is_connect(spark)


def master(spark: SparkSession) -> str:
    """The session's master (its server's, over Spark Connect)."""
    return spark.conf.get("spark.master", None) or "unknown"


def catalog_settings(output: str, given: dict[str, str]) -> dict[str, str]:
    """What a run that uses tables adds to the session: nothing where a catalog is configured (Hive
    support turned on where only a hive-site.xml says so); else the built-in catalog of `output`."""
    if has_own_catalog(given):
        named = [f"{key}={given[key]}" for key in own_catalog_settings(given)] or ["hive-site.xml"]
        print(f"segspark: tables in the catalog the session's settings give ({', '.join(named)})")
        return {} if "spark.sql.catalogImplementation" in given else {"spark.sql.catalogImplementation": "hive"}
    folder = catalog_folder(output, given)
    os.makedirs(folder, exist_ok=True)
    check_catalog_free(folder)
    # Derby writes its log to the working folder unless told otherwise; before the metastore starts
    from pyspark import SparkContext

    SparkContext._jvm.java.lang.System.setProperty("derby.stream.error.file", os.path.join(folder, "derby.log"))
    return local_catalog(folder)


def check_catalog_free(folder: str) -> None:
    """Refuse, before Spark opens it, a built-in catalog another process has open: Derby serves one
    process at a time, and the second otherwise fails deep in Hive with ten thousand log lines. Derby
    holds an OS lock on `metastore_db/dbex.lck` while booted (a killed process's lock goes with it)."""
    lock_file = os.path.join(folder, "metastore_db", "dbex.lck")
    if not os.path.exists(lock_file):
        return
    import fcntl

    descriptor = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InputError(DERBY_BUSY.format(folder=folder)) from None
    finally:
        os.close(descriptor)  # releases the probe's lock


#: One line for a built-in catalog that another process has open.
DERBY_BUSY = (
    "the built-in catalog in {folder} is open in another process (its Derby metastore serves one process "
    "at a time: another run with tables in this output folder, a ./spark-sql.sh, a notebook): run again "
    "when that one has ended, or give the runs a shared metastore (docs/tables.md)"
)


def built_in_warehouse(spark: SparkSession, output: str) -> str | None:
    """The warehouse of `output`'s built-in catalog where the session uses it, else None."""
    if not paths.is_local(output) or is_connect(spark):
        return None
    built_in = local_catalog(built_in_catalog_folder(output))
    if spark.sparkContext.getConf().get(_METASTORE_URL, None) != built_in[_METASTORE_URL]:
        return None
    return built_in["spark.sql.warehouse.dir"]


def query_hint(database: str, built_in_output: str | None) -> str | None:
    """How to query tables in the built-in catalog of `built_in_output` (None for a catalog of the
    session's own: query it as usual)."""
    if built_in_output is None:
        return None
    folder = built_in_catalog_folder(built_in_output)
    built_in = local_catalog(folder)
    sql = f"SELECT * FROM {database}.segspark_current LIMIT 10"
    if IN_CHECKOUT:
        return f"query them with: ./spark-sql.sh {shlex.quote(os.path.dirname(folder))} -e {shlex.quote(sql)}"
    settings = " ".join(f"--conf {shlex.quote(f'{key}={value}')}" for key, value in built_in.items())
    return f"query them with: spark-sql {settings} -e {shlex.quote(sql)}"


def _wheels_importable_on_workers(spark: SparkSession) -> None:
    """A wheel given with --py-files (`--py-files segspark-0.2.0-py3-none-any.whl`, as schedulers hand
    jobs over) reaches every executor, but PySpark puts only .zip, .egg and .jar files on the Python
    workers' path; a wheel is a zip too, so it is put there as well (SparkContext keeps that list)."""
    if is_connect(spark):
        return
    context = spark.sparkContext
    for path in (context.getConf().get("spark.submit.pyFiles", "") or "").split(","):
        name = os.path.basename(path)
        if name.endswith(".whl") and name not in context._python_includes:
            context._python_includes.append(name)


def guarantees(spark: SparkSession) -> dict[str, str | None]:
    """The settings the guarantees rest on, as they hold in the run's session (summary.json): the
    context's speculation and Hadoop committer; the session's SQL settings and DataFrame-write committer
    (over Spark Connect: each as the server's session gives it)."""
    if is_connect(spark):
        return {key: spark.conf.get(key, None) for key in RECORDED}
    conf = spark.sparkContext.getConf()
    recorded = {key: conf.get(key, None) for key in RECORDED}
    for key in (*(key for key in REQUIRED if key.startswith("spark.sql.")), SESSION_COMMITTER):
        recorded[key] = spark.conf.get(key, None) or recorded[key]
    return recorded
