#!/usr/bin/env bash
# A throwaway Hadoop cluster on this machine, for trying segspark where clusters keep their data:
#
#   scripts/test-cluster.sh up       # HDFS (NameNode + DataNode), YARN (ResourceManager + NodeManager)
#                                    # and an S3-compatible server, in the background; returns once all answer
#   eval "$(scripts/test-cluster.sh env)"   # HADOOP_CONF_DIR (fs.defaultFS = the HDFS), SPARK_CONF_DIR
#                                    # (spark.yarn.jars, the s3a jars, the cluster's Python), SPARK_LOCAL_IP
#   scripts/test-cluster.sh down     # stops them and removes their data
#   scripts/test-cluster.sh status   # says whether it is up (exit 0) or not (exit 1)
#
# HDFS and YARN are Hadoop 3.5.0's own daemons (MiniDFSCluster, MiniYARNCluster: the NameNode,
# DataNode, ResourceManager and NodeManager code, in one JVM; jvm/test-cluster/); Spark's client
# (the default pyspark, 4.1.4) is Hadoop 3.4.2, as a cluster's daemons are often newer than its clients. The S3 server is
# moto's (a real HTTP server speaking S3, with IAM: a wrong key is refused), reached through
# Hadoop's S3A (jvm/s3a/) with path-style access. Everything listens on 127.0.0.1 only; its data
# is under build/test-cluster/ (SEGSPARK_TEST_CLUSTER_DIR). Ports: SEGSPARK_TC_NAMENODE_PORT
# (19820), SEGSPARK_TC_RM_PORT (18032; the scheduler 18030, the web UI 18088), SEGSPARK_TC_S3_PORT (19000).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${SEGSPARK_TEST_CLUSTER_DIR:-$here/build/test-cluster}"
venv="${SEGSPARK_VENV:-$here/.venv}"
jars="$here/build/jars"
cluster_python="$here/build/cluster-python"
s3_venv="$here/build/s3-server"
export SEGSPARK_TC_NAMENODE_PORT="${SEGSPARK_TC_NAMENODE_PORT:-19820}"
export SEGSPARK_TC_RM_PORT="${SEGSPARK_TC_RM_PORT:-18032}"
s3_port="${SEGSPARK_TC_S3_PORT:-19000}"
bucket=segspark

say() { echo "test-cluster: $*" >&2; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

is_up() { alive hadoop && alive s3 && [ -f "$state/ready" ] && [ -f "$state/spark-conf/spark-defaults.conf" ]; }

stop() {
  for name in hadoop s3; do
    if alive "$name"; then kill "$(cat "$state/$name.pid")" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 40); do
    alive hadoop || alive s3 || break
    sleep 0.5
  done
  for name in hadoop s3; do
    if alive "$name"; then kill -9 "$(cat "$state/$name.pid")" 2>/dev/null || true; fi
  done
  # YARN containers (drivers, executors) still running: their command lines name the state folder.
  pkill -9 -f -- "$state/" 2>/dev/null || true
  rm -rf "$state"
}

print_env() {
  cat <<EOF
export HADOOP_CONF_DIR='$state/conf'
export SPARK_CONF_DIR='$state/spark-conf'
export SPARK_LOCAL_IP=127.0.0.1
EOF
}

up() {
  if is_up; then
    say "already up ($(cat "$state/ready"))"
    return 0
  fi
  stop
  make -C "$here" --no-print-directory venv jars >&2
  "$here/scripts/ensure-maven.sh"
  # The S3 server's own environment, pinned in jvm/s3-server-requirements.txt (made once, kept).
  if ! cmp -s "$here/jvm/s3-server-requirements.txt" "$s3_venv/requirements.txt" 2>/dev/null; then
    rm -rf "$s3_venv"
    "${PYTHON:-python3}" -m venv "$s3_venv"
    "$s3_venv/bin/python" -m pip install --quiet -r "$here/jvm/s3-server-requirements.txt"
    cp "$here/jvm/s3-server-requirements.txt" "$s3_venv/requirements.txt"
  fi
  local java_home started
  java_home="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
  started=$(date +%s%N)
  mkdir -p "$state"
  trap 'say "start failed; stopping what was started"; stop' ERR

  # The daemons: Java's single-file launcher compiles and runs TestCluster.java (no build step).
  JAVA_HOME="$java_home" setsid nohup "$java_home/bin/java" -Xmx1g -Dtest.build.data="$state/yarn" \
    -Dsegspark.test.cluster.log="$state/daemons.log" \
    -cp "$here/jvm/test-cluster:$jars/test-cluster/*" \
    "$here/jvm/test-cluster/src/TestCluster.java" "$state" >"$state/hadoop.out" 2>&1 </dev/null &
  echo $! >"$state/hadoop.pid"
  # The S3 server: IAM checks every request after the first three (the set-up's user, policy and key).
  INITIAL_NO_AUTH_ACTION_COUNT=3 setsid nohup "$s3_venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" \
    >"$state/s3.log" 2>&1 </dev/null &
  echo $! >"$state/s3.pid"

  local waited=0
  # (The S3 server is probed by a bare TCP connection: an HTTP request would use up one of the three.)
  until [ -f "$state/ready" ] && (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; do
    for name in hadoop s3; do
      if ! alive "$name"; then
        say "the $name process stopped while starting; its log:"
        tail -n 20 "$state/$name".{out,log} 2>/dev/null >&2 || true
        stop
        exit 1
      fi
    done
    if [ "$waited" -ge 240 ]; then
      say "not up after 240 s; see $state/hadoop.out and $state/daemons.log"
      stop
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done

  # The cluster's Python: segspark's dependencies (those of this checkout's .venv) but not segspark,
  # as on a cluster's nodes; segspark reaches the driver and executors only through --py-files. A
  # path in a .pth file is on sys.path without its own .pth files being run, so the .venv's editable
  # install of segspark is not.
  if [ ! -x "$cluster_python/bin/python" ]; then
    "$venv/bin/python" -m venv --without-pip "$cluster_python"
  fi
  "$cluster_python/bin/python" - "$venv" <<'PY'
import pathlib, sys, sysconfig
venv_site = next(pathlib.Path(sys.argv[1]).glob("lib/python3*/site-packages"))
pathlib.Path(sysconfig.get_paths()["purelib"], "segspark-dependencies.pth").write_text(f"{venv_site}\n")
PY

  # S3: a user with an access key and a policy allowing S3, and the bucket; then Hadoop's and
  # Spark's configuration of the cluster, as a cluster's operator would write them.
  local pyspark_jars
  pyspark_jars="$("$venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
  "$s3_venv/bin/python" - "$state" "$s3_port" "$bucket" "$jars" "$cluster_python/bin/python" "$here/conf" "$pyspark_jars" <<'PY'
import pathlib, shutil, sys
import xml.etree.ElementTree as ET
import boto3

state, port, bucket, jars, python, repo_conf, pyspark_jars = sys.argv[1:]
endpoint = f"http://127.0.0.1:{port}"
setup = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **setup)
iam.create_user(UserName="segspark")
iam.put_user_policy(
    UserName="segspark", PolicyName="s3",
    PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
)
key = iam.create_access_key(UserName="segspark")["AccessKey"]
s3 = boto3.client(
    "s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
)
s3.create_bucket(Bucket=bucket)

core_site = pathlib.Path(state, "conf", "core-site.xml")
tree = ET.parse(core_site)
for name, value in {
    "fs.s3a.endpoint": endpoint,
    "fs.s3a.endpoint.region": "us-east-1",
    "fs.s3a.path.style.access": "true",
    "fs.s3a.connection.ssl.enabled": "false",
    "fs.s3a.access.key": key["AccessKeyId"],
    "fs.s3a.secret.key": key["SecretAccessKey"],
    # A missing bucket or a refused key fails at once instead of after S3A's retries.
    "fs.s3a.retry.limit": "2",
    "fs.s3a.attempts.maximum": "2",
}.items():
    prop = ET.SubElement(tree.getroot(), "property")
    ET.SubElement(prop, "name").text = name
    ET.SubElement(prop, "value").text = value
tree.write(core_site)

spark_conf = pathlib.Path(state, "spark-conf")
spark_conf.mkdir()
shutil.copy(pathlib.Path(repo_conf, "log4j2.properties"), spark_conf)
pathlib.Path(spark_conf, "spark-defaults.conf").write_text(f"""\
# The test cluster's Spark settings (scripts/test-cluster.sh up), as a cluster's operator writes them.
# Spark's jars are on every node already (they are this machine's): no 462 MB upload per submit.
spark.yarn.jars                      local:{pyspark_jars}/*
# S3A and its AWS SDK, on every node's class path.
spark.driver.extraClassPath          {jars}/s3a/*
spark.executor.extraClassPath        {jars}/s3a/*
# The nodes' Python: segspark's dependencies, not segspark.
spark.pyspark.python                 {python}
# This machine's host name does not resolve: containers talk over loopback.
spark.yarn.appMasterEnv.SPARK_LOCAL_IP   127.0.0.1
spark.executorEnv.SPARK_LOCAL_IP         127.0.0.1
spark.driver.memory                  2g
spark.yarn.am.memory                 512m
spark.executor.memory                1g
spark.executor.cores                 1
spark.executor.instances             2
spark.ui.enabled                     false
""")
PY
  trap - ERR
  local seconds memory
  seconds=$(( ($(date +%s%N) - started) / 1000000000 ))
  memory=$(( ($(ps -o rss= -p "$(cat "$state/hadoop.pid")") + $(ps -o rss= -p "$(cat "$state/s3.pid")")) / 1024 ))
  say "up in ${seconds} s, ${memory} MB resident (HDFS + YARN JVM and the S3 server):"
  say "  HDFS $(cut -d' ' -f1 "$state/ready"), YARN $(cut -d' ' -f2 "$state/ready") (web http://127.0.0.1:$((SEGSPARK_TC_RM_PORT + 56))), S3 http://127.0.0.1:$s3_port (bucket s3a://$bucket/)"
  say "  next: eval \"\$(scripts/test-cluster.sh env)\""
}

case "${1:-}" in
  up) up ;;
  env)
    if ! is_up; then
      say "not up; run: scripts/test-cluster.sh up"
      exit 1
    fi
    print_env
    ;;
  down)
    stop
    say "down"
    ;;
  status)
    if is_up; then
      say "up ($(cat "$state/ready"))"
    else
      say "not up"
      exit 1
    fi
    ;;
  *)
    echo "usage: scripts/test-cluster.sh up|env|down|status" >&2
    exit 64
    ;;
esac
