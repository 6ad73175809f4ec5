"""The embedded sample: real daily prices that ship inside installed packages (skfolio, arch); no download."""

from __future__ import annotations

from importlib.metadata import version

import pandas as pd
import polars as pl

from hierl.data.sources.schema import SourceTable, conform


def sample_identity() -> str:
    """What the Bronze fingerprint hashes for the sample: this module and the versions of the packages shipping it."""
    return f"{__name__}:skfolio={version('skfolio')}:arch={version('arch')}"


def _from_pandas_index(frame: pd.DataFrame) -> pl.DataFrame:
    """pandas frame with a DatetimeIndex -> polars with a `date` column of dtype Date."""
    out = pl.from_pandas(frame.reset_index(names="date"))
    return out.with_columns(pl.col("date").cast(pl.Date))


def _equity() -> pl.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    wide = _from_pandas_index(load_sp500_dataset())
    long = wide.unpivot(index="date", variable_name="symbol", value_name="close")
    return long.with_columns(pl.lit("equity").alias("asset_class"))


def _index() -> pl.DataFrame:
    from arch.data import nasdaq, sp500

    frames = []
    for symbol, module in (("SP500", sp500), ("NASDAQ", nasdaq)):
        raw = _from_pandas_index(module.load())
        frames.append(
            raw.select(
                "date",
                pl.lit(symbol).alias("symbol"),
                pl.lit("index").alias("asset_class"),
                # Adjusted close is the total-return series; the others are kept as published.
                pl.col("Adj Close").cast(pl.Float64).alias("close"),
                pl.col("Open").cast(pl.Float64).alias("open"),
                pl.col("High").cast(pl.Float64).alias("high"),
                pl.col("Low").cast(pl.Float64).alias("low"),
                pl.col("Volume").cast(pl.Float64).alias("volume"),
            )
        )
    return pl.concat(frames)


def _commodity() -> pl.DataFrame:
    from arch.data import wti

    raw = _from_pandas_index(wti.load())
    return raw.select(
        "date",
        pl.lit("WTI").alias("symbol"),
        pl.lit("commodity").alias("asset_class"),
        pl.col("DCOILWTICO").cast(pl.Float64).alias("close"),
    ).filter(pl.col("close").is_not_nan() & pl.col("close").is_not_null())  # exchange holidays are NaN rows


def load_sample_source() -> SourceTable:
    """Equity (20 S&P 500 stocks, close only), index (S&P 500, NASDAQ; OHLCV) and commodity (WTI, close only)."""
    frames = [conform(part) for part in (_equity(), _index(), _commodity())]
    prices = pl.concat(frames, how="vertical").sort("asset_class", "symbol", "date")
    return SourceTable(prices=prices, origin="sample", identity=sample_identity())
