"""Prometheus-family servers (Prometheus, Alertmanager) a test started: ready, then stopped."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

from agents.harness.waiting import wait_for


def until_ready(url: str, name: str, seconds: float = 30.0) -> None:
    """Return once ``url``/-/ready answers; RuntimeError naming ``name`` after ``seconds``."""

    def ready() -> bool:
        with urllib.request.urlopen(url + "/-/ready", timeout=1):
            return True

    if not wait_for(ready, seconds, ignoring=(OSError,)):
        raise RuntimeError(f"{name} did not become ready")


def stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """End the server (killed if it ignores SIGTERM for 10 s) and remove its folder."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(folder, ignore_errors=True)
