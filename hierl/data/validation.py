"""Checks on a raw price table before anything is cached: each problem is one DataError naming the source,
the column and the first offending rows.

Written as explicit polars expressions rather than a schema library so every message can show the user's own
rows (row numbers count data rows from 1, header excluded, in the order the source delivered them).

Daily or intraday: a table is intraday when some symbol has rows at several times of one date (as written);
otherwise it holds daily bars (or longer ones), whatever times of day its timestamps state.

Time zones of daily bars: a row's date is the calendar date its source states, never converted to UTC. An ISO
timestamp with a time of day and an optional UTC offset (`2005-01-03T00:00:00+05:00`, `2005-01-03 16:00:00-05:00`,
`2005-01-03T21:00:00Z`) is read as the date written before its time, which is its local date at that offset:
the exchange's date when the file states exchange-local times. A time-zone-aware datetime column (Parquet) is
read by its date in its own zone. `date` is then a polars Date.

Time zones of intraday bars: every timestamp becomes a UTC instant, stored as a naive (zone-less) polars Datetime
in UTC. A timestamp with a UTC offset or `Z` is converted to UTC (`2024-01-05T09:00:00-05:00` is 14:00 UTC); one
without an offset, and a naive Parquet datetime, is taken as UTC already; a zone-aware Parquet column is converted
from its zone; a plain date is its midnight UTC. Sessions are compared, and macro releases joined, by UTC dates.
Intraday data whose most common spacing is a day or more is refused: that is daily data with stray extra rows.

Sanity: a file's header must not repeat a column; no value may come near float64's range (`MAX_ABS_VALUE`),
where squares and sums inside features overflow; high >= low, and open and close within [low, high] on every
row (refused, not repaired: which of the columns is wrong cannot be known); and no one-day close-to-close
|log return| above `data.max_abs_log_return`.
"""

from __future__ import annotations

import polars as pl

from hierl.data.frequency import infer_frequency, is_intraday
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
# The date column as the source typed it, kept until it is known whether the table is daily or intraday.
RAW = "__raw_date"
# The date each row writes (a daily table's `date`), kept to show the rows that made a table intraday.
WRITTEN_DATE = "__written_date"
MAX_ROWS_SHOWN = 5
SECONDS_PER_DAY = 24 * 60 * 60
PRICE_COLUMNS = ("close", "open", "high", "low")
# No price, volume or series comes near this; far below it, squares and window sums stay within float64 (1.8e308).
MAX_ABS_VALUE = 1e100
# An ISO timestamp: the date (group 1), a time of day, and an optional UTC offset.
ISO_TIMESTAMP = r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
# An ISO date with an optional time of day and UTC offset, in named parts.
ISO_PARTS = (
    r"^(?P<day>\d{4}-\d{2}-\d{2})(?:[T ](?P<hour_minute>\d{2}:\d{2})(?P<seconds>:\d{2}(?:\.\d+)?)?)?\s*"
    r"(?P<zone>Z|(?P<sign>[+-])(?P<offset_hours>\d{2}):?(?P<offset_minutes>\d{2})?)?$"
)
TIMESTAMP_TYPE = pl.Datetime("us")


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


def _has_intraday_rows(frame: pl.DataFrame) -> bool:
    """Some symbol has rows at several times of one written date."""
    return bool(frame.select((pl.col(STAMP).n_unique().over("date", "symbol") > 1).any()).item())


def _utc_from_text(text: pl.Expr) -> pl.Expr:
    """ISO timestamps (or plain dates) as UTC instants: an offset is applied, none means UTC already."""
    parts = text.str.strip_chars().str.extract_groups(ISO_PARTS)
    clock = pl.coalesce(parts.struct.field("hour_minute"), pl.lit("00:00")) + pl.coalesce(
        parts.struct.field("seconds"), pl.lit(":00")
    )
    written = parts.struct.field("day") + " " + clock
    local = written.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    offset = parts.struct.field("offset_hours").cast(pl.Int64) * 60 + pl.coalesce(
        parts.struct.field("offset_minutes").cast(pl.Int64), pl.lit(0)
    )
    signed = pl.when(parts.struct.field("sign") == "-").then(-offset).otherwise(offset).fill_null(0)
    return local - pl.duration(minutes=signed)


def _utc_timestamps(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """`date` replaced by each row's UTC instant (module docstring), from the column as the source typed it."""
    dtype = frame.schema[RAW]
    raw = pl.col(RAW)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            raw = raw.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        stamp = raw.cast(TIMESTAMP_TYPE)
    elif dtype == pl.String:
        stamp = _utc_from_text(raw)
    else:  # a Date column has one time a day: it is never intraday, but a mixed table may hold one
        stamp = raw.cast(TIMESTAMP_TYPE)
    frame = frame.with_columns(pl.col("date").alias(WRITTEN_DATE), stamp.alias("date"))
    bad = frame.filter(pl.col("date").is_null() & pl.col(RAW).is_not_null())
    if bad.height:  # a time of day that does not exist, such as 24:00 or 10:61
        raise _fail(
            origin,
            "column 'date' has intraday timestamps that are not valid times",
            bad.with_columns(pl.col(STAMP).alias("timestamp")),
            ["timestamp", "symbol"],
            "write each bar's time as an ISO timestamp, e.g. 2024-01-05T13:00:00Z.",
        )
    return frame


def _check_intraday_spacing(frame: pl.DataFrame, origin: str) -> None:
    """Intraday rows of symbols whose bars are mostly a day or more apart: daily data with stray extra rows.

    Only the symbols with intraday rows are measured, so daily symbols beside intraday ones (a file of daily
    equities and hourly crypto) do not make the intraday ones look daily."""
    several = pl.col(STAMP).n_unique().over(WRITTEN_DATE, "symbol") > 1
    offending = frame.filter(several)
    intraday_symbols = frame.filter(pl.col("symbol").is_in(offending.get_column("symbol").unique().implode()))
    inferred = infer_frequency(intraday_symbols, origin)
    if is_intraday(inferred):
        return
    offending = offending.sort("symbol", "date", ROW).with_columns(pl.col(STAMP).alias("timestamp"))
    raise _fail(
        origin,
        f"several rows per symbol and date at different times of day, but most bars of a symbol are {inferred} "
        "apart (daily bars)",
        offending,
        ["timestamp", "symbol", "close"],
        "keep one row per symbol and trading day (e.g. the last close of each day), or supply every intraday bar.",
    )


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


def _check_one_row_per_bar(frame: pl.DataFrame, origin: str, intraday: bool) -> None:
    """One row per (date, symbol) of daily bars, per (timestamp, symbol) of intraday ones."""
    repeated = frame.filter(pl.struct("date", "symbol").is_duplicated()).sort("symbol", "date", ROW)
    if repeated.height:
        key = "timestamp" if intraday else "date"
        raise _fail(
            origin,
            f"duplicate ({key}, symbol) rows",
            repeated,
            ["date", "symbol", "close"],
            f"keep one row per symbol and {key}.",
        )


def _check_order_and_gaps(frame: pl.DataFrame, origin: str, max_gap_days: int, intraday: bool) -> None:
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
    step = pl.col("date") - pl.col("date").shift(1).over("symbol", order_by=ROW)
    # Calendar time either way: whole days between dates, fractional days between timestamps.
    gap = (step.dt.total_seconds() / SECONDS_PER_DAY).round(2) if intraday else step.dt.total_days()
    bad = frame.with_columns(gap.alias("gap_days")).filter(pl.col("gap_days") > max_gap_days)
    if bad.height:
        raise _fail(
            origin,
            f"gaps longer than max_gap_days={max_gap_days} calendar days between consecutive rows of a symbol",
            bad,
            ["date", "symbol", "gap_days"],
            "fill the missing dates, split the symbol, or raise data.max_gap_days.",
        )


def _check_moves(frame: pl.DataFrame, origin: str, max_abs_log_return: float | None, intraday: bool) -> None:
    """Refuse one-bar moves no market makes: a price in the wrong unit, a split left unadjusted, a typo."""
    if max_abs_log_return is None:
        return
    previous = pl.col("close").shift(1).over("symbol", order_by=ROW)
    moves = frame.with_columns(previous.alias("previous_close"), (pl.col("close") / previous).log().alias("log_return"))
    bad = moves.filter(pl.col("log_return").abs() > max_abs_log_return)
    if bad.height:
        raise _fail(
            origin,
            f"one-{'bar' if intraday else 'day'} moves with |log return| above "
            f"data.max_abs_log_return={max_abs_log_return:g}",
            bad,
            ["date", "symbol", "previous_close", "close", "log_return"],
            "correct those prices (a shifted decimal point or an unadjusted split?), or raise "
            "data.max_abs_log_return (null disables the check).",
        )


def _check_values(
    frame: pl.DataFrame,
    origin: str,
    max_gap_days: int,
    max_abs_log_return: float | None,
    numeric: list[str],
    intraday: bool,
) -> None:
    """Every check on typed rows, in an order where each one may rely on the ones before."""
    _check_present_and_positive(frame, origin)
    _check_magnitudes(frame, origin, numeric)
    _check_bar_ranges(frame, origin)
    _check_one_row_per_bar(frame, origin, intraday)
    _check_order_and_gaps(frame, origin, max_gap_days, intraday)
    _check_moves(frame, origin, max_abs_log_return, intraday)


def validate_prices(
    raw: pl.DataFrame,
    origin: str,
    identity: str,
    max_gap_days: int,
    max_abs_log_return: float | None,
    default_asset_class: str = DEFAULT_ASSET_CLASS,
) -> SourceTable:
    """Type and check a raw long price table; return it in the bronze schema or raise one DataError.

    `date` is a Date for daily bars and a naive UTC Datetime for intraday ones (module docstring). Gaps are measured
    in calendar days between consecutive rows of one symbol (independent of any exchange calendar). Extra numeric
    columns are kept as user series; extra non-numeric columns are dropped.
    """
    if raw.height == 0:
        raise DataError(f"{origin}: no rows. Fix: point data.path at a file with price rows.")
    _check_required(raw, origin)
    frame = raw.with_row_index(ROW).with_columns(pl.col("date").alias(RAW))
    frame = _typed_dates(frame, origin)
    if "asset_class" not in frame.columns:
        frame = frame.with_columns(pl.lit(default_asset_class).alias("asset_class"))
    frame = frame.with_columns(pl.col("symbol").cast(pl.String), pl.col("asset_class").cast(pl.String))
    intraday = _has_intraday_rows(frame)
    if intraday:
        frame = _utc_timestamps(frame, origin)
        _check_intraday_spacing(frame, origin)
    frame = frame.drop(RAW, WRITTEN_DATE, strict=False)
    known = {"date", "symbol", "asset_class", ROW, STAMP}
    price_like = [name for name in ("close", *OPTIONAL_PRICE_COLUMNS) if name in frame.columns]
    extras = [name for name in frame.columns if name not in known and name not in price_like]
    numeric_extras = [name for name in extras if frame.schema[name].is_numeric()]
    frame = _typed_numbers(frame, origin, price_like + numeric_extras)
    frame = frame.drop([name for name in extras if name not in numeric_extras])
    frame = conform(frame.drop(ROW)).with_row_index(ROW)
    _check_values(frame, origin, max_gap_days, max_abs_log_return, price_like + numeric_extras, intraday)
    prices = frame.drop(ROW, STAMP).sort("asset_class", "symbol", "date")
    return SourceTable(prices=prices, origin=origin, identity=identity)
