"""One idea of a path for the whole edge: what Hadoop says it is.

A path a user gives (`/exports`, `orders.csv`, `hdfs://nn/x`, `s3a://b/x`) means what the session's
Hadoop makes of it: a path without a scheme is on the session's default filesystem, which on most
clusters is HDFS or an object store, not the driver's disk. So once Spark is up every path is
qualified (`qualified`) and then read and written through one set of functions here; Python's own
file calls are a fast path only for what Hadoop says is `file:` (or resolves to a local folder,
such as a viewfs mount of one). Before Spark starts only what a path says by itself can be checked.

Paths are plain strings, never URL-encoded: `file:/tmp/my orders/a#1.csv` names that file (Hadoop's
`Path(String)` quotes what a URI must). Spark's `inputFiles()` and `_metadata.file_path` give
URL-encoded ones; `decoded` turns them back.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote

from pyspark.sql import SparkSession

from segspark.engine import is_connect

#: Object stores: a file is written whole or not at all, and a rename is a copy.
OBJECT_STORES = ("s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "cos", "cosn", "obs")

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?://(?P<authority>[^/]*))?(?P<path>.*)$")


def split(path: str) -> tuple[str, str, str]:
    """(scheme, authority, path) of a path as Hadoop reads it: '#', '?' and '%' are part of the path
    (unlike urllib, which would cut at them). A path without a scheme gives ('', '', path)."""
    found = _URI.match(path)
    if not found or len(found["scheme"]) == 1:  # 'C:' is no scheme
        return "", "", path
    return found["scheme"].lower(), found["authority"] or "", found["path"]


def scheme(path: str) -> str:
    return split(path)[0]


def is_local(path: str) -> bool:
    """True for a `file:` path. A scheme-less path is local only before Spark qualifies it (the
    tests, the pre-Spark checks); the jobs qualify every path first."""
    return scheme(path) in ("", "file")


def local_path(path: str) -> str:
    """The local filesystem path of a `file:` (or scheme-less) path."""
    return split(path)[2] if scheme(path) == "file" else path


def local_uri(path: str) -> str:
    """A local path as an explicit `file:` path (for the project's own folders: data/, out/), so it
    stays on the driver's disk whatever the default filesystem is."""
    return path if scheme(path) else "file://" + os.path.abspath(path)


def decoded(spark_path: str) -> str:
    """A path as Spark's `inputFiles()` / `_metadata.file_path` give it (URL-encoded: a space is %20)
    as a plain path."""
    return unquote(spark_path)


def glob_escaped(path: str) -> str:
    """A literal path for Spark's readers, which treat `{}[]*?\\` in a path as a glob."""
    return re.sub(r"([{}\[\]*?\\])", r"\\\1", path)


@dataclass(frozen=True)
class Location:
    """A path as a filesystem sees it: scheme, authority ('' for the default) and a normalised
    absolute path (a local one with its symbolic links resolved)."""

    scheme: str
    authority: str
    path: str

    @classmethod
    def of(cls, path: str) -> "Location":
        scheme_, authority, rest = split(path)
        if scheme_ in ("", "file"):
            return cls("file", "", posixpath.normpath(os.path.realpath(rest or "/")))
        return cls(scheme_, authority, posixpath.normpath("/" + rest.lstrip("/")))

    def contains(self, other: "Location") -> bool:
        """True when `other` is this location or inside it (an empty authority may be any)."""
        same_filesystem = self.scheme == other.scheme and (
            self.authority == other.authority or not self.authority or not other.authority
        )
        return same_filesystem and (other.path == self.path or other.path.startswith(self.path.rstrip("/") + "/"))


def join(base: str, *parts: str) -> str:
    return posixpath.join(base.rstrip("/") or "/", *parts)


# --- Hadoop: every path once Spark is up ------------------------------------------------------


def _connect():
    """The same operations over Spark Connect (no py4j): segspark.edge.connect_files."""
    from segspark.edge import connect_files

    return connect_files


def _hadoop_conf(spark: SparkSession):
    return spark.sparkContext._jsc.hadoopConfiguration()


def hadoop(spark: SparkSession, path: str):
    """(Hadoop Path, its FileSystem) for a path of any scheme the session's Hadoop reaches."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(_hadoop_conf(spark))


def qualified(spark: SparkSession, path: str) -> str:
    """`path` as Hadoop qualifies it: a path without a scheme gets the default filesystem's scheme
    and authority (and a relative one its working folder). Where the filesystem cannot be reached
    from here (e.g. hdfs:/// without a namenode), the path as given. Over Spark Connect, the path
    as given: the server qualifies it where it reads or writes it."""
    if is_connect(spark):
        return path
    try:
        hadoop_path, filesystem = hadoop(spark, path)
        return str(filesystem.makeQualified(hadoop_path).toString())
    except Exception:  # noqa: BLE001 - compared and used as written; reading it will say what is wrong
        return path


def exists(spark: SparkSession, path: str) -> bool:
    if is_connect(spark):
        return _connect().exists(spark, path)
    if is_local(path):
        return os.path.exists(local_path(path))
    hadoop_path, filesystem = hadoop(spark, path)
    return bool(filesystem.exists(hadoop_path))


def list_names(spark: SparkSession, folder: str) -> list[str]:
    """The names of the entries of a folder (none if it does not exist), sorted."""
    if is_connect(spark):
        return _connect().list_names(spark, folder)
    if is_local(folder):
        target = local_path(folder)
        return sorted(os.listdir(target)) if os.path.isdir(target) else []
    hadoop_path, filesystem = hadoop(spark, folder)
    if not filesystem.exists(hadoop_path):
        return []
    return sorted(str(status.getPath().getName()) for status in filesystem.listStatus(hadoop_path))


def read_text(spark: SparkSession, path: str) -> str:
    """A small text file (a pointer, a metadata file) from a local or Hadoop path (no Spark job).
    A missing file raises FileNotFoundError on every filesystem."""
    if is_connect(spark):
        return _connect().read_text(spark, path)
    if is_local(path):
        with open(local_path(path), encoding="utf-8") as handle:
            return handle.read()
    hadoop_path, filesystem = hadoop(spark, path)
    from py4j.protocol import Py4JJavaError

    try:
        stream = filesystem.open(hadoop_path)
    except Py4JJavaError as error:
        if "FileNotFoundException" in error.java_exception.getClass().getName():
            raise FileNotFoundError(path) from None
        raise
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode("utf-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file so that it appears whole or not at all, replacing any file there.

    Local (a `file:` path, or a Hadoop path that resolves to one, e.g. a viewfs mount of a local
    folder): a temporary name, then os.replace (atomic). Object stores (S3, GCS, Azure, ...: no
    atomic rename, a rename is a copy) write the file in place, since a new object replaces the
    old one whole when its upload completes. Other Hadoop filesystems: a temporary name, then
    FileContext's rename with OVERWRITE, which HDFS does in one step (its NameNode also orders two
    writers at once: the last one wins). Where a filesystem has no such step, Hadoop deletes the
    old file and then renames, so for a moment there is none: readers of LATEST then take the
    newest complete run (`segspark.edge.runs.current_run`).
    """
    if is_connect(spark):
        _connect().write_text(spark, path, text)
        return
    data = bytearray(text.encode("utf-8"))
    if not is_local(path):
        hadoop_target, filesystem = hadoop(spark, path)
        if scheme(path) in OBJECT_STORES:
            _write_bytes(filesystem, hadoop_target, data)
            return
        path = _local_file(hadoop_target, filesystem) or path
    if is_local(path):
        target = local_path(path)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        temporary = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)
        return
    jvm = spark.sparkContext._jvm
    temporary = jvm.org.apache.hadoop.fs.Path(f"{path}.tmp-{uuid.uuid4().hex[:8]}")
    _write_bytes(filesystem, temporary, data)
    overwrite = spark.sparkContext._gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
    overwrite[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
    file_context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(hadoop_target.toUri(), _hadoop_conf(spark))
    _rename_over(file_context, temporary, hadoop_target, overwrite)


def _local_file(target, filesystem) -> str | None:
    """The local file a Hadoop path names (a viewfs mount of a local folder), or None.

    Written through Hadoop, a local file gets a checksum file beside it that a rename moves in a
    second step; two writers at once can then leave one's data with the other's checksum, which
    Hadoop refuses to read. So a pointer that is really local is written as a local file.
    """
    parent = target.getParent()
    filesystem.mkdirs(parent)
    resolved = filesystem.resolvePath(parent).toUri()
    return posixpath.join(str(resolved.getPath()), target.getName()) if resolved.getScheme() == "file" else None


def _write_bytes(filesystem, path, data: bytearray) -> None:
    stream = filesystem.create(path, True)
    try:
        stream.write(data)
    finally:
        stream.close()


def _rename_over(file_context, temporary, target, overwrite) -> None:
    """The one step that replaces `target` (a seam the tests use to stop a publish just before it)."""
    file_context.rename(temporary, target, overwrite)


def move(spark: SparkSession, source: str, target: str) -> None:
    """Rename a written folder into place (one step on HDFS and local disks)."""
    if is_connect(spark):
        _connect().refuse(f"moving {source} to {target}")
    if is_local(source) and is_local(target):
        os.replace(local_path(source), local_path(target))
        return
    source_path, filesystem = hadoop(spark, source)
    if not filesystem.rename(source_path, hadoop(spark, target)[0]):
        raise OSError(f"could not move {source} to {target}")


def write_folder(spark: SparkSession, path: str, write: Callable[[str], None]) -> None:
    """A folder of Spark output (`write(folder)`) made visible whole at `path`: written beside it and
    renamed into place once the write job committed. Over Spark Connect, which has no rename, it is
    written at `path` itself, where the committer's `_SUCCESS`, written last, says it is whole:
    readers of such a folder wait for that (`SUCCESS`)."""
    if is_connect(spark):
        write(path)
        return
    temporary = f"{path.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"
    write(temporary)
    move(spark, temporary, path)


#: The marker Spark's file committers write last into a folder a write job made.
SUCCESS = "_SUCCESS"


def create_exclusive(spark: SparkSession, path: str, text: str) -> bool:
    """Create a small file only where none is: True if this call made it, False if one was there.

    One step where the filesystem has one: a local file by O_CREAT | O_EXCL, HDFS by its NameNode
    (create without overwrite). An object store checks and then writes, so two creators at the
    same instant could both succeed there (docs/tables.md says so).
    """
    if is_connect(spark):
        _connect().refuse(f"a lock file ({path})")
    if not is_local(path):
        hadoop_target, filesystem = hadoop(spark, path)
        path = (None if scheme(path) in OBJECT_STORES else _local_file(hadoop_target, filesystem)) or path
    if is_local(path):
        target = local_path(path)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        try:
            descriptor = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return True
    try:
        stream = filesystem.create(hadoop_target, False)
    except Exception as error:  # noqa: BLE001 - py4j wraps the FileAlreadyExistsException
        if "FileAlreadyExistsException" in str(error) or filesystem.exists(hadoop_target):
            return False
        raise
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return True


def delete(spark: SparkSession, path: str) -> None:
    """Delete a file (nothing where there is none)."""
    if is_connect(spark):
        _connect().refuse(f"deleting {path}")
    if is_local(path):
        if os.path.exists(local_path(path)):
            os.remove(local_path(path))
        return
    hadoop_path, filesystem = hadoop(spark, path)
    filesystem.delete(hadoop_path, False)


def delete_tree(spark: SparkSession, path: str) -> None:
    """Delete a folder and what it holds (nothing where there is none)."""
    if is_connect(spark):
        _connect().refuse(f"deleting {path}")
    if is_local(path):
        shutil.rmtree(local_path(path), ignore_errors=True)
        return
    hadoop_path, filesystem = hadoop(spark, path)
    filesystem.delete(hadoop_path, True)
