"""The run-folder contract: one name per file, JSON files read back what was written, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hierl.errors import UserError
from hierl.run import folder as contract
from hierl.run.folder import RunFolder


def test_every_file_name_is_distinct() -> None:
    names = [str(getattr(contract, name)) for name in contract.__all__ if name != "RunFolder"]
    assert len(names) == len(set(names))


def test_metrics_read_back_exactly_and_the_file_is_sorted_json(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    metrics = {"val/sharpe": 0.1 + 0.2, "test/sharpe": -1.0 / 3.0, "train/timesteps": 128.0}
    run.write_metrics(metrics)
    assert run.read_metrics() == metrics
    text = (tmp_path / "metrics.json").read_text()
    assert text == json.dumps(metrics, indent=2, sort_keys=True) + "\n"


def test_paths_are_inside_the_folder(tmp_path: Path) -> None:
    run = RunFolder(str(tmp_path))
    assert run.metrics_path == tmp_path / "metrics.json"
    assert run.best_model_path == tmp_path / "best_model.zip"
    assert run.checkpoints_dir == tmp_path / "checkpoints"
    assert run.config_path == tmp_path / ".hydra" / "config.yaml"
    assert run.equity_curve_path("test") == tmp_path / "equity_curve_test.png"
    assert run.positions_plot_path("val") == tmp_path / "positions_val.png"
    assert run.learning_curve_path == tmp_path / "learning_curve.png"


def test_plot_paths_list_every_figure_the_run_wrote(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert run.plot_paths() == []
    for name in ("learning_curve.png", "positions_val.png", "equity_curve_val.png", "equity_curve_test.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "positions.parquet").write_bytes(b"")
    names = ["equity_curve_test.png", "equity_curve_val.png", "positions_val.png", "learning_curve.png"]
    assert run.plot_paths() == [tmp_path / name for name in names]


def test_split_dates_are_the_blocks_in_the_data_fingerprint(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert run.split_dates("test") is None
    run.write_data_fingerprint({"splits": {"test": {"start": "2017-09-18", "end": "2018-12-31", "rows": 324}}})
    assert run.split_dates("test") == ("2017-09-18", "2018-12-31")
    assert run.split_dates("val") is None


def test_a_missing_or_garbled_metrics_file_is_one_line_naming_it(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    with pytest.raises(UserError, match=re.escape("has no metrics.json")):
        run.read_metrics()
    (tmp_path / "metrics.json").write_text("{")
    with pytest.raises(UserError, match=re.escape("metrics.json")):
        run.read_metrics()
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a JSON object"):
        run.read_metrics()


def test_optional_files_read_as_none_when_absent(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert run.read_init() is None and run.read_normalisation() is None and not run.is_replay()
    run.write_source_run(tmp_path / "source", "best_model.zip")
    assert run.is_replay()
    assert run.read_source_run() == {"run_dir": str((tmp_path / "source").resolve()), "policy": "best_model.zip"}


def test_validation_history_round_trips(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    history = [{"timestep": 64.0, "sharpe": 0.5}, {"timestep": 128.0, "sharpe": -0.25}]
    run.write_validation_history(history)
    assert run.read_validation_history() == history
