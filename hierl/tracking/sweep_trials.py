"""Which sweep trial, if any, this job runs as: the reporter a sweeper registers for hierl to find.

The library does not import any sweeper: a sweeper registers a finder (a function returning the running trial's
reporter, or None) under the entry-point group `hierl.trial_reporters`, as hierl's own `hierl_optuna` plugin does
in pyproject.toml. This lookup sits on the tracking floor because both the agents (which report scores,
`hierl.agents.trial_reporting`) and the trackers (which name a W&B run after its trial) ask it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Protocol


class ScoreReporter(Protocol):
    """An Optuna trial's reporter: `report` raises `optuna.TrialPruned` when the sweep's pruner says stop.

    A reporter may also name the job's own run folder as `run_dir` (hierl_optuna's does): then only the stage that
    writes that folder reports (`job_trial_reporter`).
    """

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
