"""experiments/train_ppo_agents.py: one agent per class and seed in its own folder, seed summaries, and a
signals table that is exactly what the selected models trade."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from runs import experiment, run_ok

from hierl.config.loading import load_config

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("ppo_agents") / "run"
    seeds = f"multistage.seeds=[{','.join(map(str, SEEDS))}]"
    run_ok(experiment("train_ppo_agents", "debug=smoke", "data=synthetic", seeds, f"hydra.run.dir={run_dir}"))
    return run_dir


@pytest.mark.slow
def test_every_class_and_seed_trains_in_its_own_folder_with_a_seed_summary(pipeline_run: Path) -> None:
    classes = sorted(p.name for p in (pipeline_run / "ppo").iterdir())
    assert classes == ["commodity", "equity"]  # data.synthetic's classes: multistage.asset_classes=null means all
    for asset_class in classes:
        folder = pipeline_run / "ppo" / asset_class
        sharpes = []
        for seed in SEEDS:
            run = folder / f"seed_{seed}"
            assert json.loads((run / "run_state.json").read_text())["status"] == "finished"
            metrics = json.loads((run / "metrics.json").read_text())
            sharpes.append(metrics["test/sharpe"])
        summary = json.loads((folder / "seeds_summary.json").read_text())
        assert summary["seeds"] == list(SEEDS)
        assert summary["values"] == sharpes
        assert summary["mean"] == pytest.approx(sum(sharpes) / len(sharpes))


@pytest.mark.slow
def test_signals_are_what_the_selected_models_trade(pipeline_run: Path) -> None:
    signals = pl.read_parquet(pipeline_run / "signals.parquet")
    assert signals.columns == ["date", "asset_class", "symbol", "signal", "split"]
    assert signals.select("date", "asset_class", "symbol").is_duplicated().sum() == 0
    assert set(signals["split"].unique().to_list()) == {"train", "val", "test"}
    assert float(signals["signal"].abs().max()) <= 1.0
    for asset_class in ("commodity", "equity"):
        runs = {seed: pipeline_run / "ppo" / asset_class / f"seed_{seed}" for seed in SEEDS}
        val_sharpe = {seed: json.loads((run / "metrics.json").read_text())["val/sharpe"] for seed, run in runs.items()}
        chosen = runs[max(val_sharpe, key=lambda seed: val_sharpe[seed])]
        cfg = load_config([f"asset={asset_class}", "debug=smoke", "data=synthetic"])
        positions = pl.read_parquet(chosen / "positions.parquet").sort("split", "symbol", "date")
        traded = signals.filter((pl.col("asset_class") == asset_class) & pl.col("split").is_in(["val", "test"]))
        traded = traded.sort("split", "symbol", "date")
        n_symbols = positions["symbol"].n_unique()
        # positions.parquet is dated on the row a position earns over, one row after the decision (the signal's
        # date); each symbol is held in a 1/N sleeve, so position = signal x max_leverage / N.
        assert positions.height == traded.height
        assert positions["symbol"].equals(traded["symbol"])
        assert (positions["date"] > traded["date"]).all()
        expected = traded["signal"] * cfg.env.max_leverage / n_symbols
        assert (positions["position"] - expected).abs().max() < 1e-12


@pytest.mark.slow
def test_without_the_test_block_the_seed_summary_is_of_the_validation_sharpe(tmp_path: Path) -> None:
    """`evaluate_test=false` leaves every seed's test block unread, so the spread over seeds is on validation."""
    run_dir = tmp_path / "run"
    seeds = f"multistage.seeds=[{','.join(map(str, SEEDS))}]"
    overrides = ("debug=smoke", "data=synthetic", "multistage.asset_classes=[equity]", "evaluate_test=false", seeds)
    run_ok(experiment("train_ppo_agents", *overrides, f"hydra.run.dir={run_dir}"))
    folder = run_dir / "ppo" / "equity"
    metrics = [json.loads((folder / f"seed_{seed}" / "metrics.json").read_text()) for seed in SEEDS]
    assert not any(key.startswith("test/") for m in metrics for key in m)
    summary = json.loads((folder / "seeds_summary.json").read_text())
    assert summary["metric"] == "val/sharpe"
    assert summary["values"] == [m["val/sharpe"] for m in metrics]
