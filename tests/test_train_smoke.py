"""End to end: `python -m hierl.train ... debug=smoke` writes the run-folder contract, and its numbers hold up."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from runs import hierl_train, metrics_without_timing, read_json, replay, run_ok

CONTRACT = [
    ".hydra/config.yaml",
    "model.zip",
    "best_model.zip",
    "metrics.json",
    "backtest.parquet",
    "positions.parquet",
    "baselines.parquet",
    "equity_curve_test.png",
    "positions_val.png",
    "positions_test.png",
    "learning_curve.png",
    "data_fingerprint.json",
    "normalisation.json",
    "run_state.json",
    "log.jsonl",
]


def train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run_ok(hierl_train("agent=ppo", "asset=equity", "debug=smoke", f"hydra.run.dir={run_dir}", *overrides))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    return run_dir, train(run_dir)


@pytest.mark.slow
def test_smoke_run_writes_every_file_of_the_contract(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, result = smoke_run
    missing = [name for name in CONTRACT if not (run_dir / name).is_file()]
    assert not missing
    assert json.loads((run_dir / "run_state.json").read_text())["status"] == "finished"
    assert str(run_dir) in result.stdout
    assert not list(run_dir.glob("**/*.tmp")), "a temporary file was left behind"


@pytest.mark.slow
def test_metrics_json_agrees_with_an_independent_computation_from_backtest_parquet(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    backtest = pl.read_parquet(run_dir / "backtest.parquet")
    assert {"date", "nav", "return", "turnover", "cost", "cash_return", "split"} <= set(backtest.columns)
    test = backtest.filter(pl.col("split") == "test").sort("date")
    returns = test["return"].to_numpy()
    nav = test["nav"].to_numpy()

    excess = returns - test["cash_return"].to_numpy()
    sharpe = excess.mean() / excess.std(ddof=1) * np.sqrt(252)
    peak = np.maximum.accumulate(np.concatenate([[1.0], nav]))
    drawdown = 1.0 - np.concatenate([[1.0], nav]) / peak
    tail = np.sort(returns)[: max(1, int(np.ceil(0.05 * len(returns))))]

    assert metrics["test/sharpe"] == pytest.approx(sharpe, rel=1e-9, abs=1e-12)
    assert metrics["test/max_drawdown"] == pytest.approx(drawdown.max(), rel=1e-9, abs=1e-12)
    assert metrics["test/cvar_95"] == pytest.approx(-tail.mean(), rel=1e-9, abs=1e-12)
    assert nav == pytest.approx(np.cumprod(1.0 + returns))
    for key in ("val/sharpe", "test/baseline/buy_and_hold/sharpe", "test/baseline/cash/sharpe"):
        assert key in metrics


@pytest.mark.slow
def test_positions_respect_the_leverage_bound(smoke_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    run_dir, _ = smoke_run
    positions = pl.read_parquet(run_dir / "positions.parquet")
    assert {"date", "symbol", "position"} <= set(positions.columns)
    gross = positions.group_by("date", "split").agg(pl.col("position").abs().sum())["position"]
    assert float(gross.max()) <= 1.0 + 1e-9


@pytest.mark.slow
def test_same_seed_same_metrics(smoke_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    first, _ = smoke_run
    train(tmp_path / "again")
    assert metrics_without_timing(first) == metrics_without_timing(tmp_path / "again")


@pytest.mark.slow
def test_evaluate_replays_the_policy_into_a_new_folder(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    replayed = replay(run_dir)
    assert read_json(replayed / "metrics.json")["test/sharpe"] == read_json(run_dir / "metrics.json")["test/sharpe"]
    assert (replayed / "backtest.parquet").is_file()


@pytest.mark.slow
def test_a_replay_on_other_dates_scales_features_as_the_training_run_did(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    replayed = replay(run_dir, "data.start=2011-06-01")
    saved = json.loads((run_dir / "normalisation.json").read_text())
    assert read_json(replayed / "normalisation.json") == saved
    fingerprint = read_json(replayed / "data_fingerprint.json")
    assert fingerprint["splits"]["train"]["start"] >= "2011-06-01"
