"""One idea of a path (segspark/paths.py): qualified by Hadoop, read and written through one API."""

from __future__ import annotations

import os
import threading

import pytest

from segspark.edge import inputs as segio
from segspark.edge import paths, runs
from segspark.errors import UsageError
from segspark.orders.formats import built_in
from tests.builders import HEADER, csv_line, viewfs


def test_a_path_is_split_as_hadoop_reads_it_not_as_a_url():
    assert paths.split("file:/tmp/my orders/a#1 50%.csv") == ("file", "", "/tmp/my orders/a#1 50%.csv")
    assert paths.split("hdfs://nn:8020/in?x") == ("hdfs", "nn:8020", "/in?x")
    assert paths.split("/exports/orders.csv") == ("", "", "/exports/orders.csv")
    assert paths.local_path("file:///tmp/a#b") == "/tmp/a#b"
    assert (
        paths.decoded("file:///tmp/my%20orders/%231%20(%C3%A9)%2050%25.csv") == "file:///tmp/my orders/#1 (é) 50%.csv"
    )
    assert paths.glob_escaped("/a/b[1]{x}.csv") == "/a/b\\[1\\]\\{x\\}.csv"


def test_paths_are_compared_as_the_default_filesystem_qualifies_them(spark, tmp_path):
    """With Spark up, a bare path and its file: URI are the same place (Hadoop's makeQualified)."""
    assert paths.qualified(spark, str(tmp_path)) == f"file:{tmp_path}"
    with pytest.raises(UsageError, match="inside --input"):
        segio.check_output_location(f"file://{tmp_path}", paths.qualified(spark, str(tmp_path / "out")))
    assert paths.qualified(spark, "hdfs:///in") == "hdfs:///in"  # no namenode here: compared as written


def test_before_spark_a_bare_path_is_not_compared_with_a_local_one():
    """A bare path is on the default filesystem (HDFS on a cluster): before Spark starts it cannot be
    compared with a file: path, so only what is certain is refused then."""
    segio.check_output_location("/exports", "file:///exports/out")
    with pytest.raises(UsageError, match="inside --input"):
        segio.check_output_location("/exports", "/exports/out")


def test_an_output_inside_the_input_through_a_symbolic_link_is_refused(tmp_path):
    (tmp_path / "exports").mkdir()
    os.symlink(tmp_path / "exports", tmp_path / "link")
    with pytest.raises(UsageError, match="inside --input"):
        segio.check_output_location(str(tmp_path / "exports"), str(tmp_path / "link" / "segments"))


def test_an_output_inside_the_input_is_refused_on_a_hadoop_filesystem(spark, tmp_path):
    shop = viewfs(spark, tmp_path)
    with pytest.raises(UsageError, match="inside --input"):
        segio.check_output_location(shop, f"{shop}/segments")
    segio.check_output_location(f"{shop}/orders.csv", f"{shop}/segments")


def test_a_bare_path_on_a_default_filesystem_that_is_not_local_is_read_there(spark, tmp_path, monkeypatch):
    """fs.defaultFS = viewfs://: a bare /data is the mount (the folder), not the driver's /data."""
    mount = viewfs(spark, tmp_path)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    before = conf.get("fs.defaultFS")
    conf.set("fs.defaultFS", mount.rsplit("/data", 1)[0] + "/")
    try:
        assert paths.qualified(spark, "/data/orders.csv") == f"{mount}/orders.csv"
        (tmp_path / "orders.csv").write_text(HEADER + "\n" + csv_line(customer_id=1) + "\n")
        lines = segio.read_order_lines(spark, paths.qualified(spark, "/data/orders.csv"), built_in("shopify"))
        assert lines.count() == 1
        segio.check_input_exists("/data/orders.csv")  # not refused before Spark: it is not the local /data
    finally:
        conf.set("fs.defaultFS", before)


def test_files_with_spaces_hashes_percents_and_accents_are_read(spark, tmp_path):
    folder = tmp_path / "my orders #1 (é) 50%"
    folder.mkdir()
    for name in ("Sales by product variant.csv", "a+b [1].csv"):
        (folder / name).write_text(HEADER + "\n" + csv_line(customer_id=1) + "\n" + "1,2\n")
    lines = segio.read_order_lines(spark, str(folder), built_in("shopify"))
    rows = lines.select("source_file", "quarantine_rule").collect()
    assert len(rows) == 4
    # a quarantined line names its file as it is called, not URL-encoded
    assert {row["source_file"] for row in rows if row["quarantine_rule"]} == {
        f"file:{folder}/Sales by product variant.csv",
        f"file:{folder}/a+b [1].csv",
    }


def test_publishing_on_a_hadoop_filesystem_replaces_latest_in_one_step(spark, tmp_path, monkeypatch):
    output = viewfs(spark, tmp_path)
    monkeypatch.setattr(paths, "_local_file", lambda target, filesystem: None)  # as on a filesystem that is not local
    runs.publish(spark, runs.RunFolder.at(output, "run-1"))
    runs.publish(spark, runs.RunFolder.at(output, "run-2"))
    assert paths.read_text(spark, f"{output}/LATEST") == "run-2\n"
    assert [name for name in os.listdir(tmp_path) if ".tmp-" in name] == []
    # a publish stopped at its last step (a crash) leaves the previous pointer whole: never no LATEST

    def crash(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(paths, "_rename_over", crash)
    with pytest.raises(RuntimeError, match="killed"):
        runs.publish(spark, runs.RunFolder.at(output, "run-3"))
    assert (tmp_path / "LATEST").read_text() == "run-2\n"


def test_publishers_at_once_through_a_mount_of_a_local_folder_each_replace_latest_whole(spark, tmp_path):
    """Through Hadoop, a local file's checksum file moves in a second rename, and two publishers at
    once collided there (a run failed in CI): a mount of a local folder is published as a local file."""
    output = viewfs(spark, tmp_path)
    failures = []

    def publisher(name):
        for attempt in range(25):
            try:
                runs.publish(spark, runs.RunFolder.at(output, f"{name}-{attempt}"))
            except Exception as error:  # noqa: BLE001 - collected, the assertion names them
                failures.append(str(error)[:300])

    threads = [threading.Thread(target=publisher, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert paths.read_text(spark, f"{output}/LATEST") in {"a-24\n", "b-24\n"}
    assert sorted(os.listdir(tmp_path)) == ["LATEST"]  # no temporary files, no checksum files


class RecordingFilesystem:
    """Stands in for an object store's Hadoop FileSystem (none is reachable here): records each call."""

    def __init__(self):
        self.calls = []

    def create(self, path, overwrite):
        self.calls.append(("create", str(path), overwrite))
        recorder = self

        class Stream:
            def write(self, data):
                recorder.calls.append(("write", bytes(data)))

            def close(self):
                recorder.calls.append(("close",))

        return Stream()

    def __getattr__(self, name):  # rename, delete, mkdirs, resolvePath ...: none may be called
        raise AssertionError(f"an object store pointer must be written in place, not by {name}")


def test_an_object_store_pointer_is_written_in_place(spark, monkeypatch):
    """S3 and its kind have no atomic rename (a rename is a copy): LATEST is one upload in place,
    which replaces the old object whole when it completes."""
    filesystem = RecordingFilesystem()
    monkeypatch.setattr(paths, "hadoop", lambda spark, path: (path, filesystem))
    runs.publish(spark, runs.RunFolder.at("s3a://bucket/segments", "20260101T000000Z-aaaaaa"))
    assert filesystem.calls == [
        ("create", "s3a://bucket/segments/LATEST", True),
        ("write", b"20260101T000000Z-aaaaaa\n"),
        ("close",),
    ]


def test_small_files_are_replaced_whole(spark, tmp_path):
    runs.publish(spark, runs.RunFolder.at(str(tmp_path), "run-1"))
    runs.publish(spark, runs.RunFolder.at(str(tmp_path), "run-2"))
    assert (tmp_path / "LATEST").read_text() == "run-2\n"
    assert sorted(os.listdir(tmp_path)) == ["LATEST"]
