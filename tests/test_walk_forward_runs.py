"""End to end at smoke budgets: `python -m hierl.walk_forward` with both stages on prices from hierl's synthetic
generator. It writes the run-folder contract, SAC trains on out-of-fold signals only, no out-of-sample position
depends on a later price, and an interrupted run resumes fold by fold to the uninterrupted result."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO
from interrupting import stop_with
from runs import WALK_FORWARD_SMOKE, experiment, hierl_walk_forward, run_ok

from hierl.config.data import SyntheticConfig
from hierl.data.sources.synthetic import generate_synthetic
from hierl.evaluation.metrics import compute_metrics
from hierl.run.folder import RunFolder
from hierl.tracking.checkpoints import CHECKPOINT_DIR, list_checkpoints
from hierl.tracking.run_state import read_state

N_DAYS = 700
# One class of two symbols keeps the file near a minute of CPU: a fold is then two PPO units and one SAC unit.
CLASSES = ["equity"]
# Two folds of 50 test days tile the last 100 days; T lies inside the second fold's test block.
T_ROW = 670

RECORD_FILES = ["oos_backtest.parquet", "oos_baselines.parquet", "oos_positions.parquet"]


def walk_forward(prices: Path, run_dir: Path, *extra: str) -> list[str]:
    return hierl_walk_forward(
        *WALK_FORWARD_SMOKE,
        f"data.path={prices}",
        f"hydra.run.dir={run_dir}",
        *extra,
    )


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, date]:
    """The synthetic market as a file, and a copy whose prices from day T on follow another path."""
    folder = tmp_path_factory.mktemp("walk_forward_prices")
    frame = generate_synthetic(SyntheticConfig(n_assets=2, n_days=N_DAYS, asset_classes=CLASSES))
    first_changed = frame["date"].unique().sort()[T_ROW]
    original, changed = folder / "prices.parquet", folder / "changed.parquet"
    frame.write_parquet(original)
    rng = np.random.default_rng(7)
    path = np.exp(np.cumsum(rng.normal(0.0, 0.02, size=frame.height)))
    factor = pl.when(pl.col("date") >= first_changed).then(pl.Series(path)).otherwise(1.0)
    frame.with_columns(pl.col(c) * factor for c in ("open", "high", "low", "close")).write_parquet(changed)
    return original, changed, first_changed


@pytest.fixture(scope="module")
def base(prices: tuple[Path, Path, date], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("walk_forward") / "base"
    run_ok(walk_forward(prices[0], run_dir), timeout=900, cwd=REPO)
    return run_dir


@pytest.mark.slow
def test_a_walk_forward_with_both_stages_writes_its_record(base: Path) -> None:
    run = RunFolder(base)
    assert read_state(base)["status"] == "finished"
    for path in (run.walk_forward_path, run.metrics_path, run.oos_equity_path, *(base / f for f in RECORD_FILES)):
        assert path.is_file(), path
    folds = run.read_walk_forward()["folds"]
    assert [f["fold"] for f in folds] == [0, 1] and {f["status"] for f in folds} == {"finished"}
    record = pl.read_parquet(run.oos_backtest_path)
    assert record.columns == ["date", "fold", "seed", "nav", "return", "turnover", "cost", "cash_return"]
    # Each fold's segment is exactly its test block, and the blocks follow each other without gap or overlap.
    days = record["date"].to_list()
    assert days == sorted(set(days)) and len(days) == 100
    for fold in folds:
        segment = record.filter(pl.col("fold") == fold["fold"])
        assert str(segment["date"].min()) == fold["test_start"] and str(segment["date"].max()) == fold["test_end"]
        assert fold["train_end"] < fold["val_start"] <= fold["val_end"] < fold["test_start"]
    assert np.allclose(record["nav"].to_numpy(), np.cumprod(1.0 + record["return"].to_numpy()), rtol=1e-12)
    metrics = run.read_metrics()
    expected = compute_metrics(
        record["return"].to_numpy(), record["turnover"].to_numpy(), risk_free=record["cash_return"].to_numpy()
    )
    assert metrics["oos/sharpe"] == pytest.approx(expected["sharpe"], rel=1e-12)
    baselines = pl.read_parquet(run.oos_baselines_path)
    assert {"equal_weight", "inverse_volatility", "sleeve_equity"} <= set(baselines["strategy"])
    for name in baselines["strategy"].unique():
        assert np.isfinite(metrics[f"oos/baseline/{name}/sharpe_diff_ci95_low"])
        assert baselines.filter(pl.col("strategy") == name)["date"].to_list() == days
    assert 0.0 <= metrics["oos/dsr"] <= 1.0 and np.isfinite(metrics["val/sharpe"])


@pytest.mark.slow
def test_every_signal_of_the_meta_controller_comes_from_a_model_that_never_saw_its_date(base: Path) -> None:
    units = sorted((base / "folds").glob("fold_*/sac/seed_0"))
    assert len(units) == 2
    for unit in units:
        signals = pl.read_parquet(RunFolder(unit).signals_path)
        assert (signals["source_train_end"] < signals["date"]).all()
        train = signals.filter(pl.col("split") == "train")
        assert train.height > 0 and all(source.split("/")[1].startswith("oof_") for source in train["source_fold"])
        # The source unit's validation block (its model selection) also ends before the days it supplies.
        fold = unit.parent.parent
        for source, rows in train.group_by("source_fold"):
            for asset_class in CLASSES:
                val_end = RunFolder(fold / source[0].split("/")[1] / asset_class).split_dates("val")
                assert val_end is not None and str(rows["date"].min()) > val_end[1]


@pytest.mark.slow
def test_prices_after_a_date_change_no_out_of_sample_position_before_it(
    base: Path, prices: tuple[Path, Path, date], tmp_path: Path
) -> None:
    _, changed, first_changed = prices
    run_dir = tmp_path / "changed"
    run_ok([*experiment("walk_forward"), *walk_forward(changed, run_dir)[3:]], timeout=900, cwd=REPO)
    unchanged = {
        # A position dated T is held over day T, decided at the close before it; the return dated T has changed.
        "oos_positions.parquet": pl.col("date") <= first_changed,
        "oos_backtest.parquet": pl.col("date") < first_changed,
    }
    for name, before in unchanged.items():
        old, new = pl.read_parquet(base / name), pl.read_parquet(run_dir / name)
        assert old.filter(before).height > 0
        assert old.filter(before).equals(new.filter(before)), f"{name} changed before {first_changed}"
        assert not old.filter(~before).equals(new.filter(~before)), "the changed prices never reached the record"


def unit_states(run_dir: Path) -> dict[Path, dict]:
    return {path.parent: json.loads(path.read_text()) for path in (run_dir / "folds").rglob("run_state.json")}


@pytest.mark.slow
def test_an_interrupted_walk_forward_resumes_fold_by_fold_to_the_uninterrupted_result(
    base: Path, prices: tuple[Path, Path, date], tmp_path: Path
) -> None:
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(
        walk_forward(prices[0], run_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    deadline = time.monotonic() + 600
    # Once a unit of the second fold has a checkpoint, every PPO unit of the first fold has finished.
    while not any(list_checkpoints(p) for p in (run_dir / "folds" / "fold_1").rglob(CHECKPOINT_DIR)):
        assert process.poll() is None, "the run ended before the second fold started"
        assert time.monotonic() < deadline, "no checkpoint in the second fold within the time limit"
        time.sleep(0.02)
    stderr, _ = stop_with(process, signal.SIGINT)
    assert process.returncode != 0, stderr[-2000:]
    assert read_state(run_dir)["status"] == "interrupted"
    finished = {folder: state for folder, state in unit_states(run_dir).items() if state["status"] == "finished"}
    assert any("fold_0" in str(folder) for folder in finished)
    run_ok([*walk_forward(prices[0], run_dir), "resume=true"], timeout=900, cwd=REPO)
    for folder, state in finished.items():
        assert read_state(folder) == state, f"{folder} was trained again"
    for name in RECORD_FILES:
        assert pl.read_parquet(run_dir / name).equals(pl.read_parquet(base / name)), name
    assert RunFolder(run_dir).read_metrics() == RunFolder(base).read_metrics()
