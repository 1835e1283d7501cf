"""What every job does at its edge: one-line errors instead of tracebacks, and a clean exit code."""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from typing import Callable

from segspark.errors import InputError, UsageError

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


EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line exits with EXIT_USAGE (64), as README says, not argparse's 2
    (which is segspark's code for bad input)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def run(main: Callable[[], int | None], job: str) -> None:
    """Run a job's main(), turning known failures into one line on stderr and an exit code.

    Set SEGSPARK_DEBUG=1 to see the full traceback of an unexpected failure. Ctrl-C ends the job at
    once (exit 130), without waiting for the work queued in its threads; nothing is published.
    """
    try:
        code = main() or 0
    except KeyboardInterrupt:
        print(f"{job}: interrupted; nothing was published", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # threads still running queued work are not waited for
    except InputError as error:
        print(f"{job}: input error: {error}", file=sys.stderr)
        code = EXIT_INPUT
    except UsageError as error:
        print(f"{job}: {error}", file=sys.stderr)
        code = EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - the edge of the program
        if os.environ.get("SEGSPARK_DEBUG"):
            traceback.print_exc()
        print(f"{job}: failed: {_spark_failure_line(error)}", file=sys.stderr)
        print(f"{job}: (SEGSPARK_DEBUG=1 shows the full traceback)", file=sys.stderr)
        code = EXIT_FAILURE
    sys.exit(code)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """The options both jobs read their input and settings under: --input-table, --format,
    --conf-file, --accept-quarantine, and where they publish besides the run folder: --publish-tables."""
    parser.add_argument(
        "--input-table",
        help="order lines from this catalog table instead of --input (orders, db.orders, catalog.db.orders)",
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
