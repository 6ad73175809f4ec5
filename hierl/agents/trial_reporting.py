"""Trial reporting: each validation score goes to the running Optuna trial, whose pruner may stop the run.

The reporter comes from the `hierl_optuna` sweeper plugin when hierl runs inside one of its sweeps; the library
finds it through the plugin's `current_trial_reporter` (see `tests/test_import_layers.py` for the pending change
that hands it to the library instead).
"""

from __future__ import annotations

import math
from typing import Protocol

from stable_baselines3.common.callbacks import BaseCallback


class ScoreReporter(Protocol):
    """An Optuna trial's reporter: `report` raises `optuna.TrialPruned` when the sweep's pruner says stop."""

    def report(self, value: float, step: int) -> None: ...


def current_trial_reporter() -> ScoreReporter | None:
    """The running Optuna trial's reporter, or None outside a hierl Optuna sweep (or without the plugin)."""
    try:
        from hydra_plugins.hierl_optuna_sweeper.reporting import current_trial_reporter as find_reporter
    except ImportError:
        return None
    return find_reporter()


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
