"""Technical, sentiment and regime formulas checked against independent pandas / loop computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from hierl.data.silver import build_silver
from hierl.features.builder import build_raw_features, label_regimes
from hierl.features.catalogue import parse_feature


def silver_table() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2001-01-01", periods=300)
    rows = []
    for symbol in ("A", "B"):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
        high, low = close * 1.01, close * 0.99
        volume = rng.uniform(1e5, 2e5, len(days))
        rows.append(
            pd.DataFrame(
                {"date": days.date, "symbol": symbol, "close": close, "high": high, "low": low, "volume": volume}
            )
        )
    frame = pl.from_pandas(pd.concat(rows)).with_columns(pl.lit("equity").alias("asset_class"))
    frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("open"))
    prices = frame.select("date", "symbol", "close", "open", "high", "low", "volume")
    return build_silver(prices, ffill_limit=5)


def features(names: dict[str, list[str]]) -> pd.DataFrame:
    specs = [parse_feature(name, family, []) for family, listed in names.items() for name in listed]
    table = build_raw_features(
        silver_table(),
        pl.DataFrame(schema={"series": pl.String, "period": pl.Date, "value": pl.Float64}),
        specs,
        {},
        100,
    )
    return table.to_pandas()


def test_technical_against_pandas() -> None:
    names = ["ret_5", "vol_21", "mom_63", "rsi_14", "macd", "bollinger_20", "atr_14", "volume_z_21"]
    table = features({"technical": names})
    one = table[table["symbol"] == "A"].reset_index(drop=True)
    close = one["close"]
    log_return = np.log(close).diff()
    expected = {
        "ret_5": np.log(close / close.shift(5)),
        "vol_21": log_return.rolling(21).std() * math.sqrt(252),
        "mom_63": np.log(close / close.shift(63)) / (log_return.rolling(63).std() * math.sqrt(63)),
        "bollinger_20": (close - close.rolling(20).mean()) / (2 * close.rolling(20).std()),
        "macd": (close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()) / close,
    }
    for name, values in expected.items():
        start = 70  # past every warm-up
        np.testing.assert_allclose(one[name][start:], values[start:], rtol=1e-9, err_msg=name)
    # RSI by Wilder's recursion, written as a loop
    change = close.diff().to_numpy()
    gain = loss = 0.0
    alpha = 1 / 14
    for step in range(1, len(change)):
        up, down = max(change[step], 0.0), max(-change[step], 0.0)
        gain, loss = (up, down) if step == 1 else (gain + alpha * (up - gain), loss + alpha * (down - loss))
    assert one["rsi_14"].iloc[-1] == pytest.approx(2 * gain / (gain + loss) - 1, rel=1e-9)
    # ATR by Wilder's recursion over the true range (high - low on the first row, which has no previous close)
    high, low, previous = one["high"].to_numpy(), one["low"].to_numpy(), close.shift(1).to_numpy()
    atr = np.full(len(close), np.nan)
    smoothed = high[0] - low[0]
    for step in range(len(close)):
        if step > 0:
            true_range = max(high[step] - low[step], abs(high[step] - previous[step]), abs(low[step] - previous[step]))
            smoothed += alpha * (true_range - smoothed)
        if step >= 13:
            atr[step] = smoothed / close.iloc[step]
    np.testing.assert_allclose(one["atr_14"], atr, rtol=1e-9, err_msg="atr_14")
    log_volume = np.log1p(one["volume"])
    volume_z = (log_volume - log_volume.rolling(21).mean()) / log_volume.rolling(21).std()
    np.testing.assert_allclose(one["volume_z_21"], volume_z, rtol=1e-9, err_msg="volume_z_21")


def test_breadth_counts_assets_above_their_mean() -> None:
    table = features({"sentiment": ["breadth_10"]})
    wide = table.pivot(index="date", columns="symbol", values="close")
    above = (wide > wide.rolling(10).mean()).astype(float).where(wide.rolling(10).mean().notna())
    expected = above.mean(axis=1)
    got = table[table["symbol"] == "A"].set_index("date")["breadth_10"]
    np.testing.assert_allclose(got.iloc[9:], expected.iloc[9:], rtol=0)
    assert set(np.unique(got.iloc[9:])) <= {0.0, 0.5, 1.0}


def test_regime_thresholds_use_training_dates_only() -> None:
    table = features({"regime": ["vol_regime"]})
    frame = pl.from_pandas(table)
    dates = sorted(table["date"].unique())
    train = (dates[0].date(), dates[149].date())
    labelled, thresholds = label_regimes(frame, [parse_feature("vol_regime", "regime", [])], train)
    signal = table[pd.to_datetime(table["date"]) <= pd.Timestamp(dates[149])]["__regime_signal_vol_regime"]
    expected = np.quantile(signal.dropna().to_numpy(), [1 / 3, 2 / 3])
    np.testing.assert_allclose(thresholds["vol_regime"], expected)
    values = labelled.get_column("vol_regime").drop_nulls().to_numpy()
    assert set(np.unique(values)) == {-1.0, 0.0, 1.0}
