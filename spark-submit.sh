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

# spark-submit's options that take a value (`--name nightly.py` is a name, not the job); the job is
# the first argument that is neither an option nor an option's value, as spark-submit reads it.
# A user's --py-files are kept and handed on after segspark's own zip.
takes_value=" --master --deploy-mode --class --name --jars --packages --exclude-packages --repositories \
--py-files --files --archives --conf -c --properties-file --driver-memory --driver-java-options \
--driver-library-path --driver-class-path --executor-memory --proxy-user --driver-cores \
--total-executor-cores --executor-cores --num-executors --principal --keytab --queue --remote --kill --status "
submit_options=()
user_py_files=""
job=""
while [ $# -gt 0 ]; do
  case "$1" in
    --py-files)
      user_py_files="${user_py_files:+$user_py_files,}${2:-}"
      shift $(($# > 1 ? 2 : 1))
      ;;
    --py-files=*) user_py_files="${user_py_files:+$user_py_files,}${1#--py-files=}"; shift ;;
    -*=* | -v | --verbose | --supervise) submit_options+=("$1"); shift ;;
    -*)
      if [[ "$takes_value" == *" $1 "* ]] && [ $# -gt 1 ]; then
        submit_options+=("$1" "$2")
        shift 2
      else
        submit_options+=("$1")
        shift
      fi
      ;;
    *) job="$1"; shift; break ;;
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
deploy_mode="$(option_value --deploy-mode "${submit_options[@]+"${submit_options[@]}"}")"
if [[ "$master" == yarn* ]] && [ -z "${HADOOP_CONF_DIR:-}" ] && [ -z "${YARN_CONF_DIR:-}" ]; then
  echo "spark-submit.sh: --master $master needs the cluster's Hadoop configuration: set HADOOP_CONF_DIR (or YARN_CONF_DIR) to the folder holding its core-site.xml and yarn-site.xml" >&2
  exit 2
fi

# The package travels to the executors (and, in cluster deploy mode, to the driver) as a zip named by
# its content, so it is never stale: the sources, and conf/ as the package data a wheel carries
# (segspark/conf/), for a driver that runs away from this checkout. Runs started together build it
# under their own temporary names and rename it into place.
zip_file="$(cd "$here" && "$venv/bin/python" - <<'PY'
import hashlib, os, pathlib, tempfile, zipfile
sources = [(path, path) for path in sorted(pathlib.Path("segspark").rglob("*.py"))]
sources += [(path, pathlib.Path("segspark") / path) for path in sorted(pathlib.Path("conf").rglob("*")) if path.is_file()]
digest = hashlib.sha256()
for path, name in sources:
    digest.update(str(name).encode() + b"\0" + path.read_bytes())
target = pathlib.Path("build") / f"segspark-{digest.hexdigest()[:16]}.zip"
if not target.exists():
    target.parent.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".segspark-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in sources:
            archive.write(path, name)
    os.replace(temporary, target)
print(target.resolve())
PY
)"

# The JIT, chosen per run before the JVM starts (docs/benchmarks.md): on a local master the driver's
# JVM does all the work, and on small inputs C2's compiler threads take the cores from it (C1 alone
# made the built-in sample's run ~15% faster) while on large ones C2's code wins (C1 alone made
# 3M lines 36% slower). So a local run whose --input is local and under SEGSPARK_C1_MAX_MB (default
# 64), or the built-in sample, runs C1 alone; SEGSPARK_JIT=c1 or c2 decides instead, and a
# SPARK_SUBMIT_OPTS that already sets the JIT is left as it is. C1 alone gets the code cache tiered
# compilation has (240 MB, not C1's 48 MB): Delta Lake's classes filled 48 MB on the built-in sample,
# and the JVM first stopped compiling, then failed a task ("Out of space in CodeCache").
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
elif "://" in path or os.environ.get("HADOOP_CONF_DIR"):
    print(-1)  # another filesystem (a bare path is on the default one of HADOOP_CONF_DIR): size unknown
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
  export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:+$SPARK_SUBMIT_OPTS }-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
fi

export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$here/conf}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$venv/bin/python}"
if [ "$deploy_mode" != cluster ]; then
  # The driver runs here: it reads this checkout's conf/ and keeps the built-in sample in data/.
  # (In cluster deploy mode the driver runs in a container, which YARN hands this machine's
  # PYTHONPATH: it gets segspark and its settings from the zip alone, as from a wheel.)
  export SEGSPARK_HOME="$here"
  export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
fi

if [ "$deploy_mode" != cluster ] || [[ "$master" != yarn* ]]; then
  exec "$venv/bin/spark-submit" "${submit_options[@]}" --py-files "$zip_file${user_py_files:+,$user_py_files}" "$job" "$@"
fi

# YARN cluster deploy mode: the job's console is the driver container's log; what reaches this
# terminal is the application's reports. The job makes its outcome the application's diagnostics
# (segspark.edge.yarn): it is said here last, and a failure exits with the job's own exit code.
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
set +e
"$venv/bin/spark-submit" "${submit_options[@]}" --py-files "$zip_file${user_py_files:+,$user_py_files}" "$job" "$@" 2>&1 \
  | tee "$report" | grep --line-buffered -v -E $'^\tat |^\t\\.\\.\\. [0-9]+ more'
status=${PIPESTATUS[0]}
set -e
application="$(grep -o -m1 'application_[0-9]*_[0-9]*' "$report" || true)"
outcome="$(grep -E '^\s*diagnostics: |Application diagnostics message: ' "$report" | tail -n 1 \
  | sed -E 's/^.*(diagnostics: |diagnostics message: )//')"
echo "spark-submit.sh: YARN application ${application:-?}: ${outcome:-no diagnostics} (the job's console: yarn logs -applicationId ${application:-ID} -log_files stdout)" >&2
if [ "$status" -ne 0 ]; then
  code="$(sed -nE 's/.*\(exit ([0-9]+)\)$/\1/p' <<<"$outcome")"
  exit "${code:-$status}"
fi
