"""Stop on a signal: the first SIGINT or SIGTERM during training ends it cleanly, after a checkpoint."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.logging import get_logger

log = get_logger("agents")


class TrainingInterrupted(SystemExit):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint; exits with 128 + the signal number."""

    run_status = "interrupted"

    def __init__(self, signum: int, checkpoint: Checkpoint | None) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        where = f"checkpoint {self.checkpoint.path}" if self.checkpoint else "no checkpoint (nothing trained yet)"
        return f"interrupted by {signal.Signals(self.signum).name}; saved {where}; resume with resume=true"


class StopOnSignalCallback(BaseCallback):
    """Turns the first SIGINT or SIGTERM during training into a clean stop at the next env step.

    The handlers are installed only while training runs (and only in the main thread, where Python allows it);
    a second signal gets the previous handler, so an impatient user can still kill the run.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        super().__init__(verbose=0)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        log.warning("%s received: stopping at the next step and saving a checkpoint", signal.Signals(signum).name)
        self.restore_handlers()

    def restore_handlers(self) -> None:
        """Put back the handlers found at training start (idempotent; call it also when training raised)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _on_training_start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}

    def _on_step(self) -> bool:
        return self.received is None

    def _on_training_end(self) -> None:
        self.restore_handlers()
