"""A one-line sign of life every few seconds of long work, for output nobody watches live (a log file, CI, Ray).

A progress bar needs a terminal; in a log a silent minute looks like a hang. `heartbeat` logs
"<what>: still running (<elapsed>)" from a background thread while its block runs, so every long piece of work
(a Gold build, a wait for pipeline units) says that it is alive without knowing how far it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hierl.tracking.logging import get_logger

log = get_logger("progress")

HEARTBEAT_SECONDS = 10.0


def format_seconds(seconds: float) -> str:
    """`42 s`, `3 min 05 s`: short enough for a log line."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@contextmanager
def heartbeat(what: str, status: Callable[[], str] | None = None, every: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Log a line about `what` every `every` seconds until the block ends; `status()` may add how far it is."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            detail = f", {status()}" if status is not None else ""
            log.info("%s: still running (%s%s)", what, format_seconds(time.monotonic() - started), detail)

    thread = threading.Thread(target=beat, name=f"heartbeat: {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
