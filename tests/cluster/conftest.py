"""The test cluster (scripts/test-cluster.sh) for the tests that run segspark where clusters keep their
data: HDFS, YARN (client and cluster deploy mode) and an S3 server through Hadoop's S3A.

One cluster for all of them: started here unless one is up already (then it is left running), and
stopped after the last of them if started here. The jobs run as a user runs them: `./spark-submit.sh` or plain
`spark-submit` after `eval "$(scripts/test-cluster.sh env)"` (the `cluster_env` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from segspark.edge import paths
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "test-cluster.sh"
STATE = Path(os.environ.get("SEGSPARK_TEST_CLUSTER_DIR", REPO / "build" / "test-cluster"))
S3_PYTHON = REPO / "build" / "s3-server" / "bin" / "python"
HDFS = "hdfs://127.0.0.1:19820"


@dataclass(frozen=True)
class TestCluster:
    env: dict[str, str]

    @property
    def web(self) -> str:
        return "http://127.0.0.1:18088/ws/v1/cluster"

    def apps(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.web}/apps", timeout=10) as response:
            return (json.load(response).get("apps") or {}).get("app", [])

    def app(self, app_id: str) -> dict:
        with urllib.request.urlopen(f"{self.web}/apps/{app_id}", timeout=10) as response:
            return json.load(response)["app"]

    def s3(self, code: str, *args: str) -> str:
        """Python with boto3, as a user of the bucket (the test cluster's S3 credentials)."""
        done = subprocess.run(
            [str(S3_PYTHON), "-c", s3_prelude() + code, *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def s3_prelude() -> str:
    """Python that makes `s3`, a boto3 client of the bucket's user (the test cluster's S3 credentials)."""
    core_site = (STATE / "conf" / "core-site.xml").read_text()
    return (
        "import boto3, re, sys\n"
        f"site = {core_site!r}\n"
        "value = lambda name: re.search('<name>' + re.escape(name) + '</name><value>([^<]*)', site).group(1)\n"
        "s3 = boto3.client('s3', endpoint_url=value('fs.s3a.endpoint'), region_name='us-east-1',"
        " aws_access_key_id=value('fs.s3a.access.key'), aws_secret_access_key=value('fs.s3a.secret.key'))\n"
    )


@pytest.fixture(scope="package")
def test_cluster() -> TestCluster:
    """The running test cluster, for this package's tests only: stopped (when started here) as soon
    as they are done, so that its daemons and any container a test killed around do not slow the rest."""
    already_up = subprocess.run([str(SCRIPT), "status"], capture_output=True).returncode == 0
    if not already_up:
        started = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=1200)
        assert started.returncode == 0, started.stdout + started.stderr
    exports = subprocess.run([str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    yield TestCluster(env)
    if not already_up:
        subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=120)


def copy_to_hadoop(spark, local: Path, target: str) -> None:
    """A local file to a Hadoop path (hdfs://...), through the test session's Hadoop client."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(target)
    filesystem = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    filesystem.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path(f"file://{local}"), path)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- one input and its local-mode run: what every cluster run must reproduce ---------------------

ARGS = ("--k-range", "1..5", "--restarts", "2")
CUSTOMERS = 200


@pytest.fixture(scope="session")
def orders(tmp_path_factory) -> Path:
    from tests.builders import orders_file

    return orders_file(tmp_path_factory.mktemp("orders"), customers=CUSTOMERS)


@pytest.fixture(scope="session")
def local_run(orders, tmp_path_factory) -> Path:
    """The same input segmented in local mode on the local disk (no cluster settings)."""
    from tests.builders import submit

    output = tmp_path_factory.mktemp("local") / "out"
    done = submit("--input", str(orders), "--output", str(output), *ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
    return output


@pytest.fixture(scope="session")
def root() -> str:
    """This session's folder on the cluster's filesystems (a space in its name, as users' have)."""
    return f"segspark-tests/{uuid.uuid4().hex[:8]} session"


def customers_frame(spark, folder: str) -> pd.DataFrame:
    """A run's customers/ on any filesystem the test session reaches, by customer."""
    return spark.read.parquet(paths.glob_escaped(folder)).toPandas().sort_values("customer_id", ignore_index=True)


def reference_customers(local_run: Path) -> pd.DataFrame:
    from tests.builders import published

    return pd.read_parquet(published(local_run) / "customers").sort_values("customer_id", ignore_index=True)


def assert_same_customers(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every customer's features, segment and distance to its centre: exactly those of local mode."""
    assert len(found) == CUSTOMERS
    pd.testing.assert_frame_equal(found, expected, check_exact=True)


def run_lines(command: list[str], env: dict, cwd=REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return done


def java_processes_with(*words: str) -> list[int]:
    """Live JVMs whose command line holds every one of `words` (not the shells that started them)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(arguments).decode(errors="replace")
        if arguments[0].endswith(b"/java") and all(word in text for word in words):
            found.append(int(cmdline.parent.name))
    return found
