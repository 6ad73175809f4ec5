"""The causality rule: changing data after day T changes nothing the agent sees up to T, and slow series
appear only after their release lag."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from hierl.config.data import DataConfig, FeatureConfig, SplitConfig, SyntheticConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.data.sources.reference import load_reference_series
from hierl.data.sources.synthetic import generate_synthetic
from hierl.features.builder import build_raw_features
from hierl.features.catalogue import FeatureSpec

ALL_FEATURES = FeatureConfig(
    technical=["ret_1", "ret_21", "vol_21", "mom_63", "rsi_14", "macd", "bollinger_20", "atr_14", "volume_z_21"],
    sentiment=["vix_level", "vix_change_5", "credit_spread_change", "breadth_21"],
    macro=["cpi_yoy", "credit_spread", "ff_mkt", "ff_smb", "ff_hml"],
    regime=["vol_regime", "trend_regime"],
)
CUTOFF = date(2014, 11, 14)


def write_prices(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def load(path: Path, cache_dir: Path) -> tuple[MarketData, pl.DataFrame]:
    cfg = DataConfig(
        source="csv",
        path=str(path),
        features=ALL_FEATURES,
        splits=SplitConfig(train_end="2014-08-29", val_end="2015-01-30"),
    )
    market = load_market_data(cfg, "equity", 16, cache_dir)
    (gold_file,) = (cache_dir / "gold").glob("*.parquet")
    return market, pl.read_parquet(gold_file)


def test_changing_prices_after_t_leaves_every_feature_up_to_t_unchanged(tmp_path: Path) -> None:
    prices = generate_synthetic(
        SyntheticConfig(n_assets=3, n_days=4000, asset_classes=["equity"], signal_strength=0.2, seed=11)
    )
    after = pl.col("date") > CUTOFF
    shocked = prices.with_columns(
        [
            pl.when(after).then(pl.col(name) * 3.0).otherwise(pl.col(name)).alias(name)
            for name in ("close", "open", "high", "low")
        ]
        + [
            pl.when(after).then(pl.col(name) * 2.0 + 1.0).otherwise(pl.col(name)).alias(name)
            for name in ("volume", "signal")
        ]
    )
    original, original_gold = load(write_prices(prices, tmp_path / "a.parquet"), tmp_path / "cache_a")
    changed, changed_gold = load(write_prices(shocked, tmp_path / "b.parquet"), tmp_path / "cache_b")
    rows = int(np.searchsorted(original.dates, np.datetime64(CUTOFF, "D"), side="right"))
    assert original.split_bounds["train"][1] < rows < len(original.dates)
    for name in ("features", "returns", "mask", "cash_return"):
        before_a = getattr(original, name)[:rows]
        before_b = getattr(changed, name)[:rows]
        assert before_a.tobytes() == before_b.tobytes(), name
    up_to_cutoff = pl.col("date") <= CUTOFF
    names = list(original.feature_names)
    assert original_gold.filter(up_to_cutoff).select(names).equals(changed_gold.filter(up_to_cutoff).select(names))
    # the shock is visible after T, so the comparison above could have failed
    changed_after = original.features[rows] != changed.features[rows]
    assert changed_after[:, names.index("ret_1")].all()
    # every family has real values before T (the test would be empty otherwise)
    before = original.features[:rows]
    assert all(np.abs(before[:, :, index]).max() > 0 for index in range(len(names))), names


def silver_of_every_day(first: date, last: date) -> pl.DataFrame:
    days = pl.date_range(first, last, interval="1d", eager=True)
    return pl.DataFrame({"date": days, "symbol": "X", "close": 100.0})


def macro_table() -> pl.DataFrame:
    specs = [FeatureSpec(name, "macro", name) for name in ("cpi_yoy", "credit_spread", "ff_mkt")]
    silver = silver_of_every_day(date(2009, 11, 1), date(2010, 6, 30))
    lags = {"core_cpi": 45, "credit_spread": 35, "fama_french": 35}
    return build_raw_features(silver, load_reference_series(), specs, lags, 100).sort("date")


def value_on(table: pl.DataFrame, day: date, name: str) -> float:
    return float(table.filter(pl.col("date") == day).item(0, name))


def test_macro_value_appears_exactly_at_its_release_date() -> None:
    from arch.data import core_cpi, frenchdata

    cpi = core_cpi.load()["CPILFESL"]
    yoy = cpi / cpi.shift(12) - 1.0
    table = macro_table()
    # January 2010 ends on the 31st; +45 days = 17 March 2010
    assert value_on(table, date(2010, 3, 17), "cpi_yoy") == pytest.approx(yoy[pd.Timestamp("2010-01-01")])
    assert value_on(table, date(2010, 3, 16), "cpi_yoy") == pytest.approx(yoy[pd.Timestamp("2009-12-01")])
    # Fama-French: January 2010 published 31 Jan + 35 days = 7 March 2010 (index decoded from YYYYMM)
    ff = frenchdata.load()
    january = ff.iloc[list(ff.index.asi8).index(201001)]["Mkt-RF"] / 100
    assert value_on(table, date(2010, 3, 7), "ff_mkt") == pytest.approx(january)
    assert value_on(table, date(2010, 3, 6), "ff_mkt") != pytest.approx(january)


def test_no_monthly_figure_is_known_within_its_own_month() -> None:
    from arch.data import core_cpi

    cpi = core_cpi.load()["CPILFESL"]
    yoy = (cpi / cpi.shift(12) - 1.0).dropna()
    table = macro_table()
    for row in table.iter_rows(named=True):
        day: date = row["date"]
        # independent rule: the latest month whose end + 45 days is on or before `day`
        known = [period for period in yoy.index if (period + pd.offsets.MonthEnd(0)).date() + timedelta(45) <= day]
        expected = yoy[known[-1]]
        assert row["cpi_yoy"] == pytest.approx(expected), day
        assert known[-1].date() < day.replace(day=1)
