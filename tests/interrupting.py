"""Start a training subprocess, wait for its first checkpoint, then signal it: the interrupt half of resume tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from hierl.tracking.checkpoints import CHECKPOINT_DIR, list_checkpoints


def start_until_first_checkpoint(
    command: list[str], run_dir: Path, timeout: float = 120, **popen: Any
) -> subprocess.Popen[str]:
    """The running training process, returned as soon as `run_dir` holds a complete checkpoint."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    deadline = time.monotonic() + timeout
    while not list_checkpoints(run_dir / CHECKPOINT_DIR):
        assert process.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.02)
    return process


def stop_with(process: subprocess.Popen[str], sig: signal.Signals, timeout: float = 60) -> tuple[str, float]:
    """Send `sig`; its stderr and the seconds it took to exit."""
    process.send_signal(sig)
    signalled = time.monotonic()
    _, stderr = process.communicate(timeout=timeout)
    return stderr, time.monotonic() - signalled
