"""What every job does at its edge: one-line errors instead of tracebacks, and a clean exit code."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from typing import Callable

from segspark.edge import runs, session, yarn
from segspark.errors import InputError, NotPublished, UsageError

EXIT_INPUT = 2
EXIT_USAGE = 64
EXIT_FAILURE = 1


PYTHON_TRACEBACK = "Traceback (most recent call last):"
OUT_OF_MEMORY = (
    "Spark ran out of memory (java.lang.OutOfMemoryError); give it more with "
    "./spark-submit.sh --driver-memory 8g (local mode) or --executor-memory on a cluster"
)


def _spark_failure_line(error: BaseException) -> str:
    """The meaningful line of a Spark/Py4J error: its error class and message, no JVM stack."""
    text = str(error)
    if "OutOfMemoryError" in text:
        return OUT_OF_MEMORY
    if PYTHON_TRACEBACK in text:  # a Python task raised: its exception line, not the worker's frames
        python_part = text.split(PYTHON_TRACEBACK, 1)[1].split("\n\tat ", 1)[0]
        raised = [line for line in python_part.strip().splitlines() if line and not line[0].isspace()]
        if raised:
            return f"a Python task failed: {raised[-1].strip()}"
    for pattern in (r"Caused by: [\w.$]+: ([^\n]+)", r"(\[[A-Z_.]+\][^\n]*)"):
        found = re.findall(pattern, text)
        if found:
            return found[-1].strip()
    # py4j's "An error occurred while calling o70.load." says nothing; the Java exception after it does
    thrown = re.search(r"An error occurred while calling [\w.$]+\.\s*\n: [\w.$]+: ([^\n]+)", text)
    if thrown:
        return thrown.group(1).strip()
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


#: Failures of where the data lives or of the cluster's set-up, not of segspark or the input's lines:
#: each is one line saying what to fix (exit 2), matched in the Java exception's text.
ENVIRONMENT_FAILURES = (
    (
        r"Class org\.apache\.hadoop\.fs\.s3a\.S3AFileSystem not found",
        lambda found: (
            "s3a:// paths need Hadoop's hadoop-aws and the AWS SDK on the driver's and the executors' class "
            "path: on a cluster its Hadoop's own; with this checkout's Spark `make jars`, then --conf "
            "spark.driver.extraClassPath='build/jars/s3a/*' and the same for spark.executor.extraClassPath (docs/running.md)"
        ),
    ),
    (
        r"UnknownStoreException: `?(s3a://[^/`'\s:]+)",
        lambda found: f"{found[1]}: no such bucket (or none these credentials can see); create it or fix the path",
    ),
    (
        r"AccessDeniedException: `?(s3a://[^`'\s:]+)",
        lambda found: (
            f"{found[1]}: S3 refused access (403 Forbidden): check the credentials "
            "(fs.s3a.access.key and fs.s3a.secret.key, or the credential provider) and the bucket's policy"
        ),
    ),
    (  # a second process opening a built-in catalog between session.check_catalog_free and Hive's start
        r"Another instance of Derby may have already booted the database (\S+?)/metastore_db",
        lambda found: session.DERBY_BUSY.format(folder=found[1]),
    ),
    (
        r"SafeModeException: ([^\n]*?)\.? Name node is in safe mode",
        lambda found: (
            f"HDFS is in safe mode and refuses writes ({found[1]}): wait until the NameNode leaves it "
            "(hdfs dfsadmin -safemode get), then run again"
        ),
    ),
)


def environment_failure(error: BaseException) -> str | None:
    """The one line for a failure of the storage or cluster set-up (ENVIRONMENT_FAILURES), or None."""
    text = str(error)
    for pattern, line in ENVIRONMENT_FAILURES:
        found = re.search(pattern, text)
        if found:
            return line(found)
    return None


EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line exits with EXIT_USAGE (64), as README says, not argparse's 2
    (which is segspark's code for bad input)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _what_is_visible() -> str:
    """What an interrupted run left visible: nothing, its rows in the tables only, or all of it."""
    return runs.VISIBLE[-1] if runs.VISIBLE else "nothing was published"


def _cause_line(cause: BaseException) -> str:
    """The one line of why a step failed: segspark's own message, or the storage's, or Spark's."""
    if isinstance(cause, (InputError, UsageError)):
        return str(cause)
    return environment_failure(cause) or _spark_failure_line(cause)


def run(main: Callable[[], int | None], job: str) -> None:
    """Run a job's main(), turning known failures into one line on stderr and an exit code.

    Set SEGSPARK_DEBUG=1 to see the full traceback of an unexpected failure. Ctrl-C ends the job at
    once (exit 130), without waiting for the work queued in its threads, saying what it left visible
    (nothing, or a run in the tables whose LATEST was not yet replaced, and how to finish). In
    YARN's cluster deploy mode the outcome's line is also the application's diagnostics
    (segspark.edge.yarn).
    """
    message = None
    try:
        code = main() or 0
    except KeyboardInterrupt:
        print(f"{job}: interrupted; {_what_is_visible()}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # threads still running queued work are not waited for
    except NotPublished as error:
        why = _cause_line(error.__cause__) if error.__cause__ else None
        message, code = f"{job}: {error}" + (f" (why: {why})" if why else ""), EXIT_FAILURE
    except InputError as error:
        message, code = f"{job}: input error: {error}", EXIT_INPUT
    except UsageError as error:
        message, code = f"{job}: {error}", EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - the edge of the program
        if os.environ.get("SEGSPARK_DEBUG"):
            traceback.print_exc()
        cause = environment_failure(error)
        if cause is not None:
            message, code = f"{job}: {cause}", EXIT_INPUT
        else:
            message, code = f"{job}: failed: {_spark_failure_line(error)}", EXIT_FAILURE
    if code:
        print(message or f"{job}: failed (exit {code})", file=sys.stderr)
        if code == EXIT_FAILURE and message:
            print(f"{job}: (SEGSPARK_DEBUG=1 shows the full traceback)", file=sys.stderr)
        yarn.report(False, f"{message or job + ': failed'} (exit {code})")
    else:
        yarn.report(True, f"{job}: published {runs.PUBLISHED[-1]}" if runs.PUBLISHED else f"{job}: done")
    _stop_remote_session()
    sys.exit(code)


def _stop_remote_session() -> None:
    """End a Spark Connect session before the interpreter does: a spark.ml model still referenced at
    exit asks the server to drop it from a finalizer, where gRPC can no longer start its thread, and
    the process hangs. With the session stopped pyspark skips that call (the server drops the
    session's models with it)."""
    if not os.environ.get("SPARK_REMOTE"):
        return
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The options both jobs read their input and settings under: --input-table, --format,
    --conf-file, --accept-quarantine, and where they publish besides the run folder: --publish-tables."""
    parser.add_argument(
        "--input-table",
        help="order lines from this catalog table instead of --input (orders, db.orders, catalog.db.orders)",
    )
    parser.add_argument(
        "--input-as-of",
        metavar="VERSION|TIME|TAG",
        help="read --input-table as it was: a Delta version or Iceberg snapshot id, a time "
        "(2026-11-30T23:59:59Z) or an Iceberg tag (default: its current version, named in summary.json)",
    )
    parser.add_argument(
        "--publish-tables",
        metavar="DATABASE",
        help="also publish the run into segspark_* tables of this database (the session's catalog, "
        "or a built-in one under --output)",
    )
    parser.add_argument(
        "--format",
        dest="source_format",
        help="source format: shopify, online_retail, or a format file (.toml); default from conf",
    )
    parser.add_argument("--conf-file", help="settings file (default conf/segspark.toml)")
    parser.add_argument(
        "--accept-quarantine",
        action="store_true",
        help="publish even when more lines are quarantined than [quality] max_quarantined_share allows",
    )
