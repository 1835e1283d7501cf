"""Start a local Spark Connect server: what pip's pyspark ships (its spark-connect jar, started as
`start-connect-server.sh` starts it), on local[2], bound to loopback on a free port. For the tests
(tests/connect/conftest.py) and benchmarks/connect_sweep.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(folder: Path, timeout: float = 120) -> Server:
    """A Connect server working in `folder` (its log, warehouse and Derby home), once it listens."""
    import pyspark

    port = _free_port()
    # spark-submit (benchmarks/connect_sweep.py) runs pyspark from a zip and gives SPARK_HOME
    spark_home = os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__)
    env = {**os.environ, "SPARK_HOME": spark_home, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_CONF_DIR", None)
    env.pop("SPARK_SUBMIT_OPTS", None)
    log = folder / "server.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [
                os.path.join(spark_home, "bin", "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2]",
                "--conf", f"spark.connect.grpc.binding.port={port}",
                "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                "--conf", "spark.ui.enabled=false",
                "--conf", "spark.driver.host=127.0.0.1",
                "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--conf", f"spark.sql.warehouse.dir=file://{folder}/warehouse",
                "--conf", "spark.sql.catalogImplementation=hive",  # a lasting catalog: Derby in `folder`
                "--conf", "spark.connect.copyFromLocalToFs.allowDestLocal=true",
                "--driver-java-options", f"-Dderby.system.home={folder}",
            ],
            cwd=folder, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return Server(process, f"sc://127.0.0.1:{port}", log)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the Spark Connect server did not start; its log: {log}")
        time.sleep(0.5)
