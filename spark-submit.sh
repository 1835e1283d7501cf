#!/usr/bin/env bash
# Run a segspark job with the project's Spark: ./spark-submit.sh [spark-submit options] JOB.py [job options]
#
#   ./spark-submit.sh jobs/segment_customers.py --input orders.csv --output out
#   ./spark-submit.sh --master spark://host:7077 --driver-memory 8g jobs/segment_customers.py ...
#
# Options before the job file go to spark-submit (--master, --conf, --driver-memory, ...); options
# after it go to the job. Defaults: --master local[*], settings from conf/spark-defaults.conf
# (SPARK_CONF_DIR=conf), segspark shipped to the executors as a zip with --py-files.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SEGSPARK_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/spark-submit" ]; then
  echo "spark-submit.sh: no Spark in $venv; run 'make venv' (or 'make run') first" >&2
  exit 2
fi

submit_options=()
job=""
while [ $# -gt 0 ]; do
  case "$1" in
    *.py) job="$1"; shift; break ;;
    *) submit_options+=("$1"); shift ;;
  esac
done
if [ -z "$job" ]; then
  echo "usage: ./spark-submit.sh [spark-submit options] JOB.py [job options]" >&2
  exit 64
fi

# The value of option $1 (`--name VALUE` or `--name=VALUE`, the last one given) among the rest.
option_value() {
  local name="$1" value=""
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      "$name") value="${2:-}" ;;
      "$name"=*) value="${1#"$name"=}" ;;
    esac
    shift
  done
  echo "$value"
}

master="$(option_value --master "${submit_options[@]+"${submit_options[@]}"}")"
if [ -z "$master" ]; then
  master='local[*]'
  submit_options=(--master "$master" "${submit_options[@]+"${submit_options[@]}"}")
fi

# The package travels to the executors as a zip named by its sources' content, so it is never stale;
# runs started together build it under their own temporary names and rename it into place.
zip_file="$(cd "$here" && "$venv/bin/python" - <<'PY'
import hashlib, os, pathlib, tempfile, zipfile
sources = sorted(pathlib.Path("segspark").rglob("*.py"))
digest = hashlib.sha256()
for path in sources:
    digest.update(str(path).encode() + b"\0" + path.read_bytes())
target = pathlib.Path("build") / f"segspark-{digest.hexdigest()[:16]}.zip"
if not target.exists():
    target.parent.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".segspark-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sources:
            archive.write(path)
    os.replace(temporary, target)
print(target.resolve())
PY
)"

# The JIT, chosen per run before the JVM starts (docs/benchmarks.md): on a local master the driver's
# JVM does all the work, and on small inputs C2's compiler threads take the cores from it (C1 alone
# made the built-in sample's run ~15% faster) while on large ones C2's code wins (C1 alone made
# 3M lines 36% slower). So a local run whose --input is local and under SEGSPARK_C1_MAX_MB (default
# 64), or the built-in sample, runs C1 alone; SEGSPARK_JIT=c1 or c2 decides instead, and a
# SPARK_SUBMIT_OPTS that already sets the JIT is left as it is.
jit="${SEGSPARK_JIT:-auto}"
if [ "$jit" = auto ] && [[ "$master" == local* ]] && [[ "${SPARK_SUBMIT_OPTS:-}" != *TieredStopAtLevel* ]]; then
  input="$(option_value --input "$@")"
  input_mb="$("$venv/bin/python" - "$input" <<'PY'
import glob, os, sys
path = sys.argv[1]
if not path:  # the built-in sample (70,000 lines: 9 MB)
    print(0)
    raise SystemExit
if path.startswith("file:"):
    path = "/" + path[len("file:"):].lstrip("/")
elif "://" in path:
    print(-1)  # another filesystem: its size is not known here
    raise SystemExit
files = glob.glob(path) if any(mark in path for mark in "*?[") else [path] if os.path.exists(path) else []
total = 0
for file in files:
    for folder, _, names in os.walk(file) if os.path.isdir(file) else [("", None, [file])]:
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in names)
print(total // 2**20 if files else -1)
PY
)"
  if [ "$input_mb" -ge 0 ] && [ "$input_mb" -lt "${SEGSPARK_C1_MAX_MB:-64}" ]; then
    jit=c1
    what="a local input of ${input_mb} MB"
    [ -n "$input" ] || what="the built-in sample"
    echo "spark-submit.sh: $what: the JVM compiles with C1 only (SEGSPARK_JIT=c2 to keep C2)" >&2
  fi
fi
if [ "$jit" = c1 ]; then
  export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:+$SPARK_SUBMIT_OPTS }-XX:TieredStopAtLevel=1"
fi

export SEGSPARK_HOME="$here"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$here/conf}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$venv/bin/python}"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

exec "$venv/bin/spark-submit" "${submit_options[@]}" --py-files "$zip_file" "$job" "$@"
