"""Trial reporting: each validation score goes to the running Optuna trial, whose pruner may stop the run.

The reporter comes from a sweeper when hierl runs inside one of its sweeps. The library does not import any sweeper:
a sweeper registers a finder (a function returning the running trial's reporter, or None) under the entry-point
group `hierl.trial_reporters`, as hierl's own `hierl_optuna` plugin does in pyproject.toml, so the library sits
below its plugins and another sweeper can report to hierl the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Protocol

from stable_baselines3.common.callbacks import BaseCallback


class ScoreReporter(Protocol):
    """An Optuna trial's reporter: `report` raises `optuna.TrialPruned` when the sweep's pruner says stop."""

    def report(self, value: float, step: int) -> None: ...


REPORTER_GROUP = "hierl.trial_reporters"


def _finders() -> list[Callable[[], ScoreReporter | None]]:
    finders = []
    for entry in sorted(entry_points(group=REPORTER_GROUP), key=lambda e: e.name):
        try:
            finders.append(entry.load())
        except ImportError:  # a sweeper whose own dependencies are missing cannot be running this job
            continue
    return finders


def current_trial_reporter() -> ScoreReporter | None:
    """The running trial's reporter from the first registered sweeper that has one, or None outside a sweep."""
    for find in _finders():
        reporter = find()
        if reporter is not None:
            return reporter
    return None


class ReportToTrial(BaseCallback):
    """After each validation, report its score to the trial; the pruner's `optuna.TrialPruned` is left to
    propagate out of training (the run ends "pruned"). Non-finite scores are not reported."""

    def __init__(self, reporter: ScoreReporter) -> None:
        super().__init__(verbose=0)
        self.reporter = reporter

    def _on_step(self) -> bool:
        score = getattr(self.parent, "last_score", math.nan)
        if math.isfinite(score):
            self.reporter.report(float(score), int(self.num_timesteps))
        return True
