"""What a job tells YARN when its driver runs in YARN's cluster deploy mode.

There the driver runs in the ApplicationMaster's container and its console goes to that container's
log, so the submitter sees only the application's final report. Spark reports a Python job that
exits non-zero as "User application exited with status N" and retries it as a new attempt; for a
failure that another attempt cannot mend (bad input, a refused path) segspark reports its own one
line instead, as the application's final status and diagnostics, and ends the application there
(no second attempt of a deterministic failure). On success the diagnostics name the published run.

Spark has no public API for this: the ApplicationMaster is reached through its Scala object. Where
that fails (another Spark, another deploy mode) nothing is reported and Spark's own report stands.
"""

from __future__ import annotations

import os


def _application_master(context):
    """The running ApplicationMaster in YARN cluster deploy mode, else None."""
    conf = context.getConf()
    if not context.master.startswith("yarn") or conf.get("spark.submit.deployMode", "client") != "cluster":
        return None
    module = context._jvm.java.lang.Class.forName("org.apache.spark.deploy.yarn.ApplicationMaster$")
    return getattr(module.getField("MODULE$").get(None), "org$apache$spark$deploy$yarn$ApplicationMaster$$master")()


def report(succeeded: bool, message: str) -> bool:
    """Make `message` the YARN application's diagnostics and end it with its final status, when the
    driver runs in YARN's cluster deploy mode. True if reported."""
    if os.environ.get("SPARK_REMOTE"):
        return False  # a Spark Connect client: no driver of its own to report
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return False
    try:
        master = _application_master(context)
        if master is None:
            return False
        statuses = context._jvm.org.apache.hadoop.yarn.api.records.FinalApplicationStatus
        status = statuses.SUCCEEDED if succeeded else statuses.FAILED
        # Unregistering ends the application with this status and diagnostics (no further attempt).
        # Not ApplicationMaster.finish: called from another thread, it interrupts the thread that
        # runs this Python process, which then loses its gateway before it can say anything more.
        master.unregister(status, message)
        return True
    except Exception as error:  # noqa: BLE001 - Spark's own report stands
        print(f"segspark: the outcome was not reported to YARN ({type(error).__name__}: {str(error)[:300]})")
        return False
