#!/usr/bin/env bash
# Query the tables a run published into an output folder's built-in catalog (--publish-tables with no
# catalog configured: a Derby metastore and a warehouse under OUTPUT/catalog) with Spark SQL:
#
#   ./spark-sql.sh out -e "SELECT * FROM segspark.segspark_current LIMIT 10"
#   ./spark-sql.sh out            (an interactive spark-sql> prompt)
#
# OUTPUT as the jobs print it (file:/tmp/out, file:///tmp/out) or as a path. On a fresh output
# folder the catalog is made, so the tables a run reads with --input-table can be set up before
# its first run. Options after OUTPUT go to spark-sql. Derby serves one process at a time: not
# while a run publishes into the same folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SEGSPARK_VENV:-$here/.venv}"
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: ./spark-sql.sh OUTPUT [spark-sql options, e.g. -e SQL]" >&2
  exit 64
fi
output="$1"
shift
case "$output" in
  file://*) output="${output#file://}" ;;
  file:/*) output="${output#file:}" ;;
  *://*|*:/*) echo "spark-sql.sh: $output is not on this machine's disk; the built-in catalog lives on a local one" >&2; exit 2 ;;
esac
if [ ! -d "$output/catalog/metastore_db" ]; then
  echo "spark-sql.sh: no catalog in $output yet: making one (its tables are there for the runs into $output)" >&2
  mkdir -p "$output/catalog"
fi
catalog="$(cd "$output/catalog" && pwd)"
if [ ! -x "$venv/bin/spark-sql" ]; then
  echo "spark-sql.sh: no Spark in $venv; run 'make venv' (or 'make run') first" >&2
  exit 2
fi
export PATH="$venv/bin:$PATH"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$here/conf}"
exec spark-sql \
  --driver-java-options "\"-Dderby.stream.error.file=$catalog/derby.log\"" \
  --conf spark.ui.enabled=false \
  --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
  --conf spark.sql.catalogImplementation=hive \
  --conf "spark.sql.warehouse.dir=file://$catalog/warehouse" \
  --conf "spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName=$catalog/metastore_db;create=true" \
  "$@"
