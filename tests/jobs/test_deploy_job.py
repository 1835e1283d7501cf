"""End to end: segspark deployed from its built artifacts alone, no checkout (issue 21).

`make dist` builds the wheel (code, default settings, source formats and Spark defaults as package
data) and the jobs' spark-submit entry files. The wheel is installed in a fresh virtual environment
outside the repository, and from another folder, with nothing of the checkout in the environment:
`segspark-segment` (the console script, local mode, and over Spark Connect; and from a thin
client's environment, pyspark-client without JVM or py4j), then, with segspark uninstalled again (as on a
cluster whose Python has only the dependencies), `spark-submit --py-files segspark-*.whl
segment_customers.py`. Both publish the customers and segments the repository's own run gives.
"""

from __future__ import annotations

import configparser
import glob
import json
import os
import subprocess

import pandas as pd
import pytest

from tests.builders import orders_file, published, submit
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..3", "--restarts", "2", "--stability", "2")
#: What the checkout's environment would lend an installed segspark: none of it may reach the runs.
CHECKOUT_VARIABLES = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SEGSPARK_HOME", "PYTHONPATH", "SPARK_CONF_DIR")


def run(command: list[str], cwd, env) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def customers(output) -> pd.DataFrame:
    return pd.read_parquet(published(output) / "customers").sort_values("customer_id", ignore_index=True)


def test_the_wheel_runs_as_a_console_script_through_spark_submit_and_over_spark_connect(tmp_path, connect_server):
    run(["make", "dist"], cwd=REPO, env=os.environ)
    (wheel,) = glob.glob(str(REPO / "dist" / "segspark-*-py3-none-any.whl"))
    entry = REPO / "dist" / "segment_customers.py"
    work = tmp_path / "elsewhere"
    work.mkdir()
    orders = orders_file(work, customers=40)

    env = {key: value for key, value in os.environ.items() if key not in CHECKOUT_VARIABLES}
    venv = tmp_path / "venv"
    run(["python3", "-m", "venv", str(venv)], cwd=work, env=env)  # the machine's Python, not the checkout's venv
    run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-c", str(REPO / "constraints.txt"), f"{wheel}[connect]"],
        cwd=work, env=env,
    )  # fmt: skip

    # 1. the console script, local mode, from a folder that is not the checkout
    console = run([str(venv / "bin" / "segspark-segment"), "--input", "orders.csv", "--output", "by-console", *ARGS],
                  cwd=work, env=env)  # fmt: skip
    assert "published: file:" + str(work / "by-console") in console.stdout

    def segment_over_connect(environment, output: str) -> None:
        """`environment`'s console script as a Spark Connect client of a server it shares no folder with
        but the data's."""
        remote = run(
            [str(environment / "bin" / "segspark-segment"), "--remote", connect_server, "--input", f"file://{orders}",
             "--output", str(work / output), *ARGS],
            cwd=work, env=env,
        )  # fmt: skip
        assert "published: " + str(work / output) in remote.stdout
        assert json.loads((published(work / output) / "summary.json").read_text())["run"]["engine"] == "connect"

    # 2. the same console script over Spark Connect
    segment_over_connect(venv, "by-connect")

    # 3. a thin client: pyspark-client (no JVM, no py4j) with the wheel and its other dependencies
    thin = tmp_path / "thin"
    run(["python3", "-m", "venv", str(thin)], cwd=work, env=env)
    others = [line for line in install_requires() if not line.startswith("pyspark")]
    run(
        [str(thin / "bin" / "pip"), "install", "--quiet", "-c", str(REPO / "constraints.txt"), "pyspark-client",
         *others],
        cwd=work, env=env,
    )  # fmt: skip
    run([str(thin / "bin" / "pip"), "install", "--quiet", "--no-deps", wheel], cwd=work, env=env)
    assert not (thin / "bin" / "spark-submit").exists()
    segment_over_connect(thin, "by-thin-client")

    # 4. spark-submit with the wheel as --py-files, segspark itself not installed: the cluster's form
    run([str(venv / "bin" / "pip"), "uninstall", "--quiet", "--yes", "segspark"], cwd=work, env=env)
    submitted = run(
        [str(venv / "bin" / "spark-submit"), "--master", "local[2]", "--py-files", wheel, str(entry),
         "--input", "orders.csv", "--output", "by-spark-submit", *ARGS],
        cwd=work, env={**env, "PYSPARK_PYTHON": str(venv / "bin" / "python")},
    )  # fmt: skip
    assert "published: file:" + str(work / "by-spark-submit") in submitted.stdout + submitted.stderr

    # the repository's own run of the same input with the same settings
    assert submit("--input", str(orders), "--output", str(tmp_path / "by-checkout"), *ARGS).returncode == 0
    expected = customers(tmp_path / "by-checkout")
    assert len(expected) == 40 and expected["segment"].nunique() >= 2
    pd.testing.assert_frame_equal(customers(work / "by-console"), expected, check_exact=True)
    pd.testing.assert_frame_equal(customers(work / "by-spark-submit"), expected, check_exact=True)
    pd.testing.assert_frame_equal(customers(work / "by-connect"), expected, check_exact=True)
    pd.testing.assert_frame_equal(customers(work / "by-thin-client"), expected, check_exact=True)


def install_requires() -> list[str]:
    """The wheel's dependencies as setup.cfg gives them (those for this Python)."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    lines = [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]
    return [line for line in lines if ";" not in line]
