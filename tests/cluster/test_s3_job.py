"""segspark on an object store (the test cluster's S3 server, through Hadoop's S3A), and the one-line
failures of the places clusters keep data.

On S3: a run with its input and output in the bucket gives the customers of local mode; LATEST is
written by one PUT of its whole content (never a rename); two runs publishing into the same output
at once both complete, each refreshing the first, and LATEST names one of them whole; scoring reads
the model from the bucket. Then each of: a missing bucket, a refused key, s3a:// without hadoop-aws,
HDFS in safe mode and `--master yarn` without HADOOP_CONF_DIR ends in one line that says what to fix
(exit 2).
"""

from __future__ import annotations

import io
import json
import subprocess

import pandas as pd
import pytest

from tests.cluster.conftest import (
    ARGS,
    HDFS,
    S3_PYTHON,
    STATE,
    assert_same_customers,
    reference_customers,
    run_lines,
    s3_prelude,
)
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

BUCKET = "segspark"


class Bucket:
    """The test bucket as its user sees it (boto3 in the S3 server's environment)."""

    def __init__(self, test_cluster):
        self.cluster = test_cluster

    def put(self, key: str, text: str) -> None:
        self.cluster.s3(
            "s3.put_object(Bucket=sys.argv[1], Key=sys.argv[2], Body=sys.argv[3].encode())", BUCKET, key, text
        )

    def get(self, key: str) -> str:
        code = "print(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read().decode(), end='')"
        return self.cluster.s3(code, BUCKET, key)

    def keys(self, prefix: str) -> list[str]:
        code = (
            "pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2])\n"
            "print('\\n'.join(o['Key'] for p in pages for o in p.get('Contents', [])))"
        )
        return [key for key in self.cluster.s3(code, BUCKET, prefix).splitlines() if key]

    def customers(self, run_prefix: str) -> pd.DataFrame:
        parts = [key for key in self.keys(f"{run_prefix}/customers/") if key.endswith(".parquet")]
        frames = []
        for key in parts:
            code = "sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read())"
            data = subprocess.run(
                [str(S3_PYTHON), "-c", s3_prelude() + code, BUCKET, key],
                capture_output=True, check=True, timeout=60,
            ).stdout  # fmt: skip
            frames.append(pd.read_parquet(io.BytesIO(data)))
        return pd.concat(frames).sort_values("customer_id", ignore_index=True)


@pytest.fixture(scope="module")
def bucket(test_cluster, orders, root) -> Bucket:
    found = Bucket(test_cluster)
    found.put(f"{root}/s3/exports/period 1/orders.csv", orders.read_text())
    return found


def segment(test_cluster, *args: str, job: str = "jobs/segment_customers.py", env=None) -> subprocess.CompletedProcess:
    return run_lines(["./spark-submit.sh", "--master", "local[2]", job, *args], env=env or test_cluster.env)


def start_segment(test_cluster, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["./spark-submit.sh", "--master", "local[2]", "jobs/segment_customers.py", *args],
        cwd=REPO, env=test_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def requests_for(key: str) -> list[str]:
    """The S3 server's log lines of requests naming `key` or a name beginning with it."""
    return [line for line in (STATE / "s3.log").read_text().splitlines() if f"/{BUCKET}/" in line and key in line]


@pytest.fixture(scope="module")
def s3_runs(test_cluster, bucket, root):
    prefix = f"{root}/s3"
    quoted = prefix.replace(" ", "%20")
    source = f"s3a://{BUCKET}/{prefix}/exports/period 1"
    output = f"s3a://{BUCKET}/{prefix}/segments"
    first = segment(test_cluster, "--input", source, "--output", output, *ARGS)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    first_id = bucket.get(f"{prefix}/segments/LATEST").strip()
    # two runs publishing into the same output at once
    together = [start_segment(test_cluster, "--input", source, "--output", output, *ARGS) for _ in range(2)]
    logs = [job.communicate(timeout=900)[0] for job in together]
    return {
        "prefix": prefix, "quoted": quoted, "source": source, "output": output, "first": first_id,
        "together": [(job.returncode, log) for job, log in zip(together, logs)],
    }  # fmt: skip


def test_a_run_on_s3_gives_the_customers_of_local_mode_and_latest_is_one_put(bucket, s3_runs, local_run):
    prefix, first = s3_runs["prefix"], s3_runs["first"]
    run = f"{prefix}/segments/runs/{first}"
    keys = set(bucket.keys(run + "/"))
    for name in ("summary.json", "report.html", "model/segspark-model.json", "customers/_SUCCESS"):
        assert f"{run}/{name}" in keys, name
    assert_same_customers(bucket.customers(run), reference_customers(local_run))
    # LATEST: written in place by PUTs of its whole content, one per publish; no temporary name, no copy
    latest_requests = requests_for(f"{s3_runs['quoted']}/segments/LATEST")
    assert not [line for line in latest_requests if "LATEST." in line or "LATEST%" in line], latest_requests
    puts = [line for line in latest_requests if '"PUT ' in line]
    assert len(puts) == 3, latest_requests  # run 1 and the two runs at once


def test_two_runs_publishing_into_one_s3_output_at_once_both_complete(bucket, s3_runs, local_run):
    prefix = s3_runs["prefix"]
    published = []
    for code, log in s3_runs["together"]:
        assert code == 0, log[-4000:]
        published.append(log.strip().splitlines()[-1].removeprefix(f"published: s3a://{BUCKET}/"))
    assert len(set(published)) == 2
    for run in published:
        summary = json.loads(bucket.get(f"{run}/summary.json"))
        assert summary["refresh"]["compared"] and summary["refresh"]["previous_run"] == s3_runs["first"]
        assert_same_customers(bucket.customers(run), reference_customers(local_run))
    current = bucket.get(f"{prefix}/segments/LATEST")
    assert current.endswith("\n") and f"{prefix}/segments/runs/{current.strip()}" in published


def test_scoring_reads_the_model_from_s3(test_cluster, bucket, s3_runs, local_run):
    scored = f"s3a://{BUCKET}/{s3_runs['prefix']}/scored"
    done = segment(
        test_cluster, "--model", s3_runs["output"], "--input", s3_runs["source"], "--output", scored,
        job="jobs/score_customers.py",
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    run = f"{s3_runs['prefix']}/scored/runs/" + bucket.get(f"{s3_runs['prefix']}/scored/LATEST").strip()
    found, expected = bucket.customers(run), reference_customers(local_run)
    assert dict(zip(found["customer_id"], found["segment"])) == dict(zip(expected["customer_id"], expected["segment"]))


# --- what to fix, in one line --------------------------------------------------------------------


def assert_one_line(done: subprocess.CompletedProcess, line: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-4000:]
    # the last line the job said (spark-submit hands the Python driver's stderr on through its stdout)
    last = [stream.strip().splitlines()[-1] for stream in (done.stdout, done.stderr) if stream.strip()]
    assert any(said.startswith(line) for said in last), last
    assert "Traceback" not in output


def test_a_missing_bucket_is_one_line(test_cluster, orders):
    done = segment(test_cluster, "--input", f"file://{orders}", "--output", "s3a://no-such-bucket/segments", *ARGS)
    assert_one_line(done, "segment_customers: s3a://no-such-bucket: no such bucket")


def test_a_refused_key_is_one_line(test_cluster, orders):
    env = dict(test_cluster.env)
    done = run_lines(
        ["./spark-submit.sh", "--master", "local[2]", "--conf", "spark.hadoop.fs.s3a.access.key=AKIAWRONGKEY",
         "jobs/segment_customers.py", "--input", f"file://{orders}", "--output", f"s3a://{BUCKET}/refused", *ARGS],
        env=env,
    )  # fmt: skip
    assert_one_line(done, f"segment_customers: s3a://{BUCKET}/refused")
    assert "S3 refused access (403 Forbidden): check the credentials" in done.stdout + done.stderr


def test_s3a_without_hadoop_aws_is_one_line(test_cluster, orders):
    env = {key: value for key, value in test_cluster.env.items() if key != "SPARK_CONF_DIR"}  # the checkout's conf/
    done = segment(test_cluster, "--input", f"file://{orders}", "--output", f"s3a://{BUCKET}/x", *ARGS, env=env)
    assert_one_line(done, "segment_customers: s3a:// paths need Hadoop's hadoop-aws and the AWS SDK")


def test_hdfs_in_safe_mode_is_one_line(spark, test_cluster, orders, root):
    jvm = spark.sparkContext._jvm
    filesystem = jvm.org.apache.hadoop.fs.Path(f"{HDFS}/").getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    filesystem.setSafeMode(jvm.org.apache.hadoop.fs.SafeModeAction.ENTER)
    try:
        done = segment(test_cluster, "--input", f"file://{orders}", "--output", f"/{root}/safe", *ARGS)
    finally:
        filesystem.setSafeMode(jvm.org.apache.hadoop.fs.SafeModeAction.LEAVE)
    assert_one_line(done, "segment_customers: HDFS is in safe mode and refuses writes")


def test_yarn_without_hadoop_conf_dir_is_one_line(test_cluster):
    env = {key: value for key, value in test_cluster.env.items() if key not in ("HADOOP_CONF_DIR", "YARN_CONF_DIR")}
    done = run_lines(["./spark-submit.sh", "--master", "yarn", "jobs/segment_customers.py"], env=env)
    assert_one_line(
        done, "spark-submit.sh: --master yarn needs the cluster's Hadoop configuration: set HADOOP_CONF_DIR"
    )
