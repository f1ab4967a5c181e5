"""Processes a test starts (a broker, a worker, Prometheus): stopping them."""

from __future__ import annotations

import subprocess

#: A process that ignores SIGTERM this long is killed.
STOP_TIMEOUT_S = 30.0


def stop(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM ``proc`` and wait for it; SIGKILL it when it does not end in ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
