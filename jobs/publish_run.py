"""Publish a complete run again: into catalog tables and as its output folder's current run.

    ./spark-submit.sh jobs/publish_run.py --run out/runs/RUN_ID --publish-tables segspark

For a run whose tables failed (the job's last line gives this command), one stopped between its
tables and LATEST, or one a database should now hold. Rows already in the tables are kept, never
doubled; then LATEST names the run. `main` is segspark.edge.publish's.

This file is the job's spark-submit entry (also shipped in dist/ beside the wheel).
"""

from __future__ import annotations

from segspark.edge import cli
from segspark.edge.publish import main

if __name__ == "__main__":
    cli.run(main, "publish_run")
