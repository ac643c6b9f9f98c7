#!/bin/sh
# The report tests drive a real headless Chromium; install Debian's package if it is missing.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "chromium is not installed and installing it needs root: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi
apt-get update -o DPkg::Lock::Timeout=600
DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 chromium
