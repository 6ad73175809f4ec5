"""Finding run folders below a root and reading what each one says about itself.

A run folder (see docs/outputs.md) is any folder below the root with `.hydra/config.yaml` and `metrics.json` or
`run_state.json`. Every file is read through `RunFolder`, which owns the names; this module adds what a
comparison needs on top: a folder without a state file has status "unknown" (never read as finished), a NaN
metric is no value, and a metric that is not a number names its key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from hierl.errors import ComparisonError, NoRunsError
from hierl.run.folder import CONFIG_FILE, HYDRA_DIR, RunFolder
from hierl.tracking.run_state import read_state

FINISHED = "finished"
# A run folder with metrics but no state file predates state tracking or was copied without it.
UNKNOWN_STATUS = "unknown"
FINGERPRINT_KEY = "data_fingerprint"
SPLIT_COLUMNS = ["split", "date", "nav", "return", "cash_return"]


@dataclass(frozen=True)
class RunRecord:
    """What one run folder says about itself.

    Attributes:
        path: the run folder.
        run: its path relative to the compared root ("." for the root itself).
        status: "finished", "running", "failed" or "unknown" (no run_state.json).
        metrics: metrics.json as read (empty when the run wrote none).
        config: the flattened config (`agent.learning_rate`), lists as JSON text, plus the data fingerprint.
        replay: the folder is a replay of another run (`hierl.evaluate`), not a trial of its own.
        command_line_keys: the config keys its command line set (`.hydra/overrides.yaml`), in a sweep the swept ones.
    """

    path: Path
    run: str
    status: str
    metrics: dict[str, float]
    config: dict[str, Any]
    replay: bool = False
    command_line_keys: tuple[str, ...] = ()


def is_run_folder(folder: RunFolder) -> bool:
    return folder.config_path.is_file() and (folder.has_metrics() or folder.run_state_path.is_file())


def find_run_dirs(root: Path) -> list[Path]:
    """Every run folder at or below `root`, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise NoRunsError(f"{root} is not a folder; pass a folder holding run folders, e.g. outputs/ or multirun/")
    candidates = {config.parent.parent for config in root.rglob(CONFIG_FILE.name) if config.parent.name == HYDRA_DIR}
    return sorted(d for d in candidates if is_run_folder(RunFolder(d)))


def read_run(root: Path, run_dir: Path) -> RunRecord:
    """Read one run folder, raising a `UserError` for a file that is not what the contract says."""
    folder = RunFolder(run_dir)
    config = _read_yaml(folder.config_path)
    if not isinstance(config, dict):
        raise ComparisonError(
            f"{folder.config_path} is not a YAML mapping; re-run that job or move its folder out of {root}"
        )
    flat = flatten_config(config)
    if folder.data_fingerprint_path.is_file():
        fingerprint = folder.read_data_fingerprint()
        if isinstance(fingerprint, dict) and "fingerprint" in fingerprint:
            flat[FINGERPRINT_KEY] = str(fingerprint["fingerprint"])
    return RunRecord(
        path=run_dir,
        run=run_dir.relative_to(root).as_posix(),
        status=read_status(folder),
        metrics=read_metrics(folder, root),
        config=flat,
        replay=folder.is_replay(),
        command_line_keys=command_line_keys(folder),
    )


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys, each value one table cell: lists and empty mappings become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, f"{name}."))
        elif isinstance(value, list | dict):
            flat[name] = json.dumps(value, default=str)
        elif value is None or isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def command_line_keys(folder: RunFolder) -> tuple[str, ...]:
    """The keys of `key=value`, `+key=value` and `~key` overrides of the run's command line (none without the file)."""
    if not folder.overrides_path.is_file():
        return ()
    overrides = _read_yaml(folder.overrides_path)
    if not isinstance(overrides, list):
        raise ComparisonError(f"{folder.overrides_path} is not a YAML list of overrides; re-run that job")
    return tuple(str(item).lstrip("+~").split("=", 1)[0] for item in overrides)


def read_status(folder: RunFolder) -> str:
    """The run's status; "unknown" without a state file."""
    if not folder.run_state_path.is_file():
        return UNKNOWN_STATUS
    state = read_state(folder.path)
    if not isinstance(state, dict) or not isinstance(state.get("status"), str):
        raise ComparisonError(f'{folder.run_state_path} has no "status" string; re-run that job or delete the file')
    return str(state["status"])


def read_metrics(folder: RunFolder, root: Path) -> dict[str, float]:
    """metrics.json as numbers (empty without the file); NaN is no value, so it never ranks first."""
    if not folder.has_metrics():
        return {}
    flat: dict[str, float] = {}
    for key, value in folder.read_metrics().items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ComparisonError(
                f"{folder.metrics_path}: metric {key!r} is {value!r}, not a number; fix the file or move the run "
                f"out of {root}"
            )
        flat[key] = float(value)
    return flat


def read_split(run_dir: Path, split: str) -> pl.DataFrame | None:
    """`date`, `nav`, `return`, `cash_return` of one split from backtest.parquet, by date; None when it has none."""
    path = RunFolder(run_dir).backtest_path
    if not path.is_file():
        return None
    try:
        frame = pl.read_parquet(path, columns=SPLIT_COLUMNS)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ComparisonError(
            f"cannot read {path} ({type(error).__name__}); it needs columns {', '.join(SPLIT_COLUMNS)}: "
            "re-run that job or delete the file"
        ) from None
    rows = frame.filter(pl.col("split") == split).sort("date").drop("split")
    return rows if rows.height else None


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ComparisonError(
            f"cannot parse {path} ({type(error).__name__}); re-run that job or move its folder out of the compared tree"
        ) from None
