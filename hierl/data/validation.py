"""Checks on a raw price table before anything is cached: each problem is one DataError naming the source,
the column and the first offending rows.

Written as explicit polars expressions rather than a schema library so every message can show the user's own
rows (row numbers count data rows from 1, header excluded, in the order the source delivered them).

Time zones: a row's date is the calendar date its source states, never converted to UTC. An ISO timestamp with
a time of day and an optional UTC offset (`2005-01-03T00:00:00+05:00`, `2005-01-03 16:00:00-05:00`,
`2005-01-03T21:00:00Z`) is read as the date written before its time, which is its local date at that offset:
the exchange's date when the file states exchange-local times. A time-zone-aware datetime column (Parquet) is
read by its date in its own zone. hierl reads daily bars: rows of one symbol at several times of the same date
are intraday bars and are refused.

Sanity: a file's header must not repeat a column; no value may come near float64's range (`MAX_ABS_VALUE`),
where squares and sums inside features overflow; high >= low, and open and close within [low, high] on every
row (refused, not repaired: which of the columns is wrong cannot be known); and no one-day close-to-close
|log return| above `data.max_abs_log_return`.
"""

from __future__ import annotations

import polars as pl

from hierl.data.sources.schema import (
    DEFAULT_ASSET_CLASS,
    OPTIONAL_PRICE_COLUMNS,
    REQUIRED_COLUMNS,
    SourceTable,
    conform,
)
from hierl.errors import DataError

ROW = "__row"
# The date column as the source wrote it: rows of one date at different times are intraday bars.
STAMP = "__timestamp"
MAX_ROWS_SHOWN = 5
PRICE_COLUMNS = ("close", "open", "high", "low")
# No price, volume or series comes near this; far below it, squares and window sums stay within float64 (1.8e308).
MAX_ABS_VALUE = 1e100
# An ISO timestamp: the date (group 1), a time of day, and an optional UTC offset.
ISO_TIMESTAMP = r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"


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


def check_unique_columns(names: list[str], origin: str) -> None:
    """A header that repeats a name: a reader would rename the copy (`close_duplicated_0`) into a user series."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"{origin}: column(s) {repeated} appear more than once in the header. Fix: keep one column of each "
            "name (rename or delete the copies)."
        )


def _check_required(frame: pl.DataFrame, origin: str) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(
            f"{origin}: required column(s) {missing} missing; found columns {frame.columns}. "
            f"Fix: provide long-format data with columns {list(REQUIRED_COLUMNS)} "
            f"(optional: {list(OPTIONAL_PRICE_COLUMNS)}, asset_class)."
        )


def _date_from_text(frame: pl.DataFrame) -> pl.Expr:
    """Plain dates in the format polars infers from them; when any value is an ISO timestamp, every value by the
    date it writes (the offset, if any, is not applied)."""
    text = pl.col("date").str.strip_chars()
    written = text.str.extract(ISO_TIMESTAMP, 1)
    if not frame.select(written.is_not_null().any()).item():
        return pl.col("date").str.to_date(strict=False)
    return pl.coalesce(written, text).str.to_date("%Y-%m-%d", strict=False)


def _typed_dates(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """`date` as a Date by the time-zone rule of the module docstring; STAMP keeps the value as written."""
    dtype = frame.schema["date"]
    frame = frame.with_columns(pl.col("date").cast(pl.String).alias(STAMP))
    if dtype == pl.Date:
        return frame
    if isinstance(dtype, pl.Datetime):
        # For a zone-aware column polars gives the date in that zone, not in UTC.
        return frame.with_columns(pl.col("date").dt.date())
    if dtype == pl.String:
        parsed = frame.with_columns(_date_from_text(frame).alias("__parsed"))
        bad = parsed.filter(pl.col("__parsed").is_null() & pl.col("date").is_not_null())
        if bad.height:
            raise _fail(
                origin,
                "column 'date' has values that are not ISO dates",
                bad,
                ["date", "symbol"],
                "write dates as YYYY-MM-DD (or ISO timestamps, read by the date they write).",
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


def _check_present_and_positive(frame: pl.DataFrame, origin: str) -> None:
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


def _check_magnitudes(frame: pl.DataFrame, origin: str, columns: list[str]) -> None:
    """Refuse values whose squares overflow: a rolling std or a Bollinger band of them would be inf, NaN or 0."""
    for name in columns:
        bad = frame.filter(pl.col(name).abs() > MAX_ABS_VALUE)
        if bad.height:
            raise _fail(
                origin,
                f"column {name!r} has values beyond +-{MAX_ABS_VALUE:g} (or infinite), which overflow features",
                bad,
                ["date", "symbol", name],
                f"rescale {name!r} (e.g. quote it in thousands or millions) or drop those rows.",
            )


def _check_bar_ranges(frame: pl.DataFrame, origin: str) -> None:
    """high >= low, and open and close within [low, high], wherever a row has both bounds."""
    bad = frame.filter(pl.col("high") < pl.col("low"))
    if bad.height:
        raise _fail(
            origin,
            "column 'high' is below column 'low'",
            bad,
            ["date", "symbol", "high", "low"],
            "high must be >= low on every row; check whether the two columns are swapped.",
        )
    for name in ("open", "close"):
        bad = frame.filter((pl.col(name) < pl.col("low")) | (pl.col(name) > pl.col("high")))
        if bad.height:
            raise _fail(
                origin,
                f"column {name!r} lies outside [low, high]",
                bad,
                ["date", "symbol", name, "low", "high"],
                f"take {name!r}, high and low from one series (all adjusted or all unadjusted prices).",
            )


def _check_one_row_per_day(frame: pl.DataFrame, origin: str) -> None:
    """One row per (date, symbol): several at different times are intraday bars, several at one time duplicates."""
    repeated = frame.filter(pl.struct("date", "symbol").is_duplicated()).sort("symbol", "date", ROW)
    intraday = repeated.filter(pl.col(STAMP).n_unique().over("date", "symbol") > 1)
    if intraday.height:
        raise _fail(
            origin,
            "several rows per symbol and date at different times of day (intraday bars); hierl reads daily bars",
            intraday.with_columns(pl.col(STAMP).alias("timestamp")),
            ["timestamp", "symbol", "close"],
            "resample to one row per symbol and trading day (e.g. the last close of each day) before loading.",
        )
    if repeated.height:
        raise _fail(
            origin,
            "duplicate (date, symbol) rows",
            repeated,
            ["date", "symbol", "close"],
            "keep one row per symbol and date.",
        )


def _check_order_and_gaps(frame: pl.DataFrame, origin: str, max_gap_days: int) -> None:
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


def _check_moves(frame: pl.DataFrame, origin: str, max_abs_log_return: float | None) -> None:
    """Refuse one-day moves no market makes: a price in the wrong unit, a split left unadjusted, a typo."""
    if max_abs_log_return is None:
        return
    previous = pl.col("close").shift(1).over("symbol", order_by=ROW)
    moves = frame.with_columns(previous.alias("previous_close"), (pl.col("close") / previous).log().alias("log_return"))
    bad = moves.filter(pl.col("log_return").abs() > max_abs_log_return)
    if bad.height:
        raise _fail(
            origin,
            f"one-day moves with |log return| above data.max_abs_log_return={max_abs_log_return:g}",
            bad,
            ["date", "symbol", "previous_close", "close", "log_return"],
            "correct those prices (a shifted decimal point or an unadjusted split?), or raise "
            "data.max_abs_log_return (null disables the check).",
        )


def _check_values(
    frame: pl.DataFrame, origin: str, max_gap_days: int, max_abs_log_return: float | None, numeric: list[str]
) -> None:
    """Every check on typed rows, in an order where each one may rely on the ones before."""
    _check_present_and_positive(frame, origin)
    _check_magnitudes(frame, origin, numeric)
    _check_bar_ranges(frame, origin)
    _check_one_row_per_day(frame, origin)
    _check_order_and_gaps(frame, origin, max_gap_days)
    _check_moves(frame, origin, max_abs_log_return)


def validate_prices(
    raw: pl.DataFrame,
    origin: str,
    identity: str,
    max_gap_days: int,
    max_abs_log_return: float | None,
    default_asset_class: str = DEFAULT_ASSET_CLASS,
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
    known = {"date", "symbol", "asset_class", ROW, STAMP}
    price_like = [name for name in ("close", *OPTIONAL_PRICE_COLUMNS) if name in frame.columns]
    extras = [name for name in frame.columns if name not in known and name not in price_like]
    numeric_extras = [name for name in extras if frame.schema[name].is_numeric()]
    frame = _typed_numbers(frame, origin, price_like + numeric_extras)
    frame = frame.drop([name for name in extras if name not in numeric_extras])
    frame = conform(frame.drop(ROW)).with_row_index(ROW)
    _check_values(frame, origin, max_gap_days, max_abs_log_return, price_like + numeric_extras)
    prices = frame.drop(ROW, STAMP).sort("asset_class", "symbol", "date")
    return SourceTable(prices=prices, origin=origin, identity=identity)
