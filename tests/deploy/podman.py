"""podman as the image test runs it: runc, ulimits the sandbox allows, a base from Debian.

A machine without a registry for base images gets one bootstrapped from Debian's packages
(deploy/container/build-local-base.sh, cached as a local image); the worker image is then
built by deploy/container/build.sh, the same script `make image` runs.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

IMAGE = "localhost/edc-latency:test"
# `podman stop` waits this long before SIGKILL; the Kubernetes grace period is longer.
STOP_TIMEOUT_S = 30
CONTAINER_DIR = Path("deploy/container")
SETUP_HINT = (
    "run `make tools` (deploy/install-tools.sh, as root) to install podman, runc, mmdebstrap"
)


def _within_hard_limit(limit: int, wanted: int) -> int:
    hard = resource.getrlimit(limit)[1]
    return wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)


def ulimit_flags() -> list[str]:
    """What the worker needs, never above this machine's hard limits.

    podman as root asks runc for nofile/nproc 1048576, which a sandboxed machine refuses
    ("error setting rlimit ... operation not permitted"; here nproc above 32768 fails
    although the shell's hard limit is higher). A worker holds a few dozen sockets and
    threads, so modest limits are enough everywhere.
    """
    nofile = _within_hard_limit(resource.RLIMIT_NOFILE, 16384)
    nproc = _within_hard_limit(resource.RLIMIT_NPROC, 4096)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def podman(*argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "--runtime", "runc", *argv], capture_output=True, text=True, timeout=timeout_s
    )


def require_podman() -> None:
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: {SETUP_HINT}")
    info = podman("info")
    if info.returncode != 0:
        raise RuntimeError(f"podman does not work here: {info.stderr.strip()[-300:]}")


def build_image() -> str:
    """Build the worker image on a local Debian base; its id."""
    require_podman()
    base = subprocess.run(
        [str(CONTAINER_DIR / "build-local-base.sh")], capture_output=True, text=True, timeout=600
    )
    if base.returncode != 0:
        raise RuntimeError(f"local base image: {base.stderr.strip()[-1000:]}")
    with tempfile.TemporaryDirectory(prefix="edc-image-") as folder:
        built = Path(folder) / "id"
        build = subprocess.run(
            [
                str(CONTAINER_DIR / "build.sh"),
                "-t",
                IMAGE,
                f"--iidfile={built}",
                "--build-arg",
                f"BASE_IMAGE={base.stdout.strip().splitlines()[-1]}",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if build.returncode != 0:
            raise RuntimeError(f"image build: {(build.stdout + build.stderr).strip()[-2000:]}")
        # The image by its id: the tag is the machine's, and another checkout's run may move it.
        return built.read_text().strip()
