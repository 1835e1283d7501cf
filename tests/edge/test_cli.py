"""The jobs' edge (segspark/cli.py): one line for a failure, never a bare JVM stack."""

from __future__ import annotations

import pytest

from segspark.edge import cli
from segspark.errors import InputError


def test_an_out_of_memory_failure_says_what_to_give_more_of():
    error = RuntimeError(
        "An error occurred while calling o639.collectToPython.\n: org.apache.spark.SparkException: Job aborted "
        "due to stage failure: Task 1 in stage 6.0 failed 1 times, most recent failure: java.lang.OutOfMemoryError: "
        "Java heap space\n\tat org.apache.spark.unsafe.memory.HeapMemoryAllocator.allocate(HeapMemoryAllocator.java:72)"
    )
    assert cli._spark_failure_line(error) == cli.OUT_OF_MEMORY


def test_a_spark_error_class_is_kept_and_the_stack_dropped():
    error = RuntimeError("[PATH_NOT_FOUND] Path does not exist: file:/x.\n\tat org.apache.spark.sql.Foo(Foo.scala:1)")
    assert cli._spark_failure_line(error) == "[PATH_NOT_FOUND] Path does not exist: file:/x."


def test_a_failed_python_task_gives_its_exception_line():
    error = RuntimeError(
        "An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
        '  File "/tmp/job.py", line 4, in first_attempt_fails\n    raise RuntimeError("injected failure")\n'
        "RuntimeError: injected failure\n\tat org.apache.spark.api.python.BasePythonRunner.read(PythonRunner.scala:1)"
    )
    assert cli._spark_failure_line(error) == "a Python task failed: RuntimeError: injected failure"


def test_an_input_error_is_one_line_and_exit_code_2(capsys):
    def main():
        raise InputError("orders.csv: bad header: missing column 'taxes'")

    with pytest.raises(SystemExit) as exited:
        cli.run(main, "job")
    assert exited.value.code == cli.EXIT_INPUT
    assert capsys.readouterr().err == "job: input error: orders.csv: bad header: missing column 'taxes'\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--k-range", "1-15"],
        ["--k", "1"],
        ["--k-range", "1..1"],
        ["--restarts", "0"],
        ["--stability", "-1"],
        ["--no-such-option"],
        ["--k", "two"],
    ],
)
def test_a_bad_command_line_exits_64_before_spark_starts(monkeypatch, argv):
    from jobs import segment_customers
    from segspark.edge import session

    monkeypatch.setattr(session, "start", lambda name: pytest.fail("Spark was started for a bad command line"))
    with pytest.raises(SystemExit) as exited:
        cli.run(lambda: segment_customers.main(argv), "segment_customers")
    assert exited.value.code == cli.EXIT_USAGE == 64


def test_a_settings_file_of_a_few_keys_keeps_the_other_defaults_and_a_wrong_kind_is_refused(monkeypatch, tmp_path):
    from jobs import segment_customers
    from segspark import config
    from segspark.edge import session

    few = tmp_path / "few.toml"
    few.write_text("[model]\nrestarts = 3\n")  # no [quality], no [report]: defaults, not a failure after ingest
    settings = config.load_settings(few)
    assert settings["model"]["restarts"] == 3 and settings["quality"] == config.load_settings()["quality"]
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[model]\nrestarts = "ten"\n')
    monkeypatch.setattr(session, "start", lambda name: pytest.fail("Spark was started for a bad settings file"))
    with pytest.raises(SystemExit) as exited:
        cli.run(lambda: segment_customers.main(["--conf-file", str(wrong)]), "segment_customers")
    assert exited.value.code == 64


def test_a_java_exception_behind_a_py4j_call_gives_its_message_not_the_call():
    error = RuntimeError(
        "An error occurred while calling o70.load.\n: java.io.IOException: URISyntax exception: viewfs://cluster/\n"
        "\tat org.apache.hadoop.fs.viewfs.InodeTree.<init>(InodeTree.java:1)"
    )
    assert cli._spark_failure_line(error) == "URISyntax exception: viewfs://cluster/"


# The Java errors of the places data lives, as S3A and HDFS raised them on the test cluster.
STORAGE_ERRORS = {
    "org.apache.hadoop.fs.s3a.UnknownStoreException: `s3a://nosuchbucket/segments/summary.json': getFileStatus on "
    "s3a://nosuchbucket/segments/summary.json: software.amazon.awssdk.services.s3.model.NoSuchBucketException: The "
    "specified bucket does not exist (Service: S3, Status Code: 404)": "s3a://nosuchbucket: no such bucket",
    "java.nio.file.AccessDeniedException: s3a://segspark/x/summary.json: getFileStatus on s3a://segspark/x/summary.json:"
    " software.amazon.awssdk.services.s3.model.S3Exception: FORBIDDEN (Service: S3, Status Code: 403)": (
        "s3a://segspark/x/summary.json: S3 refused access (403 Forbidden)"
    ),
    "java.lang.RuntimeException: java.lang.ClassNotFoundException: Class org.apache.hadoop.fs.s3a.S3AFileSystem not "
    "found": "s3a:// paths need Hadoop's hadoop-aws",
    "org.apache.hadoop.hdfs.server.namenode.SafeModeException: Cannot create directory /segments/safe/runs/x. Name node"
    " is in safe mode.": "HDFS is in safe mode and refuses writes (Cannot create directory /segments/safe/runs/x)",
}


@pytest.mark.parametrize("text", STORAGE_ERRORS)
def test_a_storage_failure_is_one_line_saying_what_to_fix_and_exit_2(text, capsys):
    def main():
        raise RuntimeError(f"An error occurred while calling o190.exists.\n: {text}\n\tat org.apache.Foo(Foo.java:1)")

    with pytest.raises(SystemExit) as exited:
        cli.run(main, "segment_customers")
    assert exited.value.code == cli.EXIT_INPUT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"segment_customers: {STORAGE_ERRORS[text]}"), line


def test_an_unknown_failure_is_not_taken_for_a_storage_one():
    assert cli.environment_failure(RuntimeError("java.io.IOException: disk full")) is None
