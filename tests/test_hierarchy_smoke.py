"""End to end: `experiment=hierarchy debug=smoke` trains the sleeves, SAC, and writes the run-folder contract."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO
from runs import experiment, hierl_train, run_ok

CONTRACT = [
    "model.zip",
    "best_model.zip",
    "metrics.json",
    "backtest.parquet",
    "positions.parquet",
    "baselines.parquet",
    "signals.parquet",
    "equity_curve_test.png",
    "sleeve_weights_test.png",
    "data_fingerprint.json",
    "run_state.json",
]
BASELINES = ["equal_weight", "inverse_volatility", "hrp", "risk_parity", "min_cvar"]
ENTRYPOINTS = {"hierl.train": hierl_train(), "train_sac_controller": experiment("train_sac_controller")}


def smoke_hierarchy(folder: Path, *overrides: str) -> list[str]:
    """`hierl.train experiment=hierarchy debug=smoke` with `overrides`, into `folder`."""
    return [*hierl_train(), "experiment=hierarchy", "debug=smoke", *overrides, f"hydra.run.dir={folder}"]


@pytest.fixture(scope="module", params=sorted(ENTRYPOINTS))
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hierarchy") / "run"
    command = [*ENTRYPOINTS[request.param], "experiment=hierarchy", "debug=smoke", f"hydra.run.dir={folder}"]
    run_ok(command, timeout=300, cwd=REPO)
    return folder


@pytest.mark.slow
def test_the_run_folder_contract_is_written_with_the_baselines(run_dir: Path) -> None:
    assert not [name for name in CONTRACT if not (run_dir / name).is_file()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    classes = json.loads((run_dir / "data_fingerprint.json").read_text())["asset_class"]
    assert len(classes) >= 2
    names = BASELINES + [f"sleeve_{c}" for c in classes]
    for split in ("val", "test"):
        assert np.isfinite(metrics[f"{split}/sharpe"])
        for name in names:
            assert np.isfinite(metrics[f"{split}/baseline/{name}/sharpe"])
    for asset_class in classes:
        assert (run_dir / "sleeves" / asset_class / "best_model.zip").is_file()


@pytest.mark.slow
def test_the_selection_keys_and_the_learning_curve_come_from_the_validation_history(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "validation_history.json").read_text())
    assert metrics["val/n_evaluations"] == len(history) >= 1
    assert metrics["val/sharpe_final"] == history[-1]["sharpe"]
    assert metrics["val/sharpe"] == pytest.approx(max(row["sharpe"] for row in history), rel=1e-12)
    assert all(np.isfinite(row["train_mean_reward"]) for row in history)
    assert (run_dir / "learning_curve.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.slow
def test_files_agree_with_each_other(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    backtest = pl.read_parquet(run_dir / "backtest.parquet").filter(pl.col("split") == "test").sort("date")
    returns = backtest["return"].to_numpy()
    assert np.isclose(metrics["test/total_return"], np.prod(1.0 + returns) - 1.0, rtol=1e-9)
    positions = pl.read_parquet(run_dir / "positions.parquet").filter(pl.col("split") == "test")
    assert set(positions["level"].unique()) == {"sleeve", "asset"}
    sleeves = positions.filter(pl.col("level") == "sleeve").pivot(on="symbol", index="date", values="position")
    assert sleeves.height == backtest.height
    weights = sleeves.drop("date").to_numpy()
    assert np.all(weights >= 0.05 - 1e-9) and np.all(weights <= 0.6 + 1e-9) and np.all(weights.sum(axis=1) <= 1 + 1e-9)
    # Each asset-level position is its sleeve's weight x the asset's signal / the class's asset count, with the
    # signal of the decision bar before the realised bar (so a trading sleeve's positions add up to at most its
    # weight), or, on a bar its class does not trade, the drifted position it holds.
    expected = expected_asset_positions(run_dir)
    assert expected.height == positions.filter(pl.col("level") == "asset").height
    assert (expected["position"] != 0.0).any()
    np.testing.assert_allclose(expected["position"], expected["expected"], rtol=0, atol=1e-15)
    trading = expected.filter(pl.col("signal").is_not_null())
    gross = trading.group_by("date", "sleeve").agg(pl.col("position").abs().sum(), pl.col("weight").first())
    assert (gross["position"] <= gross["weight"] + 1e-12).all()


def expected_asset_positions(run_dir: Path) -> pl.DataFrame:
    """The test split's asset rows of positions.parquet beside what the other files say they must be.

    positions.parquet is dated by the realised bar; signals.parquet by the decision bar, the bar before it on the
    hierarchy's calendar (the union of the classes' bars). A class with a signal on the decision bar trades there to
    weight x signal / count; a class without one is closed there and holds: its position is the one of the row
    before, drifted by that row (which earned it 0) to the NAV after it, position / (1 + the row's return).
    """
    positions = pl.read_parquet(run_dir / "positions.parquet").filter(pl.col("split") == "test")
    signals = pl.read_parquet(run_dir / "signals.parquet").filter(pl.col("split") == "test")
    backtest = pl.read_parquet(run_dir / "backtest.parquet").filter(pl.col("split") == "test")
    realised = np.array(sorted(set(positions["date"].to_list())), dtype="datetime64[D]")
    calendar = np.union1d(np.array(signals["date"].unique().to_list(), dtype="datetime64[D]"), realised)
    decided = calendar[np.searchsorted(calendar, realised, side="left") - 1]
    assert np.all(decided < realised)
    counts = signals.group_by("asset_class").agg(pl.col("symbol").n_unique().alias("count"))
    weights = positions.filter(pl.col("level") == "sleeve").select("date", "sleeve", pl.col("position").alias("weight"))
    asset = positions.filter(pl.col("level") == "asset").sort("symbol", "date")
    previous = asset.select(
        "date",
        "symbol",
        (pl.col("position").shift(1).over("symbol")).alias("previous_position"),
        pl.col("date").shift(1).over("symbol").alias("previous_date"),
    )
    growth = backtest.select(pl.col("date").alias("previous_date"), (1.0 + pl.col("return")).alias("growth"))
    return (
        asset.join(pl.DataFrame({"date": realised, "decided": decided}), on="date")
        .join(weights, on=["date", "sleeve"])
        .join(signals.select(pl.col("date").alias("decided"), "symbol", "signal"), on=["decided", "symbol"], how="left")
        .join(counts, left_on="sleeve", right_on="asset_class")
        .join(previous, on=["date", "symbol"])
        .join(growth, on="previous_date", how="left")
        .with_columns(
            pl.when(pl.col("signal").is_not_null())
            .then(pl.col("weight") * pl.col("signal") / pl.col("count"))
            .otherwise(pl.col("previous_position") / pl.col("growth"))
            .alias("expected")
        )
    )


@pytest.mark.slow
def test_hierl_evaluate_refuses_a_meta_controller_run_in_one_line(run_dir: Path) -> None:
    command = [sys.executable, "-m", "hierl.evaluate", f"run_dir={run_dir}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "hierl.evaluate replays single-asset policies" in result.stderr
    assert not list(run_dir.parent.glob(f"{run_dir.name}_replay_*")), "a refused replay left its folder behind"


@pytest.mark.slow
def test_the_meta_controller_trains_only_on_out_of_fold_signals(run_dir: Path) -> None:
    """`multistage.sac_signals=out_of_fold` (the default): every training signal comes from an inner PPO unit whose
    own training block ended before the signal's date, and SAC decides only on those days."""
    signals = pl.read_parquet(run_dir / "signals.parquet")
    train = signals.filter(pl.col("split") == "train")
    assert set(train["source_fold"].unique().to_list()) == {"sleeves/oof_0"}  # debug=smoke: one inner block
    assert set(signals.filter(pl.col("split") != "train")["source_fold"].unique().to_list()) == {"sleeves"}
    first_signal = train["date"].min()
    assert isinstance(first_signal, date)
    for asset_class in json.loads((run_dir / "data_fingerprint.json").read_text())["asset_class"]:
        inner = json.loads((run_dir / "sleeves" / "oof_0" / asset_class / "data_fingerprint.json").read_text())
        # The inner unit's own record of what it trained on, independent of the provenance columns.
        assert date.fromisoformat(inner["splits"]["train"]["end"]) < first_signal
        assert date.fromisoformat(inner["splits"]["val"]["end"]) < first_signal
        rows = train.filter(pl.col("asset_class") == asset_class)
        assert (rows["source_train_end"] == date.fromisoformat(inner["splits"]["train"]["end"])).all()
    splits = json.loads((run_dir / "data_fingerprint.json").read_text())["splits"]
    assert date.fromisoformat(splits["train"]["start"]) >= first_signal
    outer_train_end = json.loads((run_dir / "sleeves" / "equity" / "data_fingerprint.json").read_text())["splits"]
    assert train["date"].max() <= date.fromisoformat(outer_train_end["train"]["end"])


def test_out_of_fold_blocks_that_do_not_fit_stop_before_any_sleeve_trains(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    command = smoke_hierarchy(folder, "multistage.oof_years=9")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "out-of-fold walk-forward (multistage.oof_folds=1 blocks of multistage.oof_years=9.0" in result.stderr
    assert "multistage.sac_signals=in_sample" in result.stderr
    assert not (folder / "sleeves").exists()


@pytest.mark.slow
def test_in_sample_signals_are_the_sleeves_own(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run_ok(
        smoke_hierarchy(folder, "multistage.sac_signals=in_sample", "multistage.asset_classes=[equity,index]"),
        timeout=300,
        cwd=REPO,
    )
    assert not (folder / "sleeves" / "oof_0").exists()
    used = pl.read_parquet(folder / "signals.parquet")
    assert used.equals(pl.read_parquet(folder / "sleeves" / "signals.parquet"))
    assert used.filter(pl.col("split") == "train").height > 0
