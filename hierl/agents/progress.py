"""Training progress that tells the truth: a bar in a terminal, a heartbeat line in a log.

SB3's own bar counts to the `total_timesteps` it was asked for, while PPO trains in whole rollouts: a budget
of 100,000 steps trains 102,400 and the bar ends at 102,400/100,000. This callback's total is the budget
rounded up to what the algorithm will actually train. Without a terminal (a log file, CI, a Ray worker) it logs
one line at most every `HEARTBEAT_SECONDS` instead of drawing a bar.
"""

from __future__ import annotations

import math
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from hierl.tracking.heartbeat import HEARTBEAT_SECONDS, format_seconds
from hierl.tracking.logging import get_logger

log = get_logger("progress")

# A bar redraw costs far more than an env step: redraw after this many steps at the most often.
BAR_UPDATE_STEPS = 1024


def planned_timesteps(model: BaseAlgorithm, total_timesteps: int) -> int:
    """The step count training will end at: on-policy algorithms collect whole rollouts of n_steps x n_envs."""
    if isinstance(model, OnPolicyAlgorithm):
        rollout = model.n_steps * model.n_envs
        remaining = max(0, total_timesteps - model.num_timesteps)
        return model.num_timesteps + math.ceil(remaining / rollout) * rollout
    return total_timesteps


def interactive() -> bool:
    """A person watches the output live: stderr is a terminal."""
    return sys.stderr.isatty()


class TrainingProgress(BaseCallback):
    """A bar (with `show_bar`, in a terminal) or a heartbeat log line; the final line says what was trained."""

    def __init__(self, show_bar: bool, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(verbose=0)
        self.show_bar = show_bar and interactive()
        self.heartbeat_seconds = heartbeat_seconds
        self.total = 0
        self._first_step = 0
        self._started = 0.0
        self._next_beat = 0.0
        self._last_drawn = 0
        self._bar: Progress | None = None

    def _on_training_start(self) -> None:
        self.total = planned_timesteps(self.model, int(self.locals["total_timesteps"]))
        self._first_step = self.num_timesteps
        self._started = time.monotonic()
        self._next_beat = self._started + self.heartbeat_seconds
        if self.show_bar:
            self._bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task("training", total=self.total, completed=self.num_timesteps)

    def _rate(self) -> float:
        elapsed = time.monotonic() - self._started
        return (self.num_timesteps - self._first_step) / elapsed if elapsed > 0 else 0.0

    def _on_step(self) -> bool:
        if self._bar is not None:
            if self.num_timesteps - self._last_drawn >= BAR_UPDATE_STEPS:
                self._last_drawn = self.num_timesteps
                self._bar.update(self._task, completed=self.num_timesteps)
            return True
        now = time.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + self.heartbeat_seconds
            rate = self._rate()
            left = (self.total - self.num_timesteps) / rate if rate > 0 else math.inf
            log.info(
                "training: %s/%s steps (%.0f%%), %s steps/s, about %s left",
                f"{self.num_timesteps:,}",
                f"{self.total:,}",
                100.0 * self.num_timesteps / max(1, self.total),
                f"{rate:,.0f}",
                format_seconds(left) if math.isfinite(left) else "?",
            )
        return True

    def _on_training_end(self) -> None:
        # Whatever was planned, the bar ends at the steps actually trained (an early stop ends sooner).
        if self._bar is not None:
            self._bar.update(self._task, total=self.num_timesteps, completed=self.num_timesteps)
            self._bar.stop()
            self._bar = None
        log.info(
            "trained %s steps in %s (%s steps/s)",
            f"{self.num_timesteps - self._first_step:,}",
            format_seconds(time.monotonic() - self._started),
            f"{self._rate():,.0f}",
        )
