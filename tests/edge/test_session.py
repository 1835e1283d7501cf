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
