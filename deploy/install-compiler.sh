#!/usr/bin/env sh
# Installs Debian's C compiler and the Python headers when missing, so that the install
# compiles the hot modules (setup.py). Optional: without them (or without root) the
# package installs and runs interpreted, and says so.
#   deploy/install-compiler.sh [PYTHON]      (default: python3; the one the venv is made from)
set -eu
python=${1:-python3}
have() { command -v "$1" >/dev/null 2>&1; }
headers() {
  "$python" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'
}
if have cc && headers; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! have apt-get; then
  echo "edc-latency: no C compiler or Python headers, and no root apt-get: the install stays interpreted" >&2
  exit 1
fi
packages="gcc libc6-dev"
# Debian's python3 takes its headers from python3-dev; another Python brings its own.
headers || packages="$packages python3-dev"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages >/dev/null
echo "installed: $(cc --version | head -1)"
