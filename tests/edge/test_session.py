"""The session's settings (segspark/edge/session.py): what the guarantees rest on, in every form."""

from __future__ import annotations

import pytest

from segspark.edge import session
from segspark.errors import UsageError


def test_the_guarantees_win_over_a_clusters_conf_and_its_other_settings_are_kept():
    given = {"spark.master": "yarn", "spark.speculation": "true", "spark.sql.shuffle.partitions": "400"}
    apply, lines = session.settings_for(given)
    assert apply["spark.speculation"] == "false" and apply["spark.sql.ansi.enabled"] == "false"
    assert apply["spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version"] == "1"
    assert lines == [
        "segspark: spark.speculation=true overridden with false: "
        "speculative duplicate tasks would race to write published files"
    ]
    assert "spark.sql.shuffle.partitions" not in apply  # the user's 400 stays
    assert "spark.driver.bindAddress" not in apply and "spark.master" not in apply  # a cluster: no loopback
    # the tuning of conf/spark-defaults.conf, in every form (console scripts, plain spark-submit)
    assert apply["spark.sql.codegen.hugeMethodLimit"] == "8000" and apply["spark.memory.fraction"] == "0.4"
    assert "spark.driver.memory" not in apply  # a running JVM's heap cannot change


def test_a_local_run_binds_to_loopback_and_keeps_the_ui_off_unless_asked():
    apply, lines = session.settings_for({})
    assert apply["spark.master"] == "local[*]" and lines == []
    assert apply["spark.driver.bindAddress"] == apply["spark.driver.host"] == "127.0.0.1"
    assert apply["spark.ui.enabled"] == "false"
    asked, _ = session.settings_for({"spark.ui.enabled": "true"})
    assert "spark.ui.enabled" not in asked


def test_a_run_with_tables_uses_the_sessions_own_catalog_where_one_is_configured(tmp_path, monkeypatch, spark):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    given = {"spark.sql.catalogImplementation": "hive", "spark.hadoop.hive.metastore.uris": "thrift://metastore:9083"}
    assert session.catalog_settings("/out", given) == {}
    assert not session.has_own_catalog({})
    (tmp_path / "hive-site.xml").write_text("<configuration/>")  # the cluster's metastore, by its file
    assert session.catalog_settings("/out", {}) == {"spark.sql.catalogImplementation": "hive"}


def test_a_users_own_metastore_or_warehouse_setting_wins_and_is_said(tmp_path, monkeypatch, capsys, spark):
    """A user's Derby URL or warehouse used to be replaced silently by the output folder's catalog."""
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    url = f"jdbc:derby:;databaseName={tmp_path}/shared_metastore;create=true"
    for given in ({"spark.hadoop.javax.jdo.option.ConnectionURL": url}, {"spark.sql.warehouse.dir": "file:/lake"}):
        assert session.catalog_settings("/out", given) == {"spark.sql.catalogImplementation": "hive"}
        key, value = next(iter(given.items()))
        assert (
            capsys.readouterr().out == f"segspark: tables in the catalog the session's settings give ({key}={value})\n"
        )
    assert not (tmp_path / "out").exists()


def test_without_one_the_built_in_catalog_lives_under_a_local_output_and_elsewhere_is_refused(tmp_path, spark):
    output = tmp_path / "o ut"
    assert session.catalog_folder(str(output), {}) == str(output / "catalog")
    assert session.catalog_folder(f"file://{output}", {}) == str(output / "catalog")
    settings = session.local_catalog(str(output / "catalog"))
    assert settings["spark.sql.catalogImplementation"] == "hive"
    assert settings["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith(f"jdbc:derby:;databaseName={output}/")
    for output, given in (("hdfs://namenode/out", {}), ("/out", {"spark.hadoop.fs.defaultFS": "hdfs://namenode"})):
        with pytest.raises(UsageError, match=r"is not on a local disk and the session has no catalog configured"):
            session.catalog_folder(output, given)


RUNNING_CONTEXT = """
import json
from pyspark import SparkConf, SparkContext
from segspark.edge import session
SparkContext(conf=SparkConf().setMaster("local[1]").setAppName("a notebook").set("spark.ui.enabled", "false")
             .set("spark.speculation", "true").set("spark.sql.ansi.enabled", "true")
             .set("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "2"))
spark = session.start("segspark-test")
writes = spark._jsparkSession.sessionState().newHadoopConf().get("mapreduce.fileoutputcommitter.algorithm.version")
print("RESULT " + json.dumps({"guarantees": session.guarantees(spark), "dataframe_writes": writes}))
"""


def test_on_a_running_context_the_run_says_what_it_could_change_and_what_holds(tmp_path):
    """A notebook's or a scheduler's SparkContext is already running: its speculation and its Hadoop
    configuration cannot change, and the run used to print "overridden" for both all the same."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", RUNNING_CONTEXT], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "SPARK_LOCAL_IP": "127.0.0.1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("segspark: ")]
    assert lines[0].startswith("segspark: spark.sql.ansi.enabled=true overridden with false for this run")
    assert lines[1].startswith(
        "segspark: spark.speculation=true on the running SparkContext cannot be changed by a job and stays on"
    )
    assert lines[2].startswith(
        "segspark: spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version=2 on the running SparkContext: "
        "this run's DataFrame writes use 1"
    )
    assert not any("overridden with" in line for line in lines[1:])
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["dataframe_writes"] == "1"  # what the session's writes read
    assert result["guarantees"] == {
        "spark.speculation": "true",
        "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.legacy.timeParserPolicy": "CORRECTED",
        "mapreduce.fileoutputcommitter.algorithm.version": "1",
        "spark.ui.enabled": "false",
        "spark.driver.bindAddress": None,
    }
