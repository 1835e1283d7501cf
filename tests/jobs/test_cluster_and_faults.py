"""Reruns, faults and a real standalone cluster give the segments of a plain local run.

One input and one plain local[2] run as the reference (its sockets checked while it runs); then a
rerun under local[2,2] with a task that fails on its first attempt (byte-identical customer data),
the same failure without retries (one line, nothing published), a run killed midway (the reference
stays published and intact), and the job on a Spark master with two workers (spark://127.0.0.1:P,
segspark shipped by --py-files) with one executor SIGKILLed mid-sweep (the same segments).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from tests.builders import orders_file, published, submit
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

ARGS = ("--k-range", "1..5", "--restarts", "2")
CUSTOMERS = 200


def segments_of(output: Path) -> tuple[pd.DataFrame, dict]:
    """The published customers table (by customer) and the summary's model and counts."""
    run = published(output)
    customers = pd.read_parquet(run / "customers").sort_values("customer_id", ignore_index=True)
    summary = json.loads((run / "summary.json").read_text())
    return customers, {"model": summary["model"], "counts": summary["counts"], "elbow": summary["elbow"]}


def assert_same_segments(output: Path, reference: Path) -> None:
    """Every customer's features, segment and distance, the centres and sizes: exactly equal.

    The elbow's costs are sums over all customers; another partitioning adds them in another order,
    so they agree to 1e-12 rather than to the bit.
    """
    customers, summary = segments_of(output)
    expected_customers, expected_summary = segments_of(reference)
    assert len(customers) == CUSTOMERS
    pd.testing.assert_frame_equal(customers, expected_customers, check_exact=True)
    assert summary["counts"] == expected_summary["counts"]
    assert summary["model"]["centres"] == expected_summary["model"]["centres"]
    assert summary["model"]["sizes"] == expected_summary["model"]["sizes"]
    costs, expected_costs = ([p["cost"] for p in s["elbow"]] for s in (summary, expected_summary))
    assert costs == pytest.approx(expected_costs, rel=1e-12)


def data_pages(folder: Path) -> list[bytes]:
    """Each Parquet part's bytes before its footer, in part order (names carry a random write id).

    The footer is left out: parquet-mr lists a column chunk's encodings from a hash set, so their
    order in the footer changes from one JVM to the next (seen here); the data does not.
    """
    parts = []
    for path in sorted(folder.glob("part-*.parquet")):
        content = path.read_bytes()
        footer_length = int.from_bytes(content[-8:-4], "little")
        parts.append(content[: len(content) - 8 - footer_length])
    return parts


def start_job(*submit_options: str, output: Path, orders: Path, env=None) -> subprocess.Popen:
    """The job in its own process group, its output (driver stderr included) as lines."""
    return subprocess.Popen(
        [
            "./spark-submit.sh",
            *submit_options,
            "jobs/segment_customers.py",
            "--input",
            str(orders),
            "--output",
            str(output),
            *ARGS,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def pids_in_group(group: int) -> list[int]:
    """Live processes of a process group (a zombie waiting for its parent to reap it is not live)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # after the command: state, ppid, pgrp
            pids.append(int(stat.parent.name))
    return pids


def listening_addresses(pids: list[int]) -> list[ipaddress._BaseAddress]:
    """The local addresses of the TCP sockets these processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        inodes.update(link[len("socket:[") : -1] for link in links if link.startswith("socket:["))
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            columns = row.split()
            local, state, inode = columns[1], columns[3], columns[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(local.split(":")[0])
                # /proc prints each 32-bit word of the address in host (little-endian) order
                ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                addresses.append(ipaddress.ip_address(ordered))
    return addresses


def is_loopback(address: ipaddress._BaseAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@pytest.fixture(scope="module")
def orders(tmp_path_factory) -> Path:
    return orders_file(tmp_path_factory.mktemp("orders"), customers=CUSTOMERS)


@pytest.fixture(scope="module")
def local_run(orders, tmp_path_factory):
    """The reference: plain local[2]; while it runs, every socket of its processes is looked at."""
    output = tmp_path_factory.mktemp("local") / "out"
    job = start_job("--master", "local[2]", output=output, orders=orders)
    seen, listening = [], []
    for line in job.stdout:
        seen.append(line)
        if "elbow over k" in line and not listening:  # JVM, driver, block manager and Python workers up
            listening = listening_addresses(pids_in_group(job.pid))
    assert job.wait(timeout=600) == 0, "".join(seen)[-3000:]
    return output, listening


def test_a_local_run_listens_on_loopback_only(local_run):
    _, listening = local_run
    assert listening, "found no listening socket: the check itself is broken"
    assert [str(a) for a in listening if not is_loopback(a)] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, whatever http_proxy says


@dataclass
class Cluster:
    """A standalone Spark master and its workers on 127.0.0.1, each in its own process group."""

    url: str
    web_ui: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def alive_workers(self) -> int:
        try:
            with DIRECT.open(f"{self.web_ui}/json/", timeout=5) as response:
                return int(json.load(response)["aliveworkers"])
        except OSError:
            return 0

    def executors(self) -> list[int]:
        """PIDs of the executor JVMs the workers launched (CoarseGrainedExecutorBackend)."""
        found = []
        for worker in self.processes[1:]:
            for pid in pids_in_group(worker.pid):
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"CoarseGrainedExecutorBackend" in command:
                    found.append(pid)
        return found


def spark_class(cluster: Cluster, log: Path, *arguments: str) -> None:
    spark_home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_CONF_DIR", None)
    with log.open("w") as sink:
        cluster.processes.append(
            subprocess.Popen(
                [str(spark_home / "bin" / "spark-class"), *arguments],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (a worker takes its executors down), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while pids_in_group(process.pid) and time.monotonic() < deadline:
            process.poll()
            time.sleep(0.2)
        if not pids_in_group(process.pid):
            break
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    port, ui_port = free_port(), free_port()
    cluster = Cluster(url=f"spark://127.0.0.1:{port}", web_ui=f"http://127.0.0.1:{ui_port}")
    try:
        spark_class(
            cluster,
            folder / "master.log",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui_port),
        )
        for number in range(2):
            spark_class(
                cluster,
                folder / f"worker-{number}.log",
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                str(free_port()),
                "--work-dir",
                str(folder / f"work-{number}"),
                cluster.url,
            )
        deadline = time.monotonic() + 120
        while cluster.alive_workers() < 2:
            assert time.monotonic() < deadline, (folder / "master.log").read_text()[-3000:]
            time.sleep(1)
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            stop(process)
    left = [pid for process in cluster.processes for pid in pids_in_group(process.pid)]
    assert left == [], f"processes still running after the cluster stopped: {left}"


def flaky_run(orders: Path, output: Path, marker: Path, master: str) -> subprocess.CompletedProcess:
    """The job with one task failing on its first attempt (tests/jobs/fail_first_attempt.py)."""
    env = {**os.environ, "SEGSPARK_FAULT_MARKER": str(marker)}
    return submit(
        "--input",
        str(orders),
        "--output",
        str(output),
        *ARGS,
        job="tests/jobs/fail_first_attempt.py",
        submit_options=("--master", master),
        env=env,
    )


def test_a_rerun_with_a_task_failing_once_under_local_2_2_gives_byte_identical_customer_data(
    orders, local_run, tmp_path
):
    output, marker = tmp_path / "out", tmp_path / "failed-once"
    result = flaky_run(orders, output, marker, "local[2,2]")
    assert result.returncode == 0, result.stdout[-3000:]
    spark_log = result.stderr  # Spark's own log; the job's lines are on stdout
    assert marker.exists() and "Lost task 0.0 in stage" in spark_log and "RuntimeError: injected failure" in spark_log
    reference = published(local_run[0]) / "customers"
    assert data_pages(reference) and data_pages(published(output) / "customers") == data_pages(reference)
    assert_same_segments(output, local_run[0])
    rerun, first = (json.loads((published(o) / "summary.json").read_text()) for o in (output, local_run[0]))
    assert [p["cost"] for p in rerun["elbow"]] == [p["cost"] for p in first["elbow"]]  # same partitioning: to the bit


def test_without_retries_the_same_failure_stops_the_run_with_one_line_and_publishes_nothing(orders, tmp_path):
    output, marker = tmp_path / "out", tmp_path / "failed-once"
    result = flaky_run(orders, output, marker, "local[2]")
    assert result.returncode == 1, result.stdout[-3000:]
    assert marker.exists()
    line = "segment_customers: failed: a Python task failed: RuntimeError: injected failure: stage "
    assert line in result.stdout, result.stdout[-3000:]
    assert not (output / "LATEST").exists()


def test_a_run_killed_midway_leaves_the_previous_run_current_and_intact(orders, local_run):
    output = local_run[0]  # killed into the reference's own output folder: LATEST must not move
    previous = published(output)
    latest_before = (output / "LATEST").read_bytes()
    customers_before = data_pages(previous / "customers")

    job = start_job("--master", "local[2]", output=output, orders=orders)
    seen = []
    for line in job.stdout:  # kill it in the sweep: after the quarantine is written, before any result
        seen.append(line)
        if "k= 2" in line:
            os.killpg(job.pid, signal.SIGKILL)
            break
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL, "".join(seen)[-3000:]

    assert (output / "LATEST").read_bytes() == latest_before
    assert json.loads((previous / "summary.json").read_text())["run_id"] == previous.name
    assert data_pages(previous / "customers") == customers_before
    assert len(pd.read_parquet(previous / "customers")) == CUSTOMERS
    unfinished = [run for run in (output / "runs").iterdir() if run != previous]
    assert len(unfinished) == 1  # the killed run left a folder, and nothing in it looks finished
    assert (unfinished[0] / "quarantine").exists()
    assert not (unfinished[0] / "summary.json").exists() and not (unfinished[0] / "report.html").exists()


def test_a_standalone_cluster_with_an_executor_killed_mid_sweep_gives_the_segments_of_local_mode(
    cluster, orders, local_run, tmp_path
):
    output = tmp_path / "out"
    job = start_job("--master", cluster.url, "--driver-memory", "1g", output=output, orders=orders)
    seen, killed = [], None
    for line in job.stdout:
        seen.append(line)
        if "k= 2" in line and killed is None:
            executors = cluster.executors()
            assert len(executors) == 2, "".join(seen)[-3000:]  # one per worker
            killed = executors[0]
            os.kill(killed, signal.SIGKILL)
    assert job.wait(timeout=600) == 0, "".join(seen)[-3000:]
    log = "".join(seen)
    assert killed is not None and killed not in cluster.executors()
    assert "Lost executor" in log or "ExecutorLostFailure" in log, log[-3000:]
    summary = json.loads((published(output) / "summary.json").read_text())
    assert summary["run"]["spark_master"] == cluster.url
    assert_same_segments(output, local_run[0])
