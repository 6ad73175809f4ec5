"""Synthetic generator (reproducible, planted signal) and the split logic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hierl.config.data import DataConfig, FeatureConfig, SplitConfig, SyntheticConfig, check_date_order
from hierl.data.pipeline import load_market_data
from hierl.data.sources.synthetic import generate_synthetic
from hierl.data.splits import compute_split_bounds, walk_forward_splits
from hierl.errors import DataError


def test_same_seed_same_data_other_seed_other_data() -> None:
    cfg = SyntheticConfig(n_assets=5, n_days=300, seed=4)
    assert generate_synthetic(cfg).equals(generate_synthetic(cfg))
    other = SyntheticConfig(n_assets=5, n_days=300, seed=5)
    assert not generate_synthetic(cfg).equals(generate_synthetic(other))


@pytest.mark.parametrize(("strength", "low", "high"), [(0.3, 0.25, 0.35), (0.0, -0.05, 0.05)])
def test_planted_signal_predicts_next_day_return(tmp_path: Path, strength: float, low: float, high: float) -> None:
    synthetic = SyntheticConfig(n_assets=6, n_days=2000, asset_classes=["equity"], signal_strength=strength)
    cfg = DataConfig(source="synthetic", synthetic=synthetic, features=FeatureConfig(technical=["ret_1"], macro=[]))
    market = load_market_data(cfg, "equity", 16, tmp_path)
    signal = market.features[:-1, :, market.feature_names.index("signal")].astype(np.float64)
    next_return = market.returns[1:]
    # standardise per asset: volatility differs by asset and regime
    correlation = np.corrcoef(signal.ravel(), (next_return / next_return.std(axis=0)).ravel())[0, 1]
    assert low < correlation < high
    same_day = np.corrcoef(signal[1:].ravel(), next_return[:-1].ravel())[0, 1]
    assert abs(same_day) < 0.05  # the signal carries no information about the return already earned


def test_synthetic_spreads_assets_over_classes() -> None:
    frame = generate_synthetic(SyntheticConfig(n_assets=5, n_days=10, asset_classes=["equity", "bond"]))
    symbols = frame.group_by("asset_class").agg(pl.col("symbol").unique().sort()).sort("asset_class")
    assert symbols.rows() == [("bond", ["BON001", "BON003"]), ("equity", ["EQU000", "EQU002", "EQU004"])]


def test_bad_synthetic_config() -> None:
    with pytest.raises(DataError, match=r"signal_strength=1\.5 must lie in"):
        generate_synthetic(SyntheticConfig(signal_strength=1.5))


def dates(n: int) -> np.ndarray:
    return np.datetime64("2010-01-01") + np.arange(n).astype("timedelta64[D]")


def test_split_bounds_by_fraction_with_embargo() -> None:
    bounds = compute_split_bounds(dates(1000), SplitConfig(), window=32)
    assert bounds == {"train": (0, 700), "val": (732, 850), "test": (882, 1000)}


def test_split_bounds_by_date_and_explicit_embargo() -> None:
    splits = SplitConfig(train_end="2010-03-01", val_end="2010-06-01", embargo_days=10, min_block_steps=5)
    bounds = compute_split_bounds(dates(300), splits, window=8)
    # 2010-03-01 is day 59 (inclusive -> stop 60); 2010-06-01 is day 151
    assert bounds == {"train": (0, 60), "val": (70, 152), "test": (162, 300)}


def hours(n: int) -> np.ndarray:
    return np.datetime64("2010-01-01T00:00:00") + np.arange(n).astype("timedelta64[h]")


def test_split_bounds_by_timestamp_end_their_blocks_at_that_bar() -> None:
    """An intraday block through a timestamp holds the bars up to it; a `Z` or an offset is UTC."""
    splits = SplitConfig(train_end="2010-01-03T05:00:00Z", val_end="2010-01-05T13:30:00+02:00", embargo_days=4)
    bounds = compute_split_bounds(hours(24 * 8), splits, window=4)
    # 2010-01-03T05:00 is hour 53 (inclusive -> stop 54); 13:30+02:00 is 11:30 UTC, the last bar at 11:00: hour 107
    assert bounds == {"train": (0, 54), "val": (58, 108), "test": (112, 192)}
    # a day still means all of it, and a timestamp and a day mix
    mixed = compute_split_bounds(hours(24 * 8), SplitConfig(train_end="2010-01-03T05:00:00", val_end="2010-01-05"), 4)
    assert mixed["val"][1] == 24 * 5


def test_a_timestamp_split_bound_on_daily_bars_is_refused() -> None:
    with pytest.raises(DataError, match=r"data\.splits\.train_end='2010-03-01T12:00:00' is a timestamp, but the data"):
        compute_split_bounds(dates(300), SplitConfig(train_end="2010-03-01T12:00:00"), window=8)


@pytest.mark.parametrize(
    ("train_end", "val_end", "end", "refused"),
    [
        ("2010-01-03T05:00:00", "2010-01-03T06:00:00", None, False),
        ("2010-01-03T05:00:00", "2010-01-03", None, False),  # a day runs to its end
        ("2010-01-03", "2010-01-03T23:00:00", None, True),  # ... so a bar of it is not after it
        (None, "2010-01-05T13:00:00", "2010-01-05", False),
        ("2010-01-03T05:00:00", "2010-01-03T05:00:00", None, True),
        ("2010-01-03T05:00", "not a time", None, True),
    ],
)
def test_timestamp_split_bounds_are_ordered_with_the_days_around_them(
    train_end: str | None, val_end: str, end: str | None, refused: bool
) -> None:
    cfg = DataConfig(start="2010-01-01", end=end, splits=SplitConfig(train_end=train_end, val_end=val_end))
    if refused:
        with pytest.raises(DataError, match=r"data\.splits\."):
            check_date_order(cfg)
    else:
        check_date_order(cfg)


def test_short_block_is_named() -> None:
    with pytest.raises(DataError, match="the val block has 18 rows but needs at least window \\(32\\)"):
        compute_split_bounds(dates(400), SplitConfig(val_fraction=0.125), window=32)


def test_walk_forward_expanding_and_rolling() -> None:
    expanding = walk_forward_splits(100, n_folds=3, test_rows=10, embargo=5, expanding=True)
    assert [(f.train, f.test) for f in expanding] == [((0, 65), (70, 80)), ((0, 75), (80, 90)), ((0, 85), (90, 100))]
    rolling = walk_forward_splits(100, n_folds=3, test_rows=10, embargo=5, expanding=False)
    assert [f.train for f in rolling] == [(0, 65), (10, 75), (20, 85)]
    for fold in rolling:
        assert fold.test[0] - fold.train[1] == 5
    with pytest.raises(DataError, match="leaves"):
        walk_forward_splits(30, n_folds=3, test_rows=10, embargo=5)
