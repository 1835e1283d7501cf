"""The small files of a run over Spark Connect, where there is no py4j to reach Hadoop's FileSystem.

Every path is the server's (a `file:` path is the server's disk, not the client's), so nothing here
uses the client's own file calls. What Spark Connect offers, and what each operation is made of:

- exists: resolving a reader over the path (no Spark job): Spark says PATH_NOT_FOUND where none is;
- list_names: the files Spark's file index lists under a folder (recursively), by their first
  component below it. Spark's index skips names starting with `_` or `.`, and a folder holding no
  file is not seen: enough for `runs/` (run ids, each with files);
- read_text: `spark.read.text(path, wholetext=True)`, one small Spark job;
- write_text: the client's `copyFromLocalToFs` (the file uploaded, then copied to the path by the
  server). An object store shows the new object whole; HDFS and a local disk can show a partial
  file for the moment of the copy (readers of LATEST then take the newest complete run);
  a server on a local disk must allow it (`spark.connect.copyFromLocalToFs.allowDestLocal=true`).
- move, delete, create_exclusive: Spark Connect has no rename, delete or exclusive create, and a
  run does not need them: its folder is written in place (`summary.json` last marks it complete),
  the built-in sample too (its `_SUCCESS` last: `paths.write_folder`), the tables' publishing lock
  is a view (segspark.edge.locks), and MLflow is given no model to copy (segspark.edge.tracking).
  A call here is refused in one line (`UNSUPPORTED`).
"""

from __future__ import annotations

import os
import tempfile

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from segspark.errors import UsageError

#: What a run over Spark Connect cannot do yet, by the option that asks for it.
UNSUPPORTED = "Spark Connect has no rename, delete or exclusive create, which {what} needs"


def _missing(error: AnalysisException) -> bool:
    return "PATH_NOT_FOUND" in str(error) or "does not exist" in str(error)


def _literal(path: str) -> str:
    from segspark.edge.paths import glob_escaped

    return glob_escaped(path)


def exists(spark: SparkSession, path: str) -> bool:
    try:
        spark.read.format("binaryFile").load(_literal(path)).schema  # noqa: B018 - resolving checks the path
    except AnalysisException as error:
        if _missing(error):
            return False
        raise
    return True


def list_names(spark: SparkSession, folder: str) -> list[str]:
    from segspark.edge.paths import decoded, split

    try:
        files = (
            spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(_literal(folder)).inputFiles()
        )
    except AnalysisException as error:
        if _missing(error):
            return []
        raise
    base = split(folder)[2].rstrip("/") + "/"
    names = set()
    for file in files:
        below = split(decoded(file))[2]
        if below.startswith(base):
            names.add(below[len(base) :].split("/", 1)[0])
    return sorted(names)


def read_text(spark: SparkSession, path: str) -> str:
    try:
        rows = spark.read.text(_literal(path), wholetext=True).collect()
    except AnalysisException as error:
        if _missing(error):
            raise FileNotFoundError(path) from None
        raise
    return rows[0][0] if rows else ""


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """`copyFromLocalToFs` writes to the server's default filesystem only (it refuses a path with a
    scheme): the path's own part goes there, and the file is read back through `path` to prove it
    landed where `path` says (else the output folder is not on the server's default filesystem)."""
    from segspark.edge.paths import split

    handle, local = tempfile.mkstemp(prefix="segspark-", suffix=".txt")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as written:
            written.write(text)
        spark.copyFromLocalToFs(local, split(path)[2])
    finally:
        os.remove(local)
    try:
        landed = read_text(spark, path) == text
    except FileNotFoundError:
        landed = False
    if not landed:
        raise UsageError(
            f"{path}: over Spark Connect segspark writes its small files through copyFromLocalToFs, which "
            "writes to the server's default filesystem only; give an output folder there"
        )


def refuse(what: str) -> None:
    raise UsageError(UNSUPPORTED.format(what=what))
