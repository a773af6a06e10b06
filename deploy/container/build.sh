#!/usr/bin/env sh
# Builds the worker image with podman or docker, whichever answers; used by `make image`
# and the tests. Extra arguments go to the build (e.g. --build-arg BASE_IMAGE=...).
#   deploy/container/build.sh [-t NAME] [BUILD ARGS...]      (default name: edc-latency:<version>)
set -eu
cd "$(dirname "$0")/../.."
engine=""
for candidate in podman docker; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
    engine=$candidate; break
  fi
done
if [ -z "$engine" ]; then
  echo "neither podman nor docker answers: install one (deploy/install-tools.sh installs podman on Debian)" >&2
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
case " $* " in *" -t "*|*" --tag "*) ;; *) set -- -t "edc-latency:$version" "$@" ;; esac
# pip in the build stage trusts what this machine trusts (a TLS-inspecting proxy's CA, say).
bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$bundle" ] && set -- --secret "id=ca-certificates,src=$bundle" "$@"
# podman's default OCI format drops HEALTHCHECK; the docker format keeps it.
[ "$engine" = podman ] && set -- --format docker "$@"
exec "$engine" build -f deploy/container/Containerfile "$@" .
