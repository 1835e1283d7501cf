#!/usr/bin/env bash
# Make sure a Java 17+ runtime is there for Spark: install Debian's openjdk-17-jre-headless when
# running as root, else stop with one line saying what to install.
set -euo pipefail

java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

major="$(java_major)"
if [ "${major:-0}" -ge 17 ] 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-java: Java 17+ not found (found: ${major:-none}); installing openjdk-17-jre-headless" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  exit 0
fi
echo "ensure-java: Spark needs Java 17 or newer; install it (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless)" >&2
exit 1
