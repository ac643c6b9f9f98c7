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
# One installer at a time: the suite's other processes (pytest-xdist workers) may be installing
# mariadb-server (tests/servers/mariadb.py takes the same lock), and apt refuses a second user.
exec 9>/tmp/penstock-tests-apt.lock
flock 9
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
apt-get update -o DPkg::Lock::Timeout=600
DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 chromium
