"""The run lifecycle: every stage's steps run in one order, and the shared bookkeeping writes the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hierl.config.safety import SafetyConfig
from hierl.errors import ConfigError
from hierl.run.folder import RunFolder
from hierl.run.lifecycle import RunOutcome, TrainedPolicy, log_run_artifacts, run_stage
from hierl.safety import SafetyValidator
from hierl.tracking.checkpoints import Checkpoint


@dataclass
class RecordingTracker:
    summaries: list[dict[str, float]] = field(default_factory=list)

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        return None

    def summary(self, metrics: dict[str, float]) -> None:
        self.summaries.append(dict(metrics))

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        return None

    def finish(self, exit_code: int = 0) -> None:
        return None


@dataclass
class FakeCfg:
    safety: SafetyConfig = field(default_factory=SafetyConfig)


@dataclass
class RecordingStage:
    """A stage that records the order of its steps; `fail_check` makes its config check refuse."""

    run: RunFolder
    checkpoint: Checkpoint | None = None
    fail_check: bool = False
    calls: list[str] = field(default_factory=list)
    tracker: RecordingTracker = field(default_factory=RecordingTracker)
    cfg: Any = field(default_factory=FakeCfg)

    def check(self) -> None:
        self.calls.append("check")
        if self.fail_check:
            raise ConfigError("agent.x=1 is wrong")

    def find_checkpoint(self) -> Checkpoint | None:
        self.calls.append("find_checkpoint")
        return self.checkpoint

    def seed(self) -> None:
        self.calls.append("seed")

    def load_data(self) -> str:
        self.calls.append("load_data")
        return "data"

    def record_data(self, data: str) -> None:
        self.calls.append(f"record_data({data})")

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], data: str) -> None:
        self.calls.append(f"check_checkpoint({state['timesteps']})")

    def tracked(self) -> AbstractContextManager[RecordingTracker]:
        @contextmanager
        def opened() -> Iterator[RecordingTracker]:
            self.calls.append("open_tracker")
            yield self.tracker
            self.calls.append("close_tracker")

        return opened()

    def train(
        self, data: str, tracker: Any, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        self.calls.append("train")
        return TrainedPolicy("model", [{"timestep": 64.0, "sharpe": 0.5}], {"train/timesteps": 64.0})

    def select_and_test(
        self, data: str, trained: TrainedPolicy, validator: SafetyValidator, tracker: Any
    ) -> dict[str, float]:
        self.calls.append("select_and_test")
        assert isinstance(validator, SafetyValidator)
        return {"val/sharpe": 0.5, "test/sharpe": 0.25}

    def log_artifacts(self, tracker: Any) -> None:
        self.calls.append("log_artifacts")


def test_the_steps_run_in_lifecycle_order_and_the_contract_files_are_written(tmp_path: Path) -> None:
    stage = RecordingStage(RunFolder(tmp_path))
    outcome = run_stage(stage)
    assert stage.calls == [
        "check",
        "find_checkpoint",
        "seed",
        "load_data",
        "record_data(data)",
        "open_tracker",
        "train",
        "select_and_test",
        "log_artifacts",
        "close_tracker",
    ]
    expected = {"val/sharpe": 0.5, "test/sharpe": 0.25, "train/timesteps": 64.0}
    assert outcome == RunOutcome(tmp_path, expected)
    assert json.loads((tmp_path / "metrics.json").read_text()) == expected
    assert json.loads((tmp_path / "validation_history.json").read_text()) == [{"timestep": 64.0, "sharpe": 0.5}]
    assert stage.tracker.summaries == [expected]


def test_a_checkpoint_is_checked_after_the_data_and_before_training(tmp_path: Path) -> None:
    class SavedCheckpoint(Checkpoint):
        def state(self) -> dict[str, Any]:
            return {"timesteps": 128}

    stage = RecordingStage(RunFolder(tmp_path), checkpoint=SavedCheckpoint(tmp_path / "step", 128))
    run_stage(stage)
    assert stage.calls.index("record_data(data)") < stage.calls.index("check_checkpoint(128)")
    assert stage.calls.index("check_checkpoint(128)") < stage.calls.index("open_tracker")


def test_a_config_mistake_stops_before_any_data_or_file(tmp_path: Path) -> None:
    stage = RecordingStage(RunFolder(tmp_path), fail_check=True)
    with pytest.raises(ConfigError, match="wrong"):
        run_stage(stage)
    assert stage.calls == ["check"]
    assert list(tmp_path.iterdir()) == []


def test_the_tracker_keeps_the_contract_files_by_their_runfolder_names(tmp_path: Path) -> None:
    logged: dict[str, list[Path]] = {}

    class Artifacts(RecordingTracker):
        def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
            logged[name] = paths

    plots = ["equity_curve_test.png", "equity_curve_val.png", "positions_test.png", "learning_curve.png"]
    for name in plots:
        (tmp_path / name).write_bytes(b"")
    log_run_artifacts(Artifacts(), RunFolder(tmp_path), tmp_path / "best_model.zip")
    assert logged["best_model"] == [tmp_path / "best_model.zip"]
    names = ["metrics.json", "validation_history.json", "safety_report.json"]
    assert logged["metrics"] == [tmp_path / name for name in names]
    assert logged["plots"] == [tmp_path / name for name in plots]
    assert logged["results"] == [tmp_path / "backtest.parquet", tmp_path / "positions.parquet"]
