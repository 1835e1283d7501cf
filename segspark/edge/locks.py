"""A database's publishing lock (segspark.edge.tables.publishing): one publisher at a time.

Two kinds, one interface (`take`, `holder`, `release`), picked by the session:

- a file in the database's folder, made in one step (`paths.create_exclusive`: a local file by
  O_EXCL, HDFS by its NameNode), where segspark reaches the filesystem (classic mode);
- a view in the database, made by `CREATE VIEW` (no `OR REPLACE`, no `IF NOT EXISTS`), over Spark
  Connect, which has no exclusive file create: the catalog makes a name once (a Hive metastore
  by its database's unique key on a table's name), so of two creators one is told the view
  exists. The view holds the holder and the time in its one row; `DROP VIEW` releases it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from segspark.edge import paths
from segspark.engine import is_connect

#: The lock file in a database's folder while a run creates or appends to its tables (classic mode).
LOCK_FILE = "_segspark_publishing"
#: The lock view in the database over Spark Connect.
LOCK_VIEW = "segspark_publishing"


class Lock(Protocol):
    where: str  # what and where the lock is, for a message
    free_it: str  # what a user does with a lock a killed run left

    def take(self, holder: str, since: str) -> bool:
        """True if this call took the lock, False if another holds it."""

    def holder(self) -> str:
        """`holder since time` of whoever holds it (raises where it is gone meanwhile)."""

    def release(self) -> None: ...


@dataclass
class FileLock:
    spark: SparkSession
    path: str

    @property
    def where(self) -> str:
        return f"lock {self.path}"

    free_it = "delete the lock file"

    def take(self, holder: str, since: str) -> bool:
        return paths.create_exclusive(self.spark, self.path, f"{holder}\n{since}\n")

    def holder(self) -> str:
        return " since ".join(paths.read_text(self.spark, self.path).split("\n")[:2])

    def release(self) -> None:
        paths.delete(self.spark, self.path)


@dataclass
class ViewLock:
    spark: SparkSession
    name: str  # database.segspark_publishing

    @property
    def where(self) -> str:
        return f"lock view {self.name}"

    @property
    def free_it(self) -> str:
        return f"drop the lock view (DROP VIEW {self.name})"

    def take(self, holder: str, since: str) -> bool:
        try:
            self.spark.sql(
                f"CREATE VIEW {self.name} AS SELECT {_literal(holder)} AS holder, {_literal(since)} AS since"
            )
        except AnalysisException:
            if self.spark.catalog.tableExists(self.name):
                return False  # another's (Spark checks first; the metastore refuses a create that raced it)
            raise
        return True

    def holder(self) -> str:
        row = self.spark.table(self.name).first()
        return f"{row.holder} since {row.since}"

    def release(self) -> None:
        self.spark.sql(f"DROP VIEW IF EXISTS {self.name}")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def of(spark: SparkSession, database: str, location: str) -> Lock:
    """The publishing lock of `database` (whose folder is `location`) as this session can make one."""
    if is_connect(spark):
        return ViewLock(spark, f"{database}.{LOCK_VIEW}")
    return FileLock(spark, paths.join(location, LOCK_FILE))
