"""Silver layer: one trading calendar per asset class, forward filled within a limit, with a real-price mask."""

from __future__ import annotations

import polars as pl

from hierl.data.sources.schema import BASE_COLUMNS


def build_silver(class_prices: pl.DataFrame, ffill_limit: int) -> pl.DataFrame:
    """Dense (date x symbol) grid of one class on the union of its dates, sorted by (symbol, date).

    Prices and series are forward filled at most `ffill_limit` rows and never backward filled, so a symbol is
    null before its first price. `mask` is True only on rows with a real price. `return` is the simple
    close-to-close return from the previous row, measured from the last real price (so a return spanning a
    gap is booked on the day the price reappears), 0 on the first row and wherever no price is known.
    """
    calendar = class_prices.select("date").unique().sort("date")
    symbols = class_prices.select("symbol").unique().sort("symbol")
    grid = symbols.join(calendar, how="cross")
    value_columns = [name for name in class_prices.columns if name not in ("date", "symbol", "asset_class")]
    frame = grid.join(class_prices.select("date", "symbol", *value_columns), on=["date", "symbol"], how="left")
    frame = frame.sort("symbol", "date")
    last_real = pl.col("close").forward_fill()
    frame = frame.with_columns(
        pl.col("close").is_not_null().alias("mask"),
        (last_real / last_real.shift(1) - 1.0).over("symbol").fill_null(0.0).alias("return"),
    )
    filled = [pl.col(name).forward_fill(limit=ffill_limit).over("symbol") for name in value_columns]
    frame = frame.with_columns(filled)
    extra = [name for name in value_columns if name not in BASE_COLUMNS]
    ordered = ["date", "symbol", "close", "open", "high", "low", "volume", *extra, "mask", "return"]
    return frame.select(ordered)
