"""One lifecycle for every training stage: check, resume, data, train, select, gate, test, write.

`run_stage` runs the steps in that order and does the bookkeeping every stage shares (the safety validator,
the checkpoint checks, `metrics.json` and `validation_history.json` through `RunFolder`, the tracker's summary).
A stage (PPO in `orchestration.asset_run`, SAC in `orchestration.hierarchy_run`, CQL in `orchestration.cql_run`)
supplies only its own steps, as a `Stage`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hierl.config.run import TrainConfig
from hierl.run.folder import RunFolder
from hierl.safety import SafetyValidator
from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.trackers import MediaTracker, Tracker

Data = TypeVar("Data")
Trained = TypeVar("Trained")


@dataclass(frozen=True)
class RunOutcome:
    """What the entrypoint prints and returns to a sweeper."""

    run_dir: Path
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainedPolicy:
    """What training hands to selection and the bookkeeping: the stage's model (or models), the validation
    history, and the `train/...` metrics of the run."""

    model: Any
    history: list[dict[str, float]]
    train_metrics: dict[str, float]


class Stage(Protocol[Data]):
    """The steps a training stage implements; `run_stage` calls them in order."""

    @property
    def cfg(self) -> TrainConfig: ...

    @property
    def run(self) -> RunFolder: ...

    def check(self) -> None:
        """Every config mistake the stage can see, raised before data is loaded or a model is built."""
        ...

    def find_checkpoint(self) -> Checkpoint | None:
        """The checkpoint `resume=true` continues from, or None."""
        ...

    def seed(self) -> None: ...

    def load_data(self) -> Data:
        """The stage's data (and anything that must be known before training, e.g. its thread choice)."""
        ...

    def record_data(self, data: Data) -> None:
        """Write what data the run saw (data_fingerprint.json) and log it."""
        ...

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], data: Data) -> None: ...

    def tracked(self) -> AbstractContextManager[Tracker]:
        """The tracker of the run, open while it trains and tests."""
        ...

    def train(
        self, data: Data, tracker: Tracker, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        """Train (from scratch or from `checkpoint`) and keep the best-validation policy."""
        ...

    def select_and_test(
        self, data: Data, trained: TrainedPolicy, validator: SafetyValidator, tracker: Tracker
    ) -> dict[str, float]:
        """Save the final model, load the selected one, gate it on `safety.split`, backtest it and the baselines
        on every evaluated split and write their files; the flat metrics."""
        ...

    def log_artifacts(self, tracker: Tracker) -> None:
        """What the tracker keeps of the finished run (models, result files)."""
        ...


def log_run_artifacts(tracker: Tracker, run: RunFolder, best_model: Path) -> None:
    """The run's results as artefacts: the selected model, the metrics files, the plots, the tables; a tracker
    with a dashboard (W&B) also shows every plot as an image and the test backtest as a table."""
    tracker.log_artifact("best_model", "model", [best_model])
    tracker.log_artifact("metrics", "metrics", [run.metrics_path, run.validation_history_path, run.safety_report_path])
    tracker.log_artifact("plots", "plots", run.plot_paths())
    tracker.log_artifact("results", "results", [run.backtest_path, run.positions_path])
    if isinstance(tracker, MediaTracker):
        tracker.log_images(run.plot_paths())
        tracker.log_backtest_table(run.backtest_path, "test")


def run_stage(stage: Stage[Data]) -> RunOutcome:
    """The whole stage, in the order every stage shares; every file of the run-folder contract is written here or
    by the stage's steps."""
    stage.check()
    checkpoint = stage.find_checkpoint()
    stage.seed()
    validator = SafetyValidator.from_config(stage.cfg.safety)
    data = stage.load_data()
    stage.record_data(data)
    state = checkpoint.state() if checkpoint is not None else None
    if checkpoint is not None and state is not None:
        stage.check_checkpoint(checkpoint, state, data)
    with stage.tracked() as tracker:
        trained = stage.train(data, tracker, checkpoint, state)
        metrics = stage.select_and_test(data, trained, validator, tracker)
        metrics.update(trained.train_metrics)
        stage.run.write_metrics(metrics)
        stage.run.write_validation_history(trained.history)
        tracker.summary(metrics)
        stage.log_artifacts(tracker)
    return RunOutcome(stage.run.path, metrics)
