#!/usr/bin/env sh
# Installs what the image test needs on a Debian machine without a container engine:
# podman (with buildah's build code), runc as its runtime, mmdebstrap for a local base image.
# Run by deploy/install-tools.sh (so by `make test`); a no-op when podman already answers.
set -eu
missing=""
for tool in podman buildah mmdebstrap runc; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the container image test needs:$missing (Debian packages podman buildah mmdebstrap runc);" \
      "run deploy/install-tools.sh as root on Debian, or install them yourself" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # uidmap, slirp4netns, fuse-overlayfs: podman's recommends that matter; the rest is not wanted.
  apt-get install -y -qq --no-install-recommends podman buildah mmdebstrap runc uidmap \
    slirp4netns fuse-overlayfs containernetworking-plugins ca-certificates >/dev/null
fi
if ! out=$(podman --runtime runc info 2>&1); then
  echo "podman is installed but does not work here: $(echo "$out" | tail -1)" >&2
  exit 1
fi
