"""segspark end to end against the pandas + scikit-learn reference, in one run, on the same files.

    .venv/bin/python benchmarks/run.py                 # S, 3M, M and L (about 25 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --sizes S       # the small size only (a few minutes)

For each size: order lines made by the project's generator (kept under --data and reused), then
segspark through ./spark-submit.sh (local[*]), the reference method (benchmarks/reference_method.py:
pandas + scikit-learn) and DuckDB + scikit-learn (benchmarks/reference_duckdb.py), each with n_init=1
(and n_init=10 at S). Wall time and the peak resident memory of each whole process tree
(JVM, Python driver and workers) are measured here by polling /proc; the per-k cost ratio is
segspark's elbow cost over the reference's inertia. Results: a table on stdout and a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Size:
    name: str
    lines: int
    file_format: str
    submit_options: tuple[str, ...] = ()
    reference_n_inits: tuple[int, ...] = (1,)
    duckdb_n_inits: tuple[int, ...] = (1,)


SIZES = {
    "S": Size("S", 70_000, "csv", reference_n_inits=(10, 1), duckdb_n_inits=(10, 1)),
    "3M": Size("3M", 3_000_000, "csv"),
    # n_init=10 at M took 207 s (docs/benchmarks.md, an earlier run): left out to keep the run short
    "M": Size("M", 10_000_000, "csv"),
    # the limits for L: 2 GB of driver memory and a 16 MB result limit
    "L": Size(
        "L",
        30_000_000,
        "parquet",
        ("--driver-memory", "2g", "--conf", "spark.driver.maxResultSize=16m"),
    ),
}


@dataclass
class Measured:
    what: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    details: dict = field(default_factory=dict)


def _tree_rss_kb(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/status") as status:
                kb = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = kb
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(what: str, command: list[str], log: Path, env: dict | None = None) -> Measured:
    """Run `command`, its output to `log`; wall time and the process tree's peak RSS."""
    peak = 0
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def poll() -> None:
            nonlocal peak
            while not done.wait(0.25):
                peak = max(peak, _tree_rss_kb(process.pid))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        returncode = process.wait()
        done.set()
        poller.join()
    seconds = time.monotonic() - started
    print(f"  {what}: {seconds:,.1f} s, peak {peak / 1024:,.0f} MB, exit {returncode} (log {log})", flush=True)
    return Measured(what, seconds, peak / 1024, returncode)


def spark_submit(*arguments: str) -> list[str]:
    return [str(REPO / "spark-submit.sh"), *arguments]


def generate(size: Size, data: Path, logs: Path) -> Path:
    path = data / size.name
    if (path / "_SUCCESS").exists() or any(path.glob("*.csv")) or any(path.glob("*.parquet")):
        print(f"  {size.name}: reusing {path}")
        return path
    result = measure(
        f"generate {size.lines:,} lines",
        spark_submit(
            "jobs/generate_orders.py", "--lines", str(size.lines), "--output", str(path), "--format", size.file_format
        ),
        logs / f"{size.name}-generate.log",
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmarks: generating {size.name} failed; see {logs}")
    return path


def run_segspark(size: Size, orders: Path, out: Path, logs: Path, extra: list[str]) -> Measured:
    result = measure(
        "segspark",
        spark_submit(
            *size.submit_options, "jobs/segment_customers.py", "--input", str(orders), "--output", str(out), *extra
        ),
        logs / f"{size.name}-segspark.log",
    )
    if result.returncode == 0:
        summary = json.loads((out / "runs" / (out / "LATEST").read_text().strip() / "summary.json").read_text())
        result.details = {
            "customers": summary["counts"]["customers"],
            "lines_in": summary["counts"]["lines_in"],
            "costs": {point["k"]: point["cost"] for point in summary["elbow"]},
            "training_points": summary["model"]["training_points"],
            "k": summary["model"]["k"],
            "phases": summary["run"]["phases"],
            "spark_jobs": summary["run"]["spark_jobs"],
        }
    return result


#: The references by the name the tables give them: the module that runs each.
REFERENCES = {"pandas": "benchmarks.reference_method", "DuckDB": "benchmarks.reference_duckdb"}


def run_reference(size: Size, orders: Path, n_init: int, work: Path, logs: Path, method: str = "pandas") -> Measured:
    result_file = work / f"{size.name}-{method}-n{n_init}.json"
    result = measure(
        f"{method} + scikit-learn, n_init={n_init}",
        [
            sys.executable,
            "-m",
            REFERENCES[method],
            "--input",
            str(orders),
            "--n-init",
            str(n_init),
            "--result",
            str(result_file),
        ],
        logs / f"{size.name}-{method}-n{n_init}.log",
    )
    if result.returncode == 0:
        details = json.loads(result_file.read_text())
        details["costs"] = {int(k): v for k, v in details["costs"].items()}
        result.details = details
    return result


def run_floor(what: str, logs: Path, *arguments: str) -> Measured:
    """A yardstick of benchmarks/floor_jobs.py: its wall time, and its own clock in details."""
    log = logs / f"floor-{what}{'-' + Path(arguments[-1]).name if arguments else ''}.log"
    result = measure(what, spark_submit("benchmarks/floor_jobs.py", what, *arguments), log)
    clock = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("seconds: ")]
    result.details = {"job_seconds": float(clock[0])} if clock else {}
    return result


def cost_ratios(ours: dict, reference: dict) -> dict[int, float]:
    return {int(k): ours[k] / reference[int(k)] for k in ours if reference.get(int(k))}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GB RAM, {platform.platform()}"


def report(results: list[dict]) -> str:
    rows = [
        "| size | lines | customers | method | wall s | Spark jobs | peak MB | vs ref n_init=10 | vs ref n_init=1 | worst k cost ratio |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        runs = {run["what"]: run for run in result["runs"]}
        ref10 = runs.get("pandas + scikit-learn, n_init=10")
        ref1 = runs.get("pandas + scikit-learn, n_init=1")
        for run in result["runs"]:
            if run["what"] == "typed-read":
                continue  # a yardstick, said apart
            ratio10 = f"{run['seconds'] / ref10['seconds']:.2f} x" if ref10 else "-"
            ratio1 = f"{run['seconds'] / ref1['seconds']:.2f} x" if ref1 else "-"
            worst = "-"
            if run["what"] == "segspark" and run["details"].get("costs"):
                for ref in (ref10, ref1):
                    if ref and ref["details"].get("costs"):
                        ratios = cost_ratios(run["details"]["costs"], ref["details"]["costs"])
                        k, value = max(ratios.items(), key=lambda item: item[1])
                        worst = f"{value:.4f} (k={k}) vs {ref['what'].split(', ')[1]}"
                        break
            customers = run["details"].get("customers", "-")
            jobs = run["details"].get("spark_jobs")
            jobs = f"{sum(jobs.values()):,}" if jobs else "-"
            rows.append(
                f"| {result['size']} | {result['lines']:,} | {customers:,} | {run['what']} | {run['seconds']:,.1f} | "
                f"{jobs} | {run['peak_rss_mb']:,.0f} | {ratio10} | {ratio1} | {worst} |"
                if isinstance(customers, int)
                else f"| {result['size']} | {result['lines']:,} | - | {run['what']} (exit {run['returncode']}) | "
                f"{run['seconds']:,.1f} | - | {run['peak_rss_mb']:,.0f} | {ratio10} | {ratio1} | - |"
            )
    phases = [
        "| size | phase | seconds | Spark jobs |",
        "|---|---|---:|---:|",
    ]
    for result in results:
        for run in result["runs"]:
            details = run["details"]
            for phase, seconds in details.get("phases", {}).items():
                phases.append(
                    f"| {result['size']} | {phase} | {seconds:,.1f} | {details['spark_jobs'].get(phase, '-'):,} |"
                )
    return "\n".join(rows) + (
        "\n\nsegspark's phases (summary.json run.phases, run.spark_jobs):\n\n" + "\n".join(phases)
        if len(phases) > 2
        else ""
    )


def per_k(results: list[dict]) -> str:
    """Every k's cost ratio, segspark over each reference, per size."""
    columns, table = [], {}
    for result in results:
        runs = {run["what"]: run for run in result["runs"]}
        ours = runs.get("segspark", {}).get("details", {}).get("costs")
        for name, run in runs.items():
            if name == "segspark" or not ours or not run["details"].get("costs"):
                continue
            column = f"{result['size']} / {name.split(' + ')[0]} {name.split(', ')[1]}"
            columns.append(column)
            for k, ratio in cost_ratios(ours, run["details"]["costs"]).items():
                table.setdefault(int(k), {})[column] = ratio
    if not columns:
        return ""
    rows = ["| k | " + " | ".join(columns) + " |", "|---:|" + "---:|" * len(columns)]
    for k in sorted(table):
        rows.append(f"| {k} | " + " | ".join(f"{table[k][c]:.4f}" if c in table[k] else "-" for c in columns) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,3M,M,L", help="comma-separated: S, 3M, M, L")
    parser.add_argument("--data", default=str(REPO / "data" / "bench"), help="where the generated orders are kept")
    parser.add_argument("--work", default=str(REPO / "build" / "bench"), help="outputs, logs and results.json")
    parser.add_argument("--segspark-args", default="", help="extra job options for segspark, e.g. '--restarts 3'")
    parser.add_argument("--no-reference", action="store_true", help="run segspark only (re-measuring one side)")
    args = parser.parse_args(argv)
    data, work = Path(args.data), Path(args.work)
    logs = work / "logs"
    for folder in (data, logs):
        folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    floor = asdict(run_floor("trivial", logs))
    results = []
    for name in args.sizes.split(","):
        size = SIZES[name.strip()]
        print(f"{size.name}: {size.lines:,} lines ({size.file_format})", flush=True)
        orders = generate(size, data, logs)
        out = work / f"{size.name}-out-{time.strftime('%Y%m%dT%H%M%S')}"
        runs = [run_segspark(size, orders, out, logs, args.segspark_args.split())]
        if size.file_format == "csv" and size.lines >= 1_000_000:
            runs.append(run_floor("typed-read", logs, "--input", str(orders)))
        if not args.no_reference:
            runs += [run_reference(size, orders, n_init, work, logs) for n_init in size.reference_n_inits]
            runs += [run_reference(size, orders, n_init, work, logs, "DuckDB") for n_init in size.duckdb_n_inits]
        results.append({"size": size.name, "lines": size.lines, "runs": [asdict(run) for run in runs]})
        (work / "results.json").write_text(
            json.dumps({"machine": machine(), "trivial_job": floor, "results": results}, indent=1)
        )
    print(f"\ntrivial job (spark.range(10).count()): {floor['seconds']:.1f} s wall")
    for result in results:
        runs = {run["what"]: run for run in result["runs"]}
        ours, ref10 = runs.get("segspark"), runs.get("pandas + scikit-learn, n_init=10")
        if ours and ref10:
            beyond = (ours["seconds"] - floor["seconds"]) / ref10["seconds"]
            print(f"{result['size']}: (segspark wall - trivial job) / pandas n_init=10 = {beyond:.2f} x")
        read = runs.get("typed-read")
        if ours and read and ours["details"].get("phases") and read["details"].get("job_seconds"):
            ingest = ours["details"]["phases"].get("ingest and features", 0.0)
            print(
                f"{result['size']}: ingest and features {ingest:.1f} s = "
                f"{ingest / read['details']['job_seconds']:.2f} x the plain typed read ({read['details']['job_seconds']:.1f} s)"
            )
    print()
    print(report(results))
    print()
    print(per_k(results))
    print(f"\nresults: {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
