"""`tests/output_drift.py`, the number-by-number comparison of two sets of output-record runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from output_drift import Drift, file_drift


def test_numbers_within_tolerance_pass_and_one_beyond_it_fails() -> None:
    drift = Drift(rtol=1e-12, atol=1e-15)
    drift.values({"sharpe": 1.0, "rows": [0.0, 2.0]}, {"sharpe": 1.0 + 4e-16, "rows": [5e-16, 2.0]}, "metrics")
    assert drift.within()
    assert drift.max_abs == 5e-16
    drift.values({"x": 1.0}, {"x": 1.0 + 1e-9}, "metrics")
    assert not drift.within()
    assert drift.outside == 1


def test_a_changed_string_or_key_is_a_mismatch_not_a_number() -> None:
    drift = Drift(rtol=1e-12, atol=1e-15)
    drift.values({"name": "a", "x": 1.0}, {"name": "b", "x": 1.0}, "metrics")
    assert drift.mismatch == "metrics.name: 'a' != 'b'"
    keys = Drift(rtol=1e-12, atol=1e-15)
    keys.values({"x": 1.0}, {"y": 1.0}, "metrics")
    assert keys.mismatch and not keys.within()


def test_parquet_and_json_files_are_compared_value_by_value(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for root, nav in ((old, 1.0), (new, 1.0 + 2e-16)):
        root.mkdir()
        pl.DataFrame({"nav": [nav, 1.5], "split": ["test", "test"]}).write_parquet(root / "backtest.parquet")
        (root / "metrics.json").write_text(json.dumps({"path": f"{root}/model.zip", "nav": nav}))
    table = file_drift(old / "backtest.parquet", new / "backtest.parquet", old, new, 1e-12, 1e-15)
    assert table.within() and table.max_abs > 0.0
    # The run root in a path is not a difference, as in the output record.
    metrics = file_drift(old / "metrics.json", new / "metrics.json", old, new, 1e-12, 1e-15)
    assert metrics.within()
