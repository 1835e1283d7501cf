#!/usr/bin/env bash
# Make sure Maven and a JDK are there (the JVM dependencies of the test cluster and of s3a are
# fetched by Maven; the test cluster's launcher compiles one Java file): as root Debian's packages
# are installed when missing, else one line says what to install.
set -euo pipefail
missing=()
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-maven: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-maven: the JVM dependencies need ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
exit 1
