"""Publish a complete run again: into the tables (`--publish-tables`) and as its output's current run.

For a run whose tables failed (the job said "was not published ... publish it with: ..."), one that
was stopped between its tables and LATEST, or one made without --publish-tables that a database
should now hold. It does what the jobs' last step does (`workflow.publish_run`): the tables first,
each missing part appended once (rows already there are kept, never doubled), then LATEST.
"""

from __future__ import annotations

import json
import os

from segspark.edge import cli, paths, runs, session, tables, workflow
from segspark.errors import InputError

JOB = "publish_run"


def main(argv: list[str] | None = None) -> int:
    """`jobs/publish_run.py --run OUTPUT/runs/RUN_ID [--publish-tables DATABASE]`, `segspark-publish` installed."""
    parser = cli.ArgumentParser(prog=JOB, description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the run folder: OUTPUT/runs/RUN_ID")
    parser.add_argument("--publish-tables", metavar="DATABASE", help="the database to publish it into")
    args = parser.parse_args(argv)
    database = args.publish_tables and tables.check_database_name(args.publish_tables)
    given = runs.RunFolder.of(args.run)
    if given is None:
        raise InputError(f"--run {args.run}: not a run folder (OUTPUT/runs/RUN_ID)")
    catalog_output = catalog_of(given) if database else None
    spark = session.start("segspark-publish-run", catalog_output)
    folder = runs.RunFolder(paths.qualified(spark, given.path), given.run_id)
    if not folder.is_complete(spark):
        raise InputError(f"--run {args.run}: the run is not complete (no {runs.SUMMARY}: it was stopped before it)")
    run_summary = folder.summary(spark)
    published = None
    if database:
        published = workflow.prepare_tables(
            spark, database, folder.output, workflow.job_of(run_summary), catalog_output or folder.output,
            workflow.feature_set_of(spark, folder, run_summary),
        )  # fmt: skip
    workflow.publish_run(spark, folder, run_summary, published, JOB, again=True)
    print(f"{JOB}: {folder.path} is the current run of {folder.output}")
    return 0


def catalog_of(folder: runs.RunFolder) -> str:
    """The output folder whose built-in catalog the run's job used: a segment run's own output; a
    scoring run's, its model's output (read from its summary where it is on the local disk)."""
    summary_file = paths.local_path(folder.file(runs.SUMMARY)) if paths.is_local(folder.path) else None
    if summary_file and os.path.exists(summary_file):
        with open(summary_file, encoding="utf-8") as handle:
            scoring = json.load(handle).get("scoring")
        if scoring:
            return workflow.catalog_for(folder.output, None, "tables", scoring["model"])
    return folder.output
