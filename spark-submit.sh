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

# The package travels to the executors as a zip; rebuilt each run so it is never stale.
mkdir -p "$here/build"
zip_file="$here/build/segspark.zip"
(cd "$here" && "$venv/bin/python" - <<'PY'
import pathlib, zipfile
with zipfile.ZipFile("build/segspark.zip.tmp", "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted(pathlib.Path("segspark").rglob("*.py")):
        archive.write(path)
pathlib.Path("build/segspark.zip.tmp").replace("build/segspark.zip")
PY
)

export SEGSPARK_HOME="$here"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$here/conf}"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$venv/bin/python}"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

exec "$venv/bin/spark-submit" "${submit_options[@]}" --py-files "$zip_file" "$job" "$@"
