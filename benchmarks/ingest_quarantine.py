"""What ingest costs on a clean input and on the same input with some bad lines, in one session.

    ./spark-submit.sh --driver-memory 4g benchmarks/ingest_quarantine.py [--input data/bench/M] [--bad-lines 100]

A quarantined line's file, reason and text are computed from a second read of the input, and only
when some line was quarantined; this measures what that costs. The dirty input is the clean one's
files (linked, not copied) plus one file of `--bad-lines` lines copied from the first file with
`ordered_item_quantity` made unreadable. Each input runs `workflow.accounted_customers` (read,
type, quarantine, exclude, features, counts) after a warm-up on the built-in sample.
docs/benchmarks.md has a run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import SparkSession  # noqa: E402

from segspark.edge import workflow  # noqa: E402
from segspark.orders.formats import built_in  # noqa: E402


def dirty_copy(clean: Path, bad_lines: int, folder: Path) -> Path:
    """The clean input's CSV files linked into `folder`, plus a file of bad lines."""
    files = sorted(clean.glob("*.csv")) if clean.is_dir() else [clean]
    for file in files:
        os.symlink(file.resolve(), folder / file.name)
    with files[0].open(encoding="utf-8") as source:
        header = source.readline()
        lines = [source.readline().rstrip("\n") for _ in range(bad_lines)]
    bad = [line.rsplit(",", 1)[0] + ",x" + line.rsplit(",", 1)[1] for line in lines]
    (folder / "zz-bad-lines.csv").write_text(header + "\n".join(bad) + "\n", encoding="utf-8")
    return folder


def timed(spark: SparkSession, path: Path, work: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    accounted = workflow.accounted_customers(
        spark, str(path), built_in("shopify"), str(work / f"quarantine-{time.time_ns()}")
    )
    seconds = time.perf_counter() - started
    accounted.release()
    return seconds, accounted.counts.lines_in, accounted.counts.lines_quarantined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", default=str(REPO / "data" / "bench" / "M"), help="a clean CSV export (file or folder)"
    )
    parser.add_argument("--bad-lines", type=int, default=100)
    args = parser.parse_args()
    spark = SparkSession.builder.appName("segspark-ingest-quarantine").getOrCreate()
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        dirty = dirty_copy(Path(args.input), args.bad_lines, Path(tempfile.mkdtemp(dir=work)))
        timed(spark, REPO / "data" / "sample" / "orders", work)  # the JVM's warm-up
        print("| input | lines | quarantined | accounted_customers s |\n|---|---:|---:|---:|")
        for name, path in (("clean", Path(args.input)), (f"with {args.bad_lines} bad lines", dirty)):
            seconds, lines, quarantined = timed(spark, path, work)
            print(f"| {name} | {lines:,} | {quarantined:,} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
