"""Trial reporting: each validation score goes to the running Optuna trial, whose pruner may stop the run.

The reporter comes from a sweeper when hierl runs inside one of its sweeps. The library does not import any sweeper:
a sweeper registers a finder (a function returning the running trial's reporter, or None) under the entry-point
group `hierl.trial_reporters`, as hierl's own `hierl_optuna` plugin does in pyproject.toml, so the library sits
below its plugins and another sweeper can report to hierl the same way.
"""

from __future__ import annotations

import math
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

# Re-exported: the lookup lives with the trackers, which name a W&B run after its trial.
from hierl.tracking.sweep_trials import REPORTER_GROUP, ScoreReporter, current_trial_reporter

__all__ = [
    "REPORTER_GROUP",
    "ReportToTrial",
    "ScoreReporter",
    "current_trial_reporter",
    "job_trial_reporter",
    "report_score",
    "report_to_trial",
]


def job_trial_reporter(run_dir: Path) -> ScoreReporter | None:
    """The running trial's reporter for the stage whose run folder is `run_dir`, if that folder is the job's own.

    A stage trained inside the job (the hierarchy's PPO sleeves, in `<job>/sleeves/<class>/`) gets None: its
    validation scores are not the trial's, and reporting them would record and prune the wrong numbers.
    """
    reporter = current_trial_reporter()
    # A reporter that does not name the job's folder (another sweeper's, written before `run_dir`) reports as ever.
    job_dir = getattr(reporter, "run_dir", None)
    if reporter is None or job_dir is None:
        return reporter
    return reporter if Path(run_dir).resolve() == Path(job_dir).resolve() else None


def report_score(reporter: ScoreReporter | None, score: float, step: int) -> None:
    """Report one validation `score` at `step` to the trial (nothing outside a sweep, nothing for a non-finite
    score); the pruner's `optuna.TrialPruned` propagates to end the run "pruned".

    For training loops that are not SB3 callbacks (CQL's); SB3 stages compose `ReportToTrial` instead.
    """
    if reporter is not None and math.isfinite(score):
        reporter.report(float(score), int(step))


class ReportToTrial(BaseCallback):
    """After each validation, report its score to the trial; the pruner's `optuna.TrialPruned` is left to
    propagate out of training (the run ends "pruned"). Non-finite scores are not reported."""

    def __init__(self, reporter: ScoreReporter) -> None:
        super().__init__(verbose=0)
        self.reporter = reporter

    def _on_step(self) -> bool:
        report_score(self.reporter, getattr(self.parent, "last_score", math.nan), self.num_timesteps)
        return True


def report_to_trial(run_dir: Path) -> list[BaseCallback]:
    """`[ReportToTrial(...)]` for the job's own stage in a sweep that takes intermediate values (see
    `job_trial_reporter`), `[]` otherwise: what an SB3 stage appends to its `ValidationCallback`'s
    `after_validation`."""
    reporter = job_trial_reporter(run_dir)
    return [] if reporter is None else [ReportToTrial(reporter)]
