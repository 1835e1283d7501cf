"""spark-submit.sh reads spark-submit's options as spark-submit does (issue 30, item 13).

A value ending in `.py` (`--name nightly.py`, `--py-files helpers.py`) is an option's value, not the
job; a user's own --py-files reach the driver and the executors beside segspark's zip.
"""

from __future__ import annotations

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
