"""End to end: `python -m hierl.train ... debug=smoke` writes the run-folder contract, and its numbers hold up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

CONTRACT = [
    ".hydra/config.yaml",
    "model.zip",
    "best_model.zip",
    "metrics.json",
    "backtest.parquet",
    "positions.parquet",
    "baselines.parquet",
    "equity_curve_test.png",
    "data_fingerprint.json",
    "normalisation.json",
    "run_state.json",
    "log.jsonl",
]


def train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hierl.train",
            "agent=ppo",
            "asset=equity",
            "debug=smoke",
            f"hydra.run.dir={run_dir}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


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
    a = json.loads((first / "metrics.json").read_text())
    b = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert {k: v for k, v in a.items() if k != "train/seconds"} == {k: v for k, v in b.items() if k != "train/seconds"}


@pytest.mark.slow
def test_evaluate_replays_the_policy_into_a_new_folder(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    result = subprocess.run(
        [sys.executable, "-m", "hierl.evaluate", f"run_dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    replays = [p for p in run_dir.parent.iterdir() if p.name.startswith(f"{run_dir.name}_replay_")]
    assert len(replays) >= 1
    original = json.loads((run_dir / "metrics.json").read_text())
    replayed = json.loads((sorted(replays)[0] / "metrics.json").read_text())
    assert replayed["test/sharpe"] == original["test/sharpe"]
    assert (replays[0] / "backtest.parquet").is_file()


@pytest.mark.slow
def test_a_replay_on_other_dates_scales_features_as_the_training_run_did(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    run_dir, _ = smoke_run
    result = subprocess.run(
        [sys.executable, "-m", "hierl.evaluate", f"run_dir={run_dir}", "data.start=2011-06-01"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    replays = sorted(p for p in run_dir.parent.iterdir() if p.name.startswith(f"{run_dir.name}_replay_"))
    replay = replays[-1]
    saved = json.loads((run_dir / "normalisation.json").read_text())
    assert json.loads((replay / "normalisation.json").read_text()) == saved
    fingerprint = json.loads((replay / "data_fingerprint.json").read_text())
    assert fingerprint["splits"]["train"]["start"] >= "2011-06-01"
