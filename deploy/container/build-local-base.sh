#!/usr/bin/env sh
# Builds a Python base image from Debian's packages alone, for machines that reach Debian's
# archive but no container registry (the tests' machines). Prints the image's name.
# Reused when it exists: the bootstrap costs about a minute and 130 MB.
#   deploy/container/build-local-base.sh [SUITE]      (default: this machine's Debian suite)
set -eu
suite=${1:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
image="localhost/edc-latency-base:$suite"
if podman image exists "$image"; then
  echo "$image"
  exit 0
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "mmdebstrap is missing: run deploy/install-tools.sh as root (it installs podman's tools)" >&2
  exit 1
fi
# minbase + python3-venv (ensurepip, so the image can make a virtualenv) + CA certificates;
# merged-usr as every Debian since bookworm. Through a file, not a pipe: a bootstrap that
# fails half-way must not leave a truncated base image behind.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/base.tar"
podman import --quiet "$work/base.tar" "$image" >/dev/null
echo "$image"
