"""Child processes that end with the process that started them.

The demo starts a broker and a worker, each in its own session (so a Ctrl-C in
the terminal reaches the demo first, which stops them in order). If the demo
itself is killed with SIGKILL it cannot stop them; the kernel can: Linux sends
a child the signal set with ``prctl(PR_SET_PDEATHSIG)`` when its parent dies.
Elsewhere (no prctl) this does nothing and the children outlive a SIGKILLed demo.
The kernel watches the *thread* that started the child, not the process: a child
started from another thread (a timer, ``asyncio.to_thread``) would be signalled when
that thread ends, so only children started from the main thread are tied to it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess.Popen: the child receives ``sig`` when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None  # see the module docstring: the child would die with this thread
    parent = os.getpid()
    # Looked up here, not in the child: between fork and exec only the forking thread
    # exists, and loading a library there could wait on a lock another thread held.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:  # runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return in_child
