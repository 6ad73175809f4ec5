"""`evaluate_test=false` (every sweep preset): a run backtests the validation block only, writes no `test/*` metric,
says so on the console with the command that tests it once, and `hierl.evaluate` tests it afterwards."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
from runs import hierl_train, read_json, replay, run_ok

from hierl.config.loading import load_config
from hierl.errors import ConfigError
from hierl.orchestration.policy_evaluation import EVALUATED_SPLITS, evaluated_splits


def test_a_single_run_evaluates_both_blocks_by_default(tmp_path: Path) -> None:
    assert evaluated_splits(load_config(), tmp_path) == EVALUATED_SPLITS == ("val", "test")


def test_without_the_test_block_a_replayable_run_names_hierl_evaluate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    assert evaluated_splits(load_config(["evaluate_test=false"]), tmp_path) == ("val",)
    assert "test block not evaluated (evaluate_test=false)" in caplog.text
    assert f"python -m hierl.evaluate run_dir={tmp_path}" in caplog.text


def test_without_the_test_block_a_meta_controller_is_rerun_with_evaluate_test(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    assert evaluated_splits(load_config(["experiment=hierarchy", "evaluate_test=false"]), tmp_path) == ("val",)
    assert f"re-run its overrides ({tmp_path / '.hydra' / 'overrides.yaml'}) with evaluate_test=true" in caplog.text


def test_a_safety_gate_on_the_skipped_test_block_is_refused_when_the_config_is_read(tmp_path: Path) -> None:
    # Refused with the config, before any data loads or a model trains, not when the run comes to evaluate.
    with pytest.raises(ConfigError, match=r"safety.split='test' gates on the test block.*set safety.split=val"):
        load_config(["evaluate_test=false", "safety.split=test"])
    gated_on_test = dataclasses.replace(load_config(["evaluate_test=false"]), evaluate_test=True)
    gated_on_test = dataclasses.replace(gated_on_test, safety=dataclasses.replace(gated_on_test.safety, split="test"))
    assert evaluated_splits(gated_on_test, tmp_path) == ("val", "test")


@pytest.mark.slow
def test_a_run_without_the_test_block_writes_no_test_result_and_is_tested_once_by_a_replay(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_ok(
        hierl_train("agent=ppo", "asset=equity", "debug=smoke", "evaluate_test=false", f"hydra.run.dir={run_dir}")
    )
    console = result.stdout + result.stderr
    assert "test block not evaluated (evaluate_test=false)" in console
    assert f"python -m hierl.evaluate run_dir={run_dir}" in console
    metrics = read_json(run_dir / "metrics.json")
    assert not [key for key in metrics if key.startswith("test/")] and "val/sharpe" in metrics
    assert pl.read_parquet(run_dir / "backtest.parquet")["split"].unique().to_list() == ["val"]
    assert pl.read_parquet(run_dir / "baselines.parquet")["split"].unique().to_list() == ["val"]
    assert not (run_dir / "equity_curve_test.png").exists() and (run_dir / "equity_curve_val.png").exists()
    assert json.loads((run_dir / "run_state.json").read_text())["status"] == "finished"

    tested = read_json(replay(run_dir) / "metrics.json")
    assert tested["val/sharpe"] == metrics["val/sharpe"], "the replay is the run's own selected policy"
    assert "test/sharpe" in tested
