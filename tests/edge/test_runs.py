"""One idea of a run folder (segspark/runs.py): run ids, LATEST and its problems, complete runs."""

from __future__ import annotations

import pytest

from segspark.edge import runs
from segspark.errors import InputError
from tests.builders import viewfs

A, B, C = "20260101T000000Z-aaaaaa", "20260201T000000Z-bbbbbb", "20260301T000000Z-cccccc"


def make_runs(output, complete=(A, B), incomplete=(C,), models=()):
    for run in (*complete, *incomplete):
        (output / "runs" / run).mkdir(parents=True)
        if run in complete:
            (output / "runs" / run / "summary.json").write_text("{}")
        if run in models:
            (output / "runs" / run / "model").mkdir()
            (output / "runs" / run / "model" / runs.MODEL_METADATA).write_text("{}")


def current(spark, output):
    found = runs.current_run(spark, str(output))
    return (found.run.run_id if found.run else None), found.note


def test_without_latest_the_current_run_is_the_newest_complete_one(spark, tmp_path):
    """LATEST missing in a folder with runs: a publish caught between Hadoop's delete and rename."""
    output = tmp_path / "out"
    assert current(spark, output) == (None, None)
    make_runs(output)  # the newest, C, stopped before its summary
    assert current(spark, output) == (B, None)
    (output / "LATEST").write_text(A + "\n")
    assert current(spark, output) == (A, None)
    shop = viewfs(spark, output)
    assert runs.current_run(spark, shop).run.run_id == A
    (output / "LATEST").unlink()
    assert runs.current_run(spark, shop).run.run_id == B


@pytest.mark.parametrize(
    ("pointer", "said"),
    [
        ("garbage\n", "holds 'garbage', which is not a run id"),
        ("", "holds '', which is not a run id"),
        ("/etc\n", "holds '/etc', which is not a run id"),
        ("../../elsewhere/runs/" + A + "\n", "which is not a run id"),
        ("20250101T000000Z-ffffff\n", "names run 20250101T000000Z-ffffff, which is not in"),
        (C + "\n", f"names run {C}, which has no summary.json (it did not complete)"),
    ],
)
def test_a_latest_that_cannot_be_followed_is_said_and_the_newest_complete_run_taken(spark, tmp_path, pointer, said):
    """A LATEST holding garbage, nothing, a path or a missing or unfinished run is never followed."""
    output = tmp_path / "out"
    make_runs(output)
    (output / "LATEST").write_text(pointer)
    run_id, note = current(spark, output)
    assert run_id == B
    assert said in note and note.endswith(f"took the newest complete run, {B}")


def test_model_folders_resolve_to_the_newest_complete_run_that_has_a_model(spark, tmp_path):
    output = tmp_path / "out"
    make_runs(output, complete=(A, B, C), incomplete=(), models=(A, B))  # C: a scoring run, no model
    (output / "LATEST").write_text(C + "\n")
    expected = str(output / "runs" / B / "model")
    assert runs.resolve_model_dir(spark, str(output)) == expected
    assert runs.resolve_model_dir(spark, str(output / "runs" / B)) == expected
    assert runs.resolve_model_dir(spark, expected) == expected
    assert runs.training_output(expected) == str(output)
    (output / "LATEST").write_text(A + "\n")  # LATEST wins where it has a model
    assert runs.resolve_model_dir(spark, str(output)).endswith(f"{A}/model")
    with pytest.raises(InputError, match="no segspark model here"):
        runs.resolve_model_dir(spark, str(output / "runs" / C))


def test_a_model_of_a_run_that_did_not_complete_is_never_picked(spark, tmp_path):
    """A run killed after saving its model but before its summary.json was never published."""
    output = tmp_path / "out"
    make_runs(output, complete=(A,), incomplete=(B,), models=(A, B))
    assert runs.resolve_model_dir(spark, str(output)).endswith(f"{A}/model")
    with pytest.raises(InputError, match=f"run {B} did not complete"):
        runs.resolve_model_dir(spark, str(output / "runs" / B))
    with pytest.raises(InputError, match=f"run {B} did not complete"):
        runs.resolve_model_dir(spark, str(output / "runs" / B / "model"))


def test_run_folders_are_named_by_valid_run_ids_only():
    assert runs.RunFolder.of(f"hdfs://nn/segments/runs/{A}") == runs.RunFolder(f"hdfs://nn/segments/runs/{A}", A)
    assert runs.RunFolder.of(f"hdfs://nn/segments/runs/{A}").output == "hdfs://nn/segments"
    assert runs.RunFolder.of("hdfs://nn/segments/runs/garbage") is None
    assert runs.RunFolder.of(f"hdfs://nn/segments/{A}") is None
    assert runs.is_run_id(runs.new_run_id())
