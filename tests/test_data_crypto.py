"""The crypto class and the 24/7 synthetic market: crypto trades every day and hour, other classes keep business
days (and, intraday, a session); the default generator is unchanged; `asset=crypto data=synthetic_crypto` trains."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from runs import hierl_train, run_ok

from hierl.config.data import SyntheticConfig
from hierl.config.loading import load_config
from hierl.data.pipeline import load_market_data
from hierl.data.sources.synthetic import generate_synthetic, synthetic_identity

# Digests of the generator's output taken from its code before `frequency`, `always_open` and `start` existed
# (commit 03e0987), by `table_digest` below: the defaults must leave every number where it was.
BEFORE = {
    "default": "a73d1d50d89ae415d3207650aab2ff21e0d5e7ee8cc1eed9669bd8f3849c84fa",
    "small": "d8df87a44b16d76be6b688d4b2b6181160e46690fe8c70525c5372c1f159b7b3",
}
SMALL = SyntheticConfig(
    n_assets=5, n_days=300, asset_classes=["equity", "bond"], signal_strength=0.3, signal_persistence=0.9, seed=4
)
OLD_KEYS = ("n_assets", "n_days", "asset_classes", "signal_strength", "signal_persistence", "seed")


def table_digest(frame: pl.DataFrame) -> str:
    """SHA-256 of every column's name, type and values (dates as day numbers, floats as their bytes)."""
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame.get_column(name)
        digest.update(f"{name}:{column.dtype}".encode())
        if column.dtype == pl.String:
            data = "\n".join(column.to_list()).encode()
        elif column.dtype == pl.Date:
            data = column.cast(pl.Int32).to_numpy().tobytes()
        else:
            data = column.to_numpy().tobytes()
        digest.update(data)
    return digest.hexdigest()


@pytest.mark.parametrize(("name", "config"), [("default", SyntheticConfig()), ("small", SMALL)])
def test_the_default_generator_output_is_unchanged(name: str, config: SyntheticConfig) -> None:
    assert table_digest(generate_synthetic(config)) == BEFORE[name]


@pytest.mark.parametrize("config", [SyntheticConfig(), SMALL])
def test_the_bronze_identity_of_daily_synthetic_data_is_unchanged(config: SyntheticConfig) -> None:
    old = {key: value for key, value in asdict(config).items() if key in OLD_KEYS}
    assert synthetic_identity(config) == "synthetic:" + repr(sorted(old.items()))
    assert synthetic_identity(replace(config, frequency="1h")) != synthetic_identity(config)


def days_of(frame: pl.DataFrame, asset_class: str) -> pl.Series:
    return frame.filter(pl.col("asset_class") == asset_class).get_column("date").dt.date().unique().sort()


def test_daily_crypto_trades_on_weekends_and_equity_does_not() -> None:
    frame = generate_synthetic(SyntheticConfig(n_assets=4, n_days=28, asset_classes=["equity", "crypto"]))
    crypto, equity = days_of(frame, "crypto"), days_of(frame, "equity")
    assert crypto.len() == 28 and crypto.dt.weekday().is_in([6, 7]).sum() == 8  # four weekends
    assert equity.len() == 20 and not equity.dt.weekday().is_in([6, 7]).any()
    assert set(equity.to_list()) <= set(crypto.to_list())
    # a mixed set's equities see the whole timeline's prices at their own days: a Monday return spans the weekend
    per_symbol = frame.group_by("symbol").agg(pl.len()).sort("symbol")
    assert per_symbol.get_column("len").to_list() == [28, 28, 20, 20]  # CRY001, CRY003, EQU000, EQU002


def test_hourly_crypto_trades_every_hour_and_equity_a_session_of_business_days() -> None:
    frame = generate_synthetic(
        SyntheticConfig(n_assets=2, n_days=7, asset_classes=["equity", "crypto"], frequency="1h", start="2024-01-01")
    )
    crypto = frame.filter(pl.col("asset_class") == "crypto").get_column("date")
    equity = frame.filter(pl.col("asset_class") == "equity").get_column("date")
    assert crypto.dtype == pl.Datetime("us")
    assert crypto.len() == 7 * 24 and crypto.diff().drop_nulls().dt.total_hours().unique().to_list() == [1]
    # 2024-01-01 is a Monday: five business days of 7 hourly bars stamped 14:00 ... 20:00 UTC
    assert equity.len() == 5 * 7
    assert sorted(equity.dt.hour().unique().to_list()) == list(range(14, 21))
    assert not equity.dt.weekday().is_in([6, 7]).any()


def test_the_classes_state_their_calendars() -> None:
    for name in ("equity", "index", "commodity"):
        assert asdict(load_config([f"asset={name}"]).asset.calendar) == {
            "days_per_year": 252.0,
            "hours_per_day": 6.5,
            "bars_per_year": None,
        }
    crypto = load_config(["asset=crypto", "data=synthetic_crypto"])
    assert (crypto.asset.calendar.days_per_year, crypto.asset.calendar.hours_per_day) == (365.0, 24.0)
    # the class's env: a taker fee, slippage and a dearer short than equities (conf/env_asset/trading_crypto.yaml)
    assert (crypto.env.cost_bps, crypto.env.slippage_bps, crypto.env.borrow_bps_annual) == (10.0, 5.0, 800.0)


def test_the_synthetic_crypto_preset_loads_hourly_with_8760_bars_a_year(tmp_path: Path) -> None:
    cfg = load_config(["asset=crypto", "data=synthetic_crypto", "debug=smoke"])
    market = load_market_data(cfg.data, "crypto", cfg.env.window, tmp_path, calendar=cfg.asset.calendar)
    assert (market.frequency, market.bars_per_year) == ("1h", 365.0 * 24.0)
    assert market.dates.dtype == np.dtype("datetime64[s]")
    steps = np.diff(market.dates).astype(int)
    assert set(steps.tolist()) == {3600}  # every hour, weekends included
    assert "vol_24h" in market.feature_names and market.n_assets == 4


@pytest.mark.slow
def test_a_crypto_smoke_run_finishes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # A smoke budget trains a churning policy that the crypto turnover cap refuses; the gate still runs.
    smoke = ("asset=crypto", "data=synthetic_crypto", "debug=smoke", "safety.allow_violations=true")
    run_ok(hierl_train(*smoke, f"hydra.run.dir={run_dir}"))
    assert json.loads((run_dir / "run_state.json").read_text())["status"] == "finished"
    assert (run_dir / "metrics.json").is_file()
    splits = json.loads((run_dir / "data_fingerprint.json").read_text())["splits"]
    assert splits["test"]["end"] == "2011-06-30T23:00:00"  # the last hourly bar of the synthetic timeline
