#!/usr/bin/env sh
# Installs Debian's prometheus, promtool, amtool and Alertmanager when missing, and the C
# compiler of the compiled modules (install-compiler.sh). The tests run them as
# throwaway processes on loopback; the packages' own daemons are not wanted, so
# policy-rc.d forbids service starts during the install. Then podman and what the
# image test needs (deploy/container/install-podman.sh).
set -eu
here=$(dirname "$0")
# The C compiler for the compiled modules (setup.py); optional, so its failure is not ours.
"$here/install-compiler.sh" || true
have() { command -v "$1" >/dev/null 2>&1; }
# tests/deploy/test_alertmanager_inhibitions.py runs a real Alertmanager.
if have promtool && have amtool && have prometheus && { have prometheus-alertmanager || have alertmanager; }; then
  exec "$here/container/install-podman.sh"
fi
if [ "$(id -u)" != 0 ]; then
  echo "prometheus/promtool/amtool/alertmanager are missing; run as root so apt-get can install them" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
[ "$created" = 1 ] && rm -f "$policy"
echo "installed: $(prometheus --version 2>&1 | head -1)"
exec "$here/container/install-podman.sh"
