"""The training callbacks, one job each, in modules of their own (this module re-exports them):

- `agents.validation`: validation and selection (`ValidationCallback`), with early stopping
  (`StopOnNoImprovement`) composed onto it as an after-validation callback;
- `agents.trial_reporting`: reporting each validation score to a sweep's trial (`ReportToTrial`), composed the
  same way, and `current_trial_reporter`;
- `agents.checkpointing`: checkpoints at rollout boundaries and the state a resume restores;
- `agents.metrics_callback`: update statistics and reward terms sent to the tracker;
- `agents.stop_signal`: a clean stop on SIGINT/SIGTERM (`StopOnSignalCallback`, `TrainingInterrupted`);
- `agents.schedule`: `BoundarySchedule`, when validation and checkpoints fall due.
"""

from __future__ import annotations

from hierl.agents.checkpointing import (
    BoundaryCheckpointCallback,
    RolloutCheckpointCallback,
    Stateful,
    load_vec_env_state,
    restore_boundary_state,
    restore_training_state,
    vec_env_state,
)
from hierl.agents.metrics_callback import MetricsCallback, MetricsSink
from hierl.agents.schedule import BoundarySchedule
from hierl.agents.stop_signal import StopOnSignalCallback, TrainingInterrupted
from hierl.agents.trial_reporting import ReportToTrial, ScoreReporter, current_trial_reporter
from hierl.agents.validation import StopOnNoImprovement, ValidationCallback

__all__ = [
    "BoundaryCheckpointCallback",
    "BoundarySchedule",
    "MetricsCallback",
    "MetricsSink",
    "ReportToTrial",
    "RolloutCheckpointCallback",
    "ScoreReporter",
    "Stateful",
    "StopOnNoImprovement",
    "StopOnSignalCallback",
    "TrainingInterrupted",
    "ValidationCallback",
    "current_trial_reporter",
    "load_vec_env_state",
    "restore_boundary_state",
    "restore_training_state",
    "vec_env_state",
]
