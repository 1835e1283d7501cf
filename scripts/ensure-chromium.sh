#!/usr/bin/env bash
# The test bootstrap's browser: Debian's chromium for the report's browser test and --png.
# Installed with apt when running as root; otherwise one line says why the browser tests will skip.
set -uo pipefail
for name in chromium chromium-browser google-chrome; do
  command -v "$name" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium (for the report's browser test)"
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/tmp/segspark-chromium-apt.log 2>&1 ||
     { apt-get update -q >>/tmp/segspark-chromium-apt.log 2>&1 &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >>/tmp/segspark-chromium-apt.log 2>&1; }; then
    exit 0
  fi
  echo "ensure-chromium: apt could not install chromium (see /tmp/segspark-chromium-apt.log); browser tests will skip"
else
  echo "ensure-chromium: no chromium and no root apt here; the browser tests will skip (apt-get install chromium)"
fi
exit 0
