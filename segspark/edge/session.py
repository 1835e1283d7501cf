"""The SparkSession every job runs in, with the settings segspark's guarantees rest on.

`./spark-submit.sh` points SPARK_CONF_DIR at conf/, whose spark-defaults.conf holds these; but where
Spark is installed SPARK_CONF_DIR is usually set already (the cluster's own defaults), and a job may
be started by plain spark-submit or a scheduler. So the job applies them itself, whatever the conf:

- required (a user's other value is overridden, and the run says so): speculation off (duplicate
  attempts would race to write published files), the v1 file committer (task output moves into
  place only when the job commits), and ANSI SQL off: a source format's expressions are the user's
  SQL, and a CAST that does not fit or a division by zero on one line must make that line's value
  null (quarantined as unmapped_<column>, or a rule that does not hold), not fail the run. segspark's
  own typing uses try_cast and sums whole numbers as decimals, so it does not rest on ANSI errors;
- defaults (where the user set nothing): the web UI and progress bar off, dates in UTC (reruns
  anywhere read the same days), and for local masters the driver bound to loopback only.
"""

from __future__ import annotations

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

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
#: What summary.json's `run.guarantees` records of the session the run had.
RECORDED = (*REQUIRED, "spark.ui.enabled", "spark.driver.bindAddress")


def launch_conf() -> SparkConf:
    """The settings the launcher gave (spark-submit's --conf and properties file, or the builder's)."""
    SparkContext._ensure_initialized()  # in spark-submit, its JVM: the settings are its system properties
    return SparkConf()


def settings_for(given: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """(settings to apply, one line per user setting that was overridden) for the launch settings `given`."""
    master = given.get("spark.master", "local[*]")
    apply: dict[str, str] = {}
    lines = []
    for key, (value, why) in REQUIRED.items():
        user = given.get(key)
        if user is not None and user.strip().lower() != value:
            lines.append(f"segspark: {key}={user} overridden with {value}: {why}")
        apply[key] = value
    defaults = {**DEFAULTS, **(LOCAL_DEFAULTS if master.startswith("local") else {})}
    apply.update({key: value for key, value in defaults.items() if key not in given})
    if "spark.master" not in given:
        apply["spark.master"] = master
    return apply, lines


def start(app_name: str) -> SparkSession:
    """The job's session: the launcher's settings plus segspark's (see the module), lines printed
    for every user setting segspark overrode."""
    given = dict(launch_conf().getAll())
    apply, lines = settings_for(given)
    for line in lines:
        print(line)
    builder = SparkSession.builder.appName(app_name)
    for key, value in apply.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def guarantees(spark: SparkSession) -> dict[str, str | None]:
    """The settings the guarantees rest on, as the running session has them (summary.json)."""
    conf = spark.sparkContext.getConf()
    return {key: conf.get(key, None) for key in RECORDED}
