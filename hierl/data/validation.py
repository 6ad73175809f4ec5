"""Checks on a raw price table before anything is cached: each problem is one DataError naming the source,
the column and the first offending rows.

Written as explicit polars expressions rather than a schema library so every message can show the user's own
rows (row numbers count data rows from 1, header excluded, in the order the source delivered them).
"""

from __future__ import annotations

import polars as pl

from hierl.data.errors import DataError
from hierl.data.sources.schema import (
    DEFAULT_ASSET_CLASS,
    OPTIONAL_PRICE_COLUMNS,
    REQUIRED_COLUMNS,
    SourceTable,
    conform,
)

ROW = "__row"
MAX_ROWS_SHOWN = 5
PRICE_COLUMNS = ("close", "open", "high", "low")


def _show(frame: pl.DataFrame, columns: list[str]) -> str:
    """Format the first offending rows as `row 12: date=..., close=...` lines."""
    shown = frame.head(MAX_ROWS_SHOWN)
    lines = []
    for record in shown.iter_rows(named=True):
        values = ", ".join(
            f"{name}={record[name]!r}" if isinstance(record[name], str) else f"{name}={record[name]}"
            for name in columns
            if name in record
        )
        lines.append(f"  row {record[ROW] + 1}: {values}")
    more = f"\n  ... and {frame.height - MAX_ROWS_SHOWN} more" if frame.height > MAX_ROWS_SHOWN else ""
    return "\n".join(lines) + more


def _fail(origin: str, problem: str, offending: pl.DataFrame, columns: list[str], fix: str) -> DataError:
    return DataError(f"{origin}: {problem} ({offending.height} rows)\n{_show(offending, columns)}\nFix: {fix}")


def _check_required(frame: pl.DataFrame, origin: str) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(
            f"{origin}: required column(s) {missing} missing; found columns {frame.columns}. "
            f"Fix: provide long-format data with columns {list(REQUIRED_COLUMNS)} "
            f"(optional: {list(OPTIONAL_PRICE_COLUMNS)}, asset_class)."
        )


def _typed_dates(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    dtype = frame.schema["date"]
    if dtype == pl.Date:
        return frame
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(pl.col("date").dt.date())
    if dtype == pl.String:
        parsed = frame.with_columns(pl.col("date").str.to_date(strict=False).alias("__parsed"))
        bad = parsed.filter(pl.col("__parsed").is_null() & pl.col("date").is_not_null())
        if bad.height:
            raise _fail(
                origin,
                "column 'date' has values that are not ISO dates",
                bad,
                ["date", "symbol"],
                "write dates as YYYY-MM-DD.",
            )
        return parsed.with_columns(pl.col("__parsed").alias("date")).drop("__parsed")
    raise DataError(f"{origin}: column 'date' has type {dtype}; expected a date. Fix: write dates as YYYY-MM-DD.")


def _typed_numbers(frame: pl.DataFrame, origin: str, columns: list[str]) -> pl.DataFrame:
    for name in columns:
        dtype = frame.schema[name]
        if dtype.is_numeric():
            frame = frame.with_columns(pl.col(name).cast(pl.Float64))
            continue
        if dtype == pl.String:
            as_number = pl.col(name).str.strip_chars().cast(pl.Float64, strict=False)
            bad = frame.filter(as_number.is_null() & pl.col(name).is_not_null())
            raise _fail(
                origin,
                f"column {name!r} has type {dtype}, not a number",
                bad if bad.height else frame,
                ["date", "symbol", name],
                f"make every {name!r} value a plain number.",
            )
        raise DataError(f"{origin}: column {name!r} has type {dtype}; expected a number.")
    return frame


def _check_values(frame: pl.DataFrame, origin: str, max_gap_days: int) -> None:
    for name in REQUIRED_COLUMNS:
        missing = pl.col(name).is_null()
        if name == "close":
            missing = missing | pl.col(name).is_nan() | pl.col(name).is_infinite()
        bad = frame.filter(missing)
        if bad.height:
            raise _fail(
                origin,
                f"column {name!r} has missing, NaN or infinite values",
                bad,
                ["date", "symbol", name],
                f"drop those rows or fill {name!r} before loading.",
            )
    for name in PRICE_COLUMNS:
        bad = frame.filter((pl.col(name) <= 0) | pl.col(name).is_infinite())
        if bad.height:
            raise _fail(
                origin,
                f"column {name!r} has non-positive or infinite prices",
                bad,
                ["date", "symbol", name],
                f"every {name!r} must be a positive finite price.",
            )
    bad = frame.filter((pl.col("volume") < 0) | pl.col("volume").is_infinite())
    if bad.height:
        raise _fail(
            origin,
            "column 'volume' has negative or infinite values",
            bad,
            ["date", "symbol", "volume"],
            "volume must be a finite number >= 0.",
        )
    bad = frame.filter(pl.struct("date", "symbol").is_duplicated()).sort("symbol", "date", ROW)
    if bad.height:
        raise _fail(
            origin,
            "duplicate (date, symbol) rows",
            bad,
            ["date", "symbol", "close"],
            "keep one row per symbol and date.",
        )
    previous = pl.col("date").shift(1).over("symbol", order_by=ROW)
    bad = frame.filter(pl.col("date") < previous)
    if bad.height:
        raise _fail(
            origin,
            "column 'date' is not sorted within a symbol (a date earlier than the row before)",
            bad,
            ["date", "symbol"],
            "sort the rows of each symbol by date.",
        )
    gap = (pl.col("date") - pl.col("date").shift(1).over("symbol", order_by=ROW)).dt.total_days()
    bad = frame.with_columns(gap.alias("gap_days")).filter(pl.col("gap_days") > max_gap_days)
    if bad.height:
        raise _fail(
            origin,
            f"gaps longer than max_gap_days={max_gap_days} calendar days between consecutive rows of a symbol",
            bad,
            ["date", "symbol", "gap_days"],
            "fill the missing dates, split the symbol, or raise data.max_gap_days.",
        )


def validate_prices(
    raw: pl.DataFrame, origin: str, identity: str, max_gap_days: int, default_asset_class: str = DEFAULT_ASSET_CLASS
) -> SourceTable:
    """Type and check a raw long price table; return it in the bronze schema or raise one DataError.

    Gaps are measured in calendar days between consecutive rows of one symbol (independent of any exchange
    calendar). Extra numeric columns are kept as user series; extra non-numeric columns are dropped.
    """
    if raw.height == 0:
        raise DataError(f"{origin}: no rows. Fix: point data.path at a file with price rows.")
    _check_required(raw, origin)
    frame = raw.with_row_index(ROW)
    frame = _typed_dates(frame, origin)
    if "asset_class" not in frame.columns:
        frame = frame.with_columns(pl.lit(default_asset_class).alias("asset_class"))
    frame = frame.with_columns(pl.col("symbol").cast(pl.String), pl.col("asset_class").cast(pl.String))
    known = {"date", "symbol", "asset_class", ROW}
    price_like = [name for name in ("close", *OPTIONAL_PRICE_COLUMNS) if name in frame.columns]
    extras = [name for name in frame.columns if name not in known and name not in price_like]
    numeric_extras = [name for name in extras if frame.schema[name].is_numeric()]
    frame = _typed_numbers(frame, origin, price_like + numeric_extras)
    frame = frame.drop([name for name in extras if name not in numeric_extras])
    frame = conform(frame.drop(ROW)).with_row_index(ROW)
    _check_values(frame, origin, max_gap_days)
    prices = frame.drop(ROW).sort("asset_class", "symbol", "date")
    return SourceTable(prices=prices, origin=origin, identity=identity)
