"""Every kind of bad input gives one DataError that names the problem, and leaves no cache entry."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hierl.config.data import DataConfig, FeatureConfig
from hierl.data.normalisation import check_saved_stats
from hierl.data.pipeline import available_asset_classes, load_market_data
from hierl.errors import DataError

FIXTURE = Path(__file__).parent / "data" / "prices_small.csv"
WINDOW = 8


def csv_config(path: Path, **overrides: object) -> DataConfig:
    features = FeatureConfig(technical=["ret_1", "vol_21"], macro=[])
    return DataConfig(source="csv", path=str(path), features=features, **overrides)  # type: ignore[arg-type]


def cache_files(cache_dir: Path) -> list[Path]:
    return [path for path in cache_dir.rglob("*") if path.is_file()] if cache_dir.exists() else []


def fixture_lines() -> list[str]:
    return FIXTURE.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_rejected(path: Path, tmp_path: Path, *fragments: str, **overrides: object) -> None:
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        load_market_data(csv_config(path, **overrides), "equity", WINDOW, cache_dir)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert cache_files(cache_dir) == []


def test_fixture_loads_as_the_default_class(tmp_path: Path) -> None:
    cfg = csv_config(FIXTURE)
    assert available_asset_classes(cfg, tmp_path) == ["equity"]
    market = load_market_data(cfg, "equity", WINDOW, tmp_path)
    assert market.symbols == ("EQU000", "EQU001")
    assert market.features.shape == (400, 2, 2)


def test_missing_required_column(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE).drop("close")
    path = tmp_path / "no_close.csv"
    frame.write_csv(path)
    assert_rejected(path, tmp_path, str(path), "required column(s) ['close'] missing")


def test_wrong_type_names_column_and_row(tmp_path: Path) -> None:
    lines = fixture_lines()
    date, symbol, _close, *rest = lines[5].split(",")
    lines[5] = ",".join([date, symbol, "abc", *rest])
    path = write_lines(tmp_path / "text_price.csv", lines)
    assert_rejected(path, tmp_path, "column 'close' has type String", "row 5:", "'abc'")


def test_unparseable_date(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines[3] = "03/01/2000" + lines[3][len("2000-01-05") :]
    path = write_lines(tmp_path / "bad_date.csv", lines)
    assert_rejected(path, tmp_path, "column 'date'", str(path))


def test_non_positive_price(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).with_row_index()
    frame = frame.with_columns(pl.when(pl.col("index") == 10).then(-1.0).otherwise("close").alias("close"))
    path = tmp_path / "negative.parquet"
    frame.drop("index").write_parquet(path)
    assert_rejected(path, tmp_path, "column 'close' has non-positive", "row 11:", "close=-1.0")


def test_duplicate_date_symbol(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines.insert(8, lines[7])
    path = write_lines(tmp_path / "dup.csv", lines)
    assert_rejected(path, tmp_path, "duplicate (date, symbol)", "row 7:", "row 8:")


def test_unsorted_dates_within_symbol(tmp_path: Path) -> None:
    lines = fixture_lines()
    lines[10], lines[11] = lines[11], lines[10]
    path = write_lines(tmp_path / "unsorted.csv", lines)
    assert_rejected(path, tmp_path, "not sorted within a symbol", "row 11:")


def test_nan_in_required_column(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).with_row_index()
    frame = frame.with_columns(pl.when(pl.col("index") == 20).then(float("nan")).otherwise("close").alias("close"))
    path = tmp_path / "nan.parquet"
    frame.drop("index").write_parquet(path)
    assert_rejected(path, tmp_path, "column 'close' has missing, NaN or infinite", "row 21:")


def test_gap_longer_than_limit(tmp_path: Path) -> None:
    lines = fixture_lines()
    del lines[50:60]  # ten business days of the first symbol: a 14-day calendar gap
    path = write_lines(tmp_path / "gap.csv", lines)
    assert_rejected(
        path, tmp_path, "max_gap_days=10 calendar days", "row 50: date=2000-03-24, symbol='EQU000', gap_days=15"
    )


def test_too_little_history_names_the_block(tmp_path: Path) -> None:
    assert_rejected(
        FIXTURE,
        tmp_path,
        "the val block has 13 rows but needs at least window (8)",
        "smaller env.window",
        start="2001-01-01",
    )


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    assert_rejected(path, tmp_path, str(path), "cannot be read")


def test_feature_needing_missing_columns(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE).select("date", "symbol", "close")
    path = tmp_path / "close_only.csv"
    frame.write_csv(path)
    cfg = csv_config(path)
    cfg.features.technical = ["ret_1", "atr_14"]
    with pytest.raises(DataError, match=r"feature 'atr_14' needs column\(s\) \['high', 'low'\].*'equity'"):
        load_market_data(cfg, "equity", WINDOW, tmp_path / "cache")
    assert cache_files(tmp_path / "cache") == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"symbols": ["NOPE"]}, "valid symbols: ['EQU000', 'EQU001']"),
        ({"asset_class": "crypto"}, "available: ['equity']"),
        ({"feature": "ret_x"}, "unknown technical feature 'ret_x'"),
        ({"embargo": 2}, "embargo_days=2 is shorter than the observation window"),
    ],
)
def test_config_errors(tmp_path: Path, change: dict[str, object], fragment: str) -> None:
    cfg = csv_config(FIXTURE)
    if "feature" in change:
        cfg.features.technical = [str(change["feature"])]
    if "embargo" in change:
        cfg.splits.embargo_days = int(change["embargo"])  # type: ignore[call-overload]
    symbols = change.get("symbols")
    asset_class = str(change.get("asset_class", "equity"))
    with pytest.raises(DataError, match=fragment.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_market_data(cfg, asset_class, WINDOW, tmp_path / "cache", symbols=symbols)  # type: ignore[arg-type]
    assert cache_files(tmp_path / "cache") == []


def test_no_matching_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="matches no file"):
        load_market_data(csv_config(tmp_path / "missing_*.csv"), "equity", WINDOW, tmp_path / "cache")


# --- Time zones: a date is the one the file writes, never shifted through UTC. ---


def with_times(lines: list[str], suffix: str) -> list[str]:
    """The fixture with every date written as an ISO timestamp ending in `suffix` (a time and an offset)."""
    header, *rows = lines
    return [header] + [row[:10] + suffix + row[10:] for row in rows]


@pytest.mark.parametrize("suffix", ["T00:00:00+05:00", " 16:00:00-05:00", "T21:00:00Z", "T09:30:00"])
def test_timestamps_are_read_by_the_date_they_write(tmp_path: Path, suffix: str) -> None:
    path = write_lines(tmp_path / "stamped.csv", with_times(fixture_lines(), suffix))
    stamped = load_market_data(csv_config(path), "equity", WINDOW, tmp_path / "cache")
    plain = load_market_data(csv_config(FIXTURE), "equity", WINDOW, tmp_path / "cache")
    np.testing.assert_array_equal(stamped.dates, plain.dates)
    np.testing.assert_array_equal(stamped.features, plain.features)


def test_a_zone_aware_parquet_column_is_read_by_its_dates_in_that_zone(tmp_path: Path) -> None:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True)
    # Midnight in Karachi is 19:00 UTC of the day before: the stored instants sit on the previous UTC date.
    local = pl.col("date").cast(pl.Datetime("us")).dt.replace_time_zone("Asia/Karachi")
    path = tmp_path / "zoned.parquet"
    frame.with_columns(local).write_parquet(path)
    market = load_market_data(csv_config(path), "equity", WINDOW, tmp_path / "cache")
    assert str(market.dates[0]) == "2000-01-03"


def test_intraday_bars_load_as_utc_timestamps(tmp_path: Path) -> None:
    lines = fixture_lines()
    morning, afternoon = with_times(lines, "T09:30:00"), with_times(lines, "T15:30:00")
    bars = [row for pair in zip(morning[1:], afternoon[1:], strict=True) for row in pair]
    path = write_lines(tmp_path / "intraday.csv", [morning[0], *bars])
    market = load_market_data(csv_config(path), "equity", WINDOW, tmp_path / "cache")
    # two bars a day, 6 hours apart on most days: the bar length is the most common spacing
    assert market.frequency == "6h"
    assert [str(stamp) for stamp in market.dates[:3]] == [
        "2000-01-03T09:30:00",
        "2000-01-03T15:30:00",
        "2000-01-04T09:30:00",
    ]


def test_stray_intraday_rows_in_daily_data_are_named_as_such_not_as_duplicates(tmp_path: Path) -> None:
    lines = fixture_lines()
    morning, afternoon = with_times(lines, "T09:30:00"), with_times(lines, "T15:30:00")
    path = write_lines(tmp_path / "stray.csv", [morning[0], *morning[1:], *afternoon[1:4]])
    assert_rejected(
        path,
        tmp_path,
        str(path),
        "several rows per symbol and date at different times of day, but most bars of a symbol are 1d apart",
        "keep one row per symbol and trading day",
    )


# --- Sanity: repeated columns, overflowing values, inconsistent bars, implausible moves. ---


def test_a_repeated_header_column_is_refused(tmp_path: Path) -> None:
    header, *rows = fixture_lines()
    path = write_lines(tmp_path / "two_closes.csv", [header + ",close", *(row + ",1.0" for row in rows)])
    assert_rejected(path, tmp_path, str(path), "column(s) ['close'] appear more than once in the header")


def with_close(frame: pl.DataFrame, rows: pl.Expr, value: pl.Expr | float) -> pl.DataFrame:
    return frame.with_columns(pl.when(rows).then(value).otherwise(pl.col("close")).alias("close"))


def close_only(tmp_path: Path, name: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Path:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).select("date", "symbol", "close").with_row_index()
    path = tmp_path / name
    change(frame).drop("index").write_csv(path)
    return path


def test_a_value_that_would_overflow_a_feature_is_refused(tmp_path: Path) -> None:
    path = close_only(tmp_path, "huge.csv", lambda f: with_close(f, pl.col("index") == 20, 1e300))
    assert_rejected(path, tmp_path, str(path), "column 'close' has values beyond +-1e+100", "row 21:")


def test_a_symbol_priced_near_the_float_limit_is_refused(tmp_path: Path) -> None:
    path = close_only(
        tmp_path, "near_limit.csv", lambda f: with_close(f, pl.col("symbol") == "EQU001", pl.col("close") * 1e298)
    )
    assert_rejected(path, tmp_path, "column 'close' has values beyond +-1e+100", "(400 rows)", "symbol='EQU001'")


def test_a_one_day_move_above_the_limit_names_symbol_date_and_key(tmp_path: Path) -> None:
    path = close_only(tmp_path, "jump.csv", lambda f: with_close(f, pl.col("index") == 20, pl.col("close") * 10))
    assert_rejected(
        path,
        tmp_path,
        str(path),
        "one-day moves with |log return| above data.max_abs_log_return=2",
        "row 21: date=2000-01-31, symbol='EQU000'",
        "log_return=2.297",
    )


def test_the_move_limit_can_be_raised_or_switched_off(tmp_path: Path) -> None:
    path = close_only(tmp_path, "jump.csv", lambda f: with_close(f, pl.col("index") == 20, pl.col("close") * 10))
    for limit in (3.0, None):
        cfg = csv_config(path, max_abs_log_return=limit)
        assert load_market_data(cfg, "equity", WINDOW, tmp_path / f"cache_{limit}").n_assets == 2


def swap_rows(column_a: str, column_b: str, row: int) -> pl.DataFrame:
    frame = pl.read_csv(FIXTURE, try_parse_dates=True).with_row_index()
    at_row = pl.col("index") == row
    swapped = [
        pl.when(at_row).then(pl.col(column_b)).otherwise(pl.col(column_a)).alias(column_a),
        pl.when(at_row).then(pl.col(column_a)).otherwise(pl.col(column_b)).alias(column_b),
    ]
    return frame.with_columns(swapped).drop("index")


def test_high_below_low_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "high_low.parquet"
    swap_rows("high", "low", 30).write_parquet(path)
    assert_rejected(path, tmp_path, str(path), "column 'high' is below column 'low'", "row 31:")


def test_close_outside_the_bar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "close_high.parquet"
    swap_rows("close", "low", 30).with_columns((pl.col("low") * 1.001).alias("close")).write_parquet(path)
    assert_rejected(path, tmp_path, str(path), "column 'close' lies outside [low, high]")


def test_too_few_rows_names_the_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "short.csv", fixture_lines()[:30])
    assert_rejected(path, tmp_path, f"{path}: the train block has", "rows but needs at least window")


def test_a_garbled_csv_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "garbled.csv"
    path.write_text("date;symbol\n\x00\x01,,,\n")
    with pytest.raises(DataError) as caught:
        load_market_data(csv_config(path), "equity", WINDOW, tmp_path / "cache")
    assert str(caught.value).startswith(f"{path}: cannot be read as csv (")
    assert "\n" not in str(caught.value)


# --- A saved normalisation must be usable as it is. ---


@pytest.mark.parametrize(
    ("stats", "fragment"),
    [
        ({"ret_1": {"mean": 0.0, "std": float("nan"), "fitted": True}}, "feature 'ret_1' has std=nan"),
        ({"ret_1": {"mean": 0.0, "std": 0.0, "fitted": True}}, "feature 'ret_1' has std=0.0"),
        ({"ret_1": {"mean": float("inf"), "std": 1.0, "fitted": True}}, "feature 'ret_1' has mean=inf"),
        ({"ret_1": {"mean": 0.0, "fitted": True}}, "feature 'ret_1' needs the keys"),
        ([1, 2], "is not a JSON object"),
    ],
)
def test_a_damaged_saved_normalisation_is_refused(stats: object, fragment: str) -> None:
    with pytest.raises(DataError, match=re.escape(f"run/normalisation.json: {fragment}")):
        check_saved_stats(stats, "run/normalisation.json")


def test_a_fitted_normalisation_passes_its_own_check(tmp_path: Path) -> None:
    market = load_market_data(csv_config(FIXTURE), "equity", WINDOW, tmp_path / "cache")
    assert check_saved_stats(market.normalisation, "normalisation.json") == market.normalisation
