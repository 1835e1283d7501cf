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

has_master=no
for option in "${submit_options[@]+"${submit_options[@]}"}"; do
  case "$option" in --master|--master=*) has_master=yes ;; esac
done
[ "$has_master" = yes ] || submit_options=(--master 'local[*]' "${submit_options[@]+"${submit_options[@]}"}")

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

export SEGSPARK_HOME="$here"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$here/conf}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$venv/bin/python}"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

exec "$venv/bin/spark-submit" "${submit_options[@]}" --py-files "$zip_file" "$job" "$@"
