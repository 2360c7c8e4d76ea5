"""Child processes die with the process that started them: training's DataLoader workers and their forkserver
must not live on (about 540 MB) when `actionrec train` is killed with SIGKILL, which no handler sees.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_when_gone(pid: int, every_s: float = 0.5) -> threading.Thread:
    """A daemon thread that ends this process as soon as process `pid` is gone. For a DataLoader worker started
    by a forkserver: its parent is the forkserver, so neither torch's watchdog (which watches the parent) nor
    `die_with_parent` notices the training process dying."""

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # it exists, as another user's: not ours to judge
            time.sleep(every_s)

    thread = threading.Thread(target=watch, name="actionrec-lifeline", daemon=True)
    thread.start()
    return thread
