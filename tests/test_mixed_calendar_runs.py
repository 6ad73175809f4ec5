"""A hierarchy across calendars at smoke budgets: synthetic crypto trading every day beside weekday equities.

The meta-controller decides on the union of the classes' days; on a weekend the equity sleeve's market is shut, so
its assets hold (their weights only drift with the book) and every annualised number counts the densest
calendar's 365 days a year."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from runs import hierl_train, read_json, run_ok

MIXED = (
    "experiment=hierarchy",
    "debug=smoke",
    "data=synthetic",
    "data.start=null",
    "data.synthetic.asset_classes=[equity,crypto]",
    "data.synthetic.n_assets=4",
    "data.synthetic.n_days=1500",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed_calendar") / "run"
    run_ok(hierl_train(*MIXED, f"hydra.run.dir={folder}"), timeout=300)
    return folder


@pytest.mark.slow
def test_the_meta_controller_decides_every_day_and_annualises_with_365(run_dir: Path) -> None:
    test = pl.read_parquet(run_dir / "backtest.parquet").filter(pl.col("split") == "test").sort("date")
    weekdays = test["date"].dt.weekday()
    assert (weekdays >= 6).sum() > 0, "the crypto weekends are decision days"
    excess = (test["return"] - test["cash_return"]).to_list()
    mean = sum(excess) / len(excess)
    std = math.sqrt(sum((x - mean) ** 2 for x in excess) / (len(excess) - 1))
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["test/sharpe"] == pytest.approx(mean / std * math.sqrt(365), rel=1e-9)


@pytest.mark.slow
def test_equities_hold_through_the_weekend(run_dir: Path) -> None:
    book = pl.read_parquet(run_dir / "backtest.parquet").sort("date")
    assets = (
        pl.read_parquet(run_dir / "positions.parquet")
        .filter(pl.col("level") == "asset")
        .pivot(on="symbol", index=["split", "date"], values="position")
        .sort("date")
        .join(book.select("date", "return"), on="date")
    )
    equities = [c for c in assets.columns if c.startswith("EQU")]
    # A row's date is the end of its holding period, so the rows ending on Sunday and Monday were decided at the
    # close of a Saturday and a Sunday, when the equity market is shut.
    weekday = assets["date"].dt.weekday().to_numpy()
    held = np.flatnonzero((weekday == 7) | ((weekday == 1) & (np.roll(weekday, 1) == 7)))
    held = held[held > 0]
    assert len(held) > 20
    weights = assets.select(equities).to_numpy()
    before = held - 1
    # The previous row's equity weights, drifted over that row: equities earn nothing over a closed day, the book
    # earns its return, so each weight shrinks by the book's growth and nothing is traded.
    drifted = weights[before] / (1.0 + assets["return"].to_numpy()[before, None])
    np.testing.assert_allclose(weights[held], drifted, rtol=1e-9, atol=1e-15)
