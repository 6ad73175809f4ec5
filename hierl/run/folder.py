"""The run-folder contract: every file name of a run folder, and the one reader and writer of each JSON file.

Code that writes or reads a run's files goes through `RunFolder`, so a name is spelled once and `metrics.json`
has one writer. The tables (backtests, positions, baselines) and plots are written by the evaluation code; their
paths are named here too, so readers find them by the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hierl.errors import UserError
from hierl.safety.report import SAFETY_REPORT_FILE
from hierl.tracking.checkpoints import CHECKPOINT_DIR
from hierl.tracking.files import read_json, write_json
from hierl.tracking.logging import LOG_FILE_NAME
from hierl.tracking.run_state import STATE_FILE

HYDRA_DIR = ".hydra"
CONFIG_FILE = Path(HYDRA_DIR) / "config.yaml"
OVERRIDES_FILE = Path(HYDRA_DIR) / "overrides.yaml"
METRICS_FILE = "metrics.json"
VALIDATION_HISTORY_FILE = "validation_history.json"
MODEL_FILE = "model.zip"
BEST_MODEL_FILE = "best_model.zip"
RUN_STATE_FILE = STATE_FILE
LOG_FILE = LOG_FILE_NAME
DATA_FINGERPRINT_FILE = "data_fingerprint.json"
NORMALISATION_FILE = "normalisation.json"
BACKTEST_FILE = "backtest.parquet"
BASELINES_FILE = "baselines.parquet"
POSITIONS_FILE = "positions.parquet"
INIT_FILE = "init.json"
PREFILL_FILE = "prefill.json"
SIGNALS_FILE = "signals.parquet"
# PPO and SAC: validation Sharpe and training reward against steps (validation_history.json), baselines as lines.
LEARNING_CURVE_FILE = "learning_curve.png"
# Written by `hierl.evaluate` into every replay folder: which run and which policy file it replayed.
SOURCE_RUN_FILE = "source_run.json"
# A walk-forward run (`python -m hierl.walk_forward`): its folds, and the test segments stitched into one
# out-of-sample record (agent, baselines, positions) with its figure.
WALK_FORWARD_FILE = "walk_forward.json"
OOS_BACKTEST_FILE = "oos_backtest.parquet"
OOS_BASELINES_FILE = "oos_baselines.parquet"
OOS_POSITIONS_FILE = "oos_positions.parquet"
OOS_EQUITY_FILE = "oos_equity.png"
__all__ = [
    "BACKTEST_FILE",
    "BASELINES_FILE",
    "BEST_MODEL_FILE",
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "DATA_FINGERPRINT_FILE",
    "HYDRA_DIR",
    "INIT_FILE",
    "LEARNING_CURVE_FILE",
    "LOG_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "NORMALISATION_FILE",
    "OOS_BACKTEST_FILE",
    "OOS_BASELINES_FILE",
    "OOS_EQUITY_FILE",
    "OOS_POSITIONS_FILE",
    "OVERRIDES_FILE",
    "POSITIONS_FILE",
    "PREFILL_FILE",
    "RUN_STATE_FILE",
    "SAFETY_REPORT_FILE",
    "SIGNALS_FILE",
    "SOURCE_RUN_FILE",
    "VALIDATION_HISTORY_FILE",
    "WALK_FORWARD_FILE",
    "RunFolder",
]


@dataclass(frozen=True)
class RunFolder:
    """One run folder: the path of each file of the contract, and the reader and writer of its JSON files.

    Writes are atomic (`hierl.tracking.files`); reads of a garbled JSON file end in one `UserError` naming it.
    """

    path: Path

    def __init__(self, path: Path | str) -> None:
        object.__setattr__(self, "path", Path(path))

    # Paths of the contract.
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def overrides_path(self) -> Path:
        return self.path / OVERRIDES_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def validation_history_path(self) -> Path:
        return self.path / VALIDATION_HISTORY_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def best_model_path(self) -> Path:
        return self.path / BEST_MODEL_FILE

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def run_state_path(self) -> Path:
        return self.path / RUN_STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.path / LOG_FILE

    @property
    def safety_report_path(self) -> Path:
        return self.path / SAFETY_REPORT_FILE

    @property
    def data_fingerprint_path(self) -> Path:
        return self.path / DATA_FINGERPRINT_FILE

    @property
    def normalisation_path(self) -> Path:
        return self.path / NORMALISATION_FILE

    @property
    def backtest_path(self) -> Path:
        return self.path / BACKTEST_FILE

    @property
    def baselines_path(self) -> Path:
        return self.path / BASELINES_FILE

    @property
    def positions_path(self) -> Path:
        return self.path / POSITIONS_FILE

    @property
    def init_path(self) -> Path:
        return self.path / INIT_FILE

    @property
    def prefill_path(self) -> Path:
        return self.path / PREFILL_FILE

    @property
    def signals_path(self) -> Path:
        return self.path / SIGNALS_FILE

    @property
    def source_run_path(self) -> Path:
        return self.path / SOURCE_RUN_FILE

    @property
    def walk_forward_path(self) -> Path:
        return self.path / WALK_FORWARD_FILE

    @property
    def oos_backtest_path(self) -> Path:
        return self.path / OOS_BACKTEST_FILE

    @property
    def oos_baselines_path(self) -> Path:
        return self.path / OOS_BASELINES_FILE

    @property
    def oos_positions_path(self) -> Path:
        return self.path / OOS_POSITIONS_FILE

    @property
    def oos_equity_path(self) -> Path:
        return self.path / OOS_EQUITY_FILE

    def equity_curve_path(self, split: str) -> Path:
        return self.path / f"equity_curve_{split}.png"

    def equity_curve_paths(self) -> list[Path]:
        """The equity-curve plots the run wrote, one per evaluated split."""
        return sorted(self.path.glob("equity_curve_*.png"))

    def positions_plot_path(self, split: str) -> Path:
        """Single-class runs: exposure and the per-symbol position heatmap of one evaluated split."""
        return self.path / f"positions_{split}.png"

    @property
    def learning_curve_path(self) -> Path:
        return self.path / LEARNING_CURVE_FILE

    def plot_paths(self) -> list[Path]:
        """Every run figure the run wrote: equity curves, then position plots, then the learning curve."""
        positions = sorted(self.path.glob("positions_*.png"))
        learning_curve = [self.learning_curve_path] if self.learning_curve_path.is_file() else []
        return [*self.equity_curve_paths(), *positions, *learning_curve]

    # The JSON files.
    def has_metrics(self) -> bool:
        return self.metrics_path.is_file()

    def read_metrics(self) -> dict[str, float]:
        """metrics.json of a finished run (flat `<namespace>/<metric>` keys)."""
        metrics = read_json(self._existing(self.metrics_path))
        if not isinstance(metrics, dict):
            raise UserError(f"{self.metrics_path} is not a JSON object of metrics; rerun that run")
        return metrics

    def write_metrics(self, metrics: dict[str, float]) -> Path:
        """The one writer of metrics.json."""
        return write_json(self.metrics_path, metrics)

    def read_validation_history(self) -> list[dict[str, float]]:
        """One row per validation: the timestep (or gradient step) and the validation scores."""
        history: list[dict[str, float]] = read_json(self._existing(self.validation_history_path))
        return history

    def write_validation_history(self, history: list[dict[str, float]]) -> Path:
        return write_json(self.validation_history_path, history)

    def read_data_fingerprint(self) -> dict[str, Any]:
        fingerprint: dict[str, Any] = read_json(self._existing(self.data_fingerprint_path))
        return fingerprint

    def write_data_fingerprint(self, payload: dict[str, Any]) -> Path:
        return write_json(self.data_fingerprint_path, payload)

    def split_dates(self, split: str) -> tuple[str, str] | None:
        """The first and last date of a split's block as data_fingerprint.json records them (ISO strings); None
        for a folder without the file (a multi-stage run's own folder) or without that split."""
        if not self.data_fingerprint_path.is_file():
            return None
        bounds = self.read_data_fingerprint().get("splits", {}).get(split)
        if not isinstance(bounds, dict) or "start" not in bounds or "end" not in bounds:
            return None
        return str(bounds["start"]), str(bounds["end"])

    def read_normalisation(self) -> dict[str, Any] | None:
        """The saved feature scaling as written (None for runs that predate the file); see
        `hierl.orchestration.policy_evaluation.read_normalisation` for the checked form."""
        if not self.normalisation_path.is_file():
            return None
        normalisation: dict[str, Any] = read_json(self.normalisation_path)
        return normalisation

    def write_normalisation(self, normalisation: dict[str, Any]) -> Path:
        return write_json(self.normalisation_path, normalisation)

    def read_init(self) -> dict[str, Any] | None:
        """The warm-start record (None for a run that started from scratch)."""
        if not self.init_path.is_file():
            return None
        record: dict[str, Any] = read_json(self.init_path)
        return record

    def write_init(self, record: dict[str, Any]) -> Path:
        return write_json(self.init_path, record)

    def write_prefill(self, record: dict[str, Any]) -> Path:
        return write_json(self.prefill_path, record)

    def read_walk_forward(self) -> dict[str, Any]:
        """A walk-forward run's folds: each fold's block dates, seeds and status."""
        record: dict[str, Any] = read_json(self._existing(self.walk_forward_path))
        return record

    def write_walk_forward(self, record: dict[str, Any]) -> Path:
        return write_json(self.walk_forward_path, record)

    def is_replay(self) -> bool:
        return self.source_run_path.is_file()

    def read_source_run(self) -> dict[str, Any]:
        source: dict[str, Any] = read_json(self._existing(self.source_run_path))
        return source

    def write_source_run(self, source_run: Path, policy_file: str) -> Path:
        return write_json(self.source_run_path, {"run_dir": str(source_run.resolve()), "policy": policy_file})

    def _existing(self, path: Path) -> Path:
        if not path.is_file():
            raise UserError(f"{self.path} has no {path.name}; point at the folder of a finished run")
        return path
