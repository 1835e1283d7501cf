"""spark-submit.sh reads spark-submit's options as spark-submit does (issue 30, item 13).

A value ending in `.py` (`--name nightly.py`, `--py-files helpers.py`) is an option's value, not the
job; a user's own --py-files reach the driver and the executors beside segspark's zip.
"""

from __future__ import annotations

import os

import pytest

from tests.builders import submit

pytestmark = pytest.mark.e2e

JOB = """
import helpers
import segspark.config
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
on_executors = spark.sparkContext.parallelize([1, 2], 2).map(lambda _: __import__("helpers").VALUE).collect()
print("name:", spark.sparkContext.appName, "driver:", helpers.VALUE, "executors:", on_executors)
"""


def test_options_whose_values_end_in_py_are_not_the_job_and_user_py_files_are_kept(tmp_path):
    (tmp_path / "helpers.py").write_text("VALUE = 'from helpers'\n")
    job = tmp_path / "job.py"
    job.write_text(JOB)
    done = submit(
        job=str(job),
        submit_options=("--master", "local[2]", "--name", "nightly.py", "--py-files", str(tmp_path / "helpers.py")),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "name: nightly.py driver: from helpers executors: ['from helpers', 'from helpers']" in output


VM_OPTIONS = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
jvm = spark.sparkContext._jvm
bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
    jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
)
for option in ("TieredStopAtLevel", "ReservedCodeCacheSize"):
    print(option, "=", bean.getVMOption(option).getValue())
"""


def test_c1_alone_keeps_tiered_compilations_code_cache(tmp_path):
    """C1 alone defaults to a 48 MB code cache, which Delta Lake's classes filled on the built-in
    sample: the JVM stopped compiling, then failed a task. The run that chooses C1 keeps 240 MB."""
    job = tmp_path / "vm_options.py"
    job.write_text(VM_OPTIONS)
    env = {name: value for name, value in os.environ.items() if name not in ("SPARK_SUBMIT_OPTS", "SEGSPARK_JIT")}
    done = submit(job=str(job), env=env)  # the built-in sample's case: no --input, a local master
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "the JVM compiles with C1 only" in output
    assert "TieredStopAtLevel = 1" in output
    assert f"ReservedCodeCacheSize = {240 * 2**20}" in output
