"""Bars of any length: the bar length is inferred (or stated and checked), intraday timestamps are kept in UTC,
feature horizons may be stated in time, and the calendar gives the bars a year and the cash return per bar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hierl.config.data import DataConfig, FeatureConfig, SplitConfig, SyntheticConfig, check_data_values
from hierl.config.run import CalendarConfig
from hierl.data.calendar import bar_calendar, bar_clock
from hierl.data.frequency import frequency_name, infer_frequency
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.data.sources.reference import load_reference_series
from hierl.data.sources.synthetic import generate_synthetic
from hierl.data.splits import compute_split_bounds
from hierl.errors import DataError
from hierl.evaluation.plots import axis_dates
from hierl.features.builder import build_raw_features
from hierl.features.catalogue import FeatureSpec, parse_feature
from hierl.features.macro import daily_cash_return

FIXTURE = Path(__file__).parent / "data" / "prices_small.csv"
WINDOW = 8
CRYPTO = CalendarConfig(days_per_year=365.0, hours_per_day=24.0)


def bars_of(stamps: list[datetime] | np.ndarray, symbols: tuple[str, ...] = ("A", "B")) -> pl.DataFrame:
    """A long table of `stamps` for every symbol, with a smooth close."""
    times = pl.Series("date", list(stamps)).cast(pl.Datetime("us"))
    rows = [
        pl.DataFrame({"date": times, "symbol": symbol, "close": 100.0 + np.sin(np.arange(len(times)) / 5 + k)})
        for k, symbol in enumerate(symbols)
    ]
    return pl.concat(rows)


def hourly(first: datetime, n: int, step: timedelta = timedelta(hours=1)) -> list[datetime]:
    return [first + index * step for index in range(n)]


# --- Inference: the most common spacing between consecutive bars of a symbol. ---


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (SyntheticConfig(n_assets=2, n_days=60, asset_classes=["equity"]), "1d"),  # business days
        (SyntheticConfig(n_assets=2, n_days=60, asset_classes=["crypto"]), "1d"),  # every calendar day
        (SyntheticConfig(n_assets=2, n_days=20, asset_classes=["crypto"], frequency="1h"), "1h"),  # 24/7
        (SyntheticConfig(n_assets=2, n_days=20, asset_classes=["equity"], frequency="1h"), "1h"),  # a session
        (SyntheticConfig(n_assets=2, n_days=10, asset_classes=["equity"], frequency="15min"), "15min"),
        (SyntheticConfig(n_assets=4, n_days=20, asset_classes=["equity", "crypto"], frequency="1h"), "1h"),
    ],
)
def test_the_bar_length_is_the_most_common_spacing(config: SyntheticConfig, expected: str) -> None:
    assert infer_frequency(generate_synthetic(config), "synthetic") == expected


def test_weekly_and_minute_bars_are_named_canonically() -> None:
    weeks = bars_of([datetime(2020, 1, 6) + timedelta(weeks=k) for k in range(30)])
    assert infer_frequency(weeks.with_columns(pl.col("date").cast(pl.Date)), "weekly") == "7d"
    assert infer_frequency(bars_of(hourly(datetime(2020, 1, 6), 50, timedelta(minutes=5))), "5m") == "5min"
    assert infer_frequency(bars_of(hourly(datetime(2020, 1, 6), 50, timedelta(hours=4))), "4h") == "4h"
    assert [frequency_name(minutes) for minutes in (15, 60, 90, 1440, 10080)] == ["15min", "1h", "90min", "1d", "7d"]


def test_spacings_under_a_minute_are_refused() -> None:
    with pytest.raises(DataError, match="most common spacing between bars of a symbol is 30 s"):
        infer_frequency(bars_of(hourly(datetime(2020, 1, 6), 50, timedelta(seconds=30))), "ticks.csv")


def test_a_malformed_data_frequency_is_refused_before_any_data_is_read() -> None:
    with pytest.raises(DataError, match=r"data.frequency='hourly' is not a bar length; write a count and a unit"):
        check_data_values(DataConfig(frequency="hourly"))


# --- An hourly CSV: UTC timestamps, the bar length, the calendar. ---


def write_hourly_csv(path: Path, n: int = 480) -> list[datetime]:
    """Two symbols, hourly around the clock from 2024-01-01 00:00 UTC. Symbol A is written in UTC with `Z`,
    symbol B in New York time (UTC-5 in January) with its offset; returns the UTC stamps."""
    stamps = hourly(datetime(2024, 1, 1), n)
    lines = ["date,symbol,close,volume"]
    for index, stamp in enumerate(stamps):
        lines.append(f"{stamp:%Y-%m-%dT%H:%M:%S}Z,A,{100 + np.sin(index / 7):.6f},{1000 + index}")
        local = stamp - timedelta(hours=5)
        lines.append(f"{local:%Y-%m-%dT%H:%M:%S}-05:00,B,{50 + np.cos(index / 9):.6f},{2000 + index}")
    path.write_text("\n".join(lines) + "\n")
    return stamps


def hourly_config(path: Path, **overrides: object) -> DataConfig:
    features = FeatureConfig(technical=["ret_1", "ret_24h", "vol_24h", "vol_24"], macro=[])
    return DataConfig(source="csv", path=str(path), features=features, **overrides)  # type: ignore[arg-type]


def test_an_hourly_csv_loads_with_its_utc_timestamps(tmp_path: Path) -> None:
    stamps = write_hourly_csv(tmp_path / "hourly.csv")
    market = load_market_data(hourly_config(tmp_path / "hourly.csv"), "equity", WINDOW, tmp_path / "c", calendar=CRYPTO)
    assert market.dates.dtype == np.dtype("datetime64[s]")
    np.testing.assert_array_equal(market.dates, np.array(stamps, dtype="datetime64[s]"))
    assert market.frequency == "1h"
    assert market.bars_per_year == 365 * 24
    assert market.mask.all()  # B's offset timestamps land on A's UTC hours: one calendar, no gaps
    expected_b = 50 + np.cos(np.arange(len(stamps)) / 9)
    np.testing.assert_allclose(market.prices[:, market.symbols.index("B")], expected_b, atol=1e-6)
    # the same hours on an equity calendar (252 days of 6.5 trading hours) make fewer bars a year
    equity = load_market_data(hourly_config(tmp_path / "hourly.csv"), "equity", WINDOW, tmp_path / "c")
    assert equity.bars_per_year == 252 * 6.5
    assert equity.fingerprint != market.fingerprint


def test_daily_data_keeps_its_days_and_252_bars_a_year(tmp_path: Path) -> None:
    cfg = DataConfig(source="csv", path=str(FIXTURE), features=FeatureConfig(technical=["ret_1", "vol_21"], macro=[]))
    market = load_market_data(cfg, "equity", WINDOW, tmp_path)
    assert market.dates.dtype == np.dtype("datetime64[D]")
    assert str(market.dates[0]) == "2000-01-03"
    assert (market.frequency, market.bars_per_year) == ("1d", 252.0)
    crypto = load_market_data(cfg, "equity", WINDOW, tmp_path, calendar=CRYPTO)
    assert (crypto.frequency, crypto.bars_per_year) == ("1d", 365.0)
    # a year of 365 days annualises volatility and pays cash per day differently: another Gold table
    assert crypto.fingerprint != market.fingerprint


def test_a_data_frequency_that_contradicts_the_data_is_one_line(tmp_path: Path) -> None:
    write_hourly_csv(tmp_path / "hourly.csv")
    with pytest.raises(DataError) as caught:
        load_market_data(hourly_config(tmp_path / "hourly.csv", frequency="1d"), "equity", WINDOW, tmp_path / "c")
    message = str(caught.value)
    assert "\n" not in message
    assert "data.frequency='1d' but the bars are 1h apart" in message
    assert "Fix: data.frequency=1h or null" in message
    assert not list((tmp_path / "c").rglob("*.parquet"))  # refused before the first cache write
    # the same length written another way is no contradiction
    stated = load_market_data(hourly_config(tmp_path / "hourly.csv", frequency="60min"), "equity", WINDOW, tmp_path)
    assert stated.frequency == "1h"


def test_data_end_and_split_dates_take_whole_days_of_bars(tmp_path: Path) -> None:
    write_hourly_csv(tmp_path / "hourly.csv")
    cfg = hourly_config(
        tmp_path / "hourly.csv",
        end="2024-01-19",
        splits=SplitConfig(train_end="2024-01-12", val_end="2024-01-15"),
    )
    market = load_market_data(cfg, "equity", WINDOW, tmp_path)
    assert str(market.dates[-1]) == "2024-01-19T23:00:00"
    train_stop = market.split_bounds["train"][1]
    assert str(market.dates[train_stop - 1]) == "2024-01-12T23:00:00"
    val_stop = market.split_bounds["val"][1]
    assert str(market.dates[val_stop - 1]) == "2024-01-15T23:00:00"
    # the same rule on bare numpy timestamps
    stamps = np.array(hourly(datetime(2024, 1, 1), 24 * 30), dtype="datetime64[s]")
    bounds = compute_split_bounds(stamps, SplitConfig(train_end="2024-01-10", val_end="2024-01-20"), 8)
    assert bounds["train"] == (0, 24 * 10)


def test_a_gap_is_measured_in_calendar_time(tmp_path: Path) -> None:
    stamps = hourly(datetime(2024, 1, 1), 400)
    gapped = [stamp if index < 200 else stamp + timedelta(days=3) for index, stamp in enumerate(stamps)]
    path = tmp_path / "gap.parquet"
    bars_of(gapped).write_parquet(path)
    with pytest.raises(DataError, match=r"gaps longer than max_gap_days=3 calendar days") as caught:
        load_market_data(hourly_config(path, max_gap_days=3), "equity", WINDOW, tmp_path / "c")
    assert "gap_days=3.04" in str(caught.value)  # three days and an hour
    assert load_market_data(hourly_config(path, max_gap_days=4), "equity", WINDOW, tmp_path).frequency == "1h"


def test_a_repeated_timestamp_is_a_duplicate(tmp_path: Path) -> None:
    frame = bars_of(hourly(datetime(2024, 1, 1), 100))
    path = tmp_path / "dup.parquet"
    pl.concat([frame, frame.head(1)]).write_parquet(path)
    with pytest.raises(DataError, match=r"duplicate \(timestamp, symbol\) rows \(2 rows\)"):
        load_market_data(hourly_config(path), "equity", WINDOW, tmp_path / "c")


def test_a_zone_aware_parquet_column_is_converted_to_utc(tmp_path: Path) -> None:
    stamps = hourly(datetime(2024, 1, 1), 480)
    local = bars_of(stamps).with_columns(
        pl.col("date").dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York")
    )
    path = tmp_path / "zoned.parquet"
    local.write_parquet(path)
    market = load_market_data(hourly_config(path), "equity", WINDOW, tmp_path)
    np.testing.assert_array_equal(market.dates, np.array(stamps, dtype="datetime64[s]"))


# --- Feature horizons stated in time. ---


def test_time_stated_horizons_count_bars_of_the_class_calendar() -> None:
    crypto_hourly = bar_clock(CRYPTO, "1h")
    equity_hourly = bar_clock(CalendarConfig(), "1h")
    equity_daily = bar_clock(CalendarConfig(), "1d")

    def horizon(name: str, clock: object) -> int:
        return parse_feature(name, "technical", [], clock).horizon  # type: ignore[arg-type]

    assert horizon("vol_24h", crypto_hourly) == 24
    assert horizon("rsi_14d", crypto_hourly) == 14 * 24
    assert horizon("ret_90min", crypto_hourly) == 2  # 1.5 bars, to the nearest bar, halves up
    assert horizon("ret_1d", equity_hourly) == 7  # 6.5 trading hours: 6.5 bars, halves up
    assert horizon("ret_1d", equity_daily) == 1
    assert horizon("vol_24h", equity_daily) == 4  # 24 trading hours are 3.7 days of 6.5 hours
    assert horizon("mom_63", crypto_hourly) == 63  # a bare count stays bars
    assert horizon("ret_15m", bar_clock(CRYPTO, "15min")) == 1
    assert parse_feature("breadth_24h", "sentiment", [], crypto_hourly).horizon == 24
    with pytest.raises(DataError, match=r"'ret_30min' spans 0.5 bars of 60 trading minutes, less than one bar"):
        parse_feature("ret_30min", "technical", [], crypto_hourly)
    with pytest.raises(DataError, match=r"'vol_1h' needs a horizon of at least 2 rows \(it has 1\)"):
        parse_feature("vol_1h", "technical", [], crypto_hourly)
    with pytest.raises(DataError, match="unknown sentiment feature 'vix_change_5d'"):
        parse_feature("vix_change_5d", "sentiment", [], crypto_hourly)  # counts VIX days: a bare count only


def same_feature(market: MarketData, first: str, second: str) -> None:
    a, b = market.feature_names.index(first), market.feature_names.index(second)
    np.testing.assert_array_equal(market.features[:, :, a], market.features[:, :, b], err_msg=f"{first} != {second}")
    assert np.abs(market.features[:, :, a]).max() > 0


def test_time_stated_features_equal_the_bar_stated_ones_they_convert_to(tmp_path: Path) -> None:
    synthetic = SyntheticConfig(n_assets=3, n_days=60, asset_classes=["crypto"], frequency="1h", seed=2)
    features = FeatureConfig(
        technical=["vol_24h", "vol_24", "ret_1d", "ret_24", "mom_7d", "mom_168", "rsi_14h", "rsi_14"],
        sentiment=["breadth_24h", "breadth_24"],
        macro=[],
    )
    cfg = DataConfig(source="synthetic", synthetic=synthetic, features=features)
    market = load_market_data(cfg, "crypto", WINDOW, tmp_path, calendar=CRYPTO)
    for pair in [("vol_24h", "vol_24"), ("ret_1d", "ret_24"), ("mom_7d", "mom_168"), ("rsi_14h", "rsi_14")]:
        same_feature(market, *pair)
    same_feature(market, "breadth_24h", "breadth_24")
    daily = DataConfig(
        source="csv",
        path=str(FIXTURE),
        features=FeatureConfig(technical=["ret_1d", "ret_1", "vol_21d", "vol_21"], macro=[]),
    )
    daily_market = load_market_data(daily, "equity", WINDOW, tmp_path)
    same_feature(daily_market, "ret_1d", "ret_1")
    same_feature(daily_market, "vol_21d", "vol_21")


def test_volatility_is_annualised_with_the_class_calendar() -> None:
    """The raw `vol_<h>` is the std of one-bar log returns times sqrt(bars a year), on any calendar."""
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 100)))
    silver = pl.DataFrame({"date": hourly(datetime(2024, 1, 1), 100), "symbol": "A", "close": close})
    spec = FeatureSpec("vol_24", "technical", "vol", 24)
    for per_year in (252.0, 8760.0):
        raw = build_raw_features(silver, pl.DataFrame(), [spec], {}, 100, per_year)
        expected = np.diff(np.log(close))[-24:].std(ddof=1) * np.sqrt(per_year)
        assert raw.get_column("vol_24").to_numpy()[-1] == pytest.approx(expected, rel=1e-9)


# --- The calendar: bars a year and the cash return per bar. ---


def test_bars_a_year_follow_the_bar_length_and_the_calendar() -> None:
    assert bar_calendar(CRYPTO, "1h").bars_per_year == 365 * 24
    assert bar_calendar(CRYPTO, "15min").bars_per_year == 365 * 24 * 4
    assert bar_calendar(CRYPTO, "1d").bars_per_year == 365
    assert bar_calendar(CalendarConfig(), "1d").bars_per_year == 252
    assert bar_calendar(CalendarConfig(), "30min").bars_per_year == 252 * 13
    assert bar_calendar(CalendarConfig(), "7d").bars_per_year == pytest.approx(52.18, abs=0.01)
    assert bar_calendar(CalendarConfig(bars_per_year=1000.0), "1h").bars_per_year == 1000


RF_PERCENT = {date(2018, 1, 1): 0.12, date(2018, 2, 1): 0.11}


def rf_reference() -> pl.DataFrame:
    return pl.DataFrame({"series": "ff_rf", "period": list(RF_PERCENT), "value": list(RF_PERCENT.values())})


def test_cash_per_bar_preserves_the_annual_rate() -> None:
    stamps = hourly(datetime(2018, 1, 31, 20), 8)  # the last hours of January and the first of February
    calendar = pl.DataFrame({"date": stamps}).with_columns(pl.col("date").cast(pl.Datetime("us")))
    cash = daily_cash_return(calendar, rf_reference(), 8760.0)["cash_return"].to_numpy()
    january, february = (1 + RF_PERCENT[date(2018, 1, 1)] / 100), (1 + RF_PERCENT[date(2018, 2, 1)] / 100)
    # a bar belongs to the month of its UTC date; a year of its bars compounds to twelve months of the rate
    np.testing.assert_allclose((1 + cash[:4]) ** 8760, january**12, rtol=1e-12)
    np.testing.assert_allclose((1 + cash[4:]) ** 8760, february**12, rtol=1e-12)
    # daily bars of a 365-day calendar the same way; of a 252-day one exactly the old 21 days a month
    days = pl.DataFrame({"date": [date(2018, 1, 2), date(2018, 1, 3)]})
    per_day = daily_cash_return(days, rf_reference(), 365.0)["cash_return"].to_numpy()
    np.testing.assert_allclose((1 + per_day) ** 365, january**12, rtol=1e-12)
    old = daily_cash_return(days, rf_reference())["cash_return"].to_numpy()
    assert old.tolist() == [january ** (1.0 / 21.0) - 1.0] * 2


# --- Slow series on intraday bars, and no lookahead. ---


def test_an_intraday_bar_sees_a_macro_value_from_its_release_day_on() -> None:
    stamps = hourly(datetime(2010, 3, 15), 24 * 4)
    silver = pl.DataFrame({"date": stamps, "symbol": "X", "close": 100.0})
    specs = [FeatureSpec("cpi_yoy", "macro", "cpi_yoy")]
    lags = {"core_cpi": 45}
    reference = load_reference_series()
    intraday = build_raw_features(silver, reference, specs, lags, 100).sort("date")
    days = pl.DataFrame({"date": [date(2010, 3, 16), date(2010, 3, 17)], "symbol": "X", "close": 100.0})
    daily = build_raw_features(days, reference, specs, lags, 100).sort("date")["cpi_yoy"].to_list()
    # January's figure is published 31 Jan + 45 days = 17 March: every bar of the 17th sees it, none of the 16th
    on = intraday.filter(pl.col("date").dt.date() == date(2010, 3, 17))["cpi_yoy"].unique().to_list()
    before = intraday.filter(pl.col("date").dt.date() == date(2010, 3, 16))["cpi_yoy"].unique().to_list()
    assert on == [daily[1]] and before == [daily[0]] and daily[0] != daily[1]


def test_an_intraday_bar_sees_the_vix_close_of_the_day_before() -> None:
    reference = load_reference_series()
    vix = reference.filter(pl.col("series") == "vix").sort("period")
    day = vix["period"][100]
    stamps = hourly(datetime(day.year, day.month, day.day), 24)
    silver = pl.DataFrame({"date": stamps, "symbol": "X", "close": 100.0})
    spec = FeatureSpec("vix_level", "sentiment", "vix_level")
    raw = build_raw_features(silver, reference, [spec], {}, 100)
    assert raw["vix_level"].unique().to_list() == [vix["value"][99] / 100.0]


def test_changing_prices_after_a_bar_leaves_every_feature_up_to_it_unchanged(tmp_path: Path) -> None:
    synthetic = SyntheticConfig(
        n_assets=4, n_days=90, asset_classes=["crypto"], frequency="1h", start="2015-01-01", signal_strength=0.2
    )
    prices = generate_synthetic(synthetic)
    cutoff = datetime(2015, 2, 20, 13)
    after = pl.col("date") > cutoff
    shocked = prices.with_columns(
        [pl.when(after).then(pl.col(name) * 3.0).otherwise(pl.col(name)).alias(name) for name in ("close", "open")]
        + [pl.when(after).then(pl.col(name) * 3.0).otherwise(pl.col(name)).alias(name) for name in ("high", "low")]
        + [pl.when(after).then(pl.col(name) * 2.0 + 1.0).otherwise(pl.col(name)).alias(name) for name in ("volume",)]
    )
    features = FeatureConfig(
        technical=["ret_1h", "ret_24h", "vol_24h", "mom_3d", "rsi_14h", "macd", "bollinger_20", "atr_24h"],
        sentiment=["breadth_24h", "vix_level"],
        macro=["cpi_yoy", "ff_mkt"],
        regime=["vol_regime"],
    )
    splits = SplitConfig(train_end="2015-02-10", val_end="2015-03-01")

    def load(frame: pl.DataFrame, name: str) -> MarketData:
        frame.write_parquet(tmp_path / f"{name}.parquet")
        cfg = DataConfig(source="csv", path=str(tmp_path / f"{name}.parquet"), features=features, splits=splits)
        return load_market_data(cfg, "crypto", WINDOW, tmp_path / name, calendar=CRYPTO)

    original, changed = load(prices, "a"), load(shocked, "b")
    rows = int(np.searchsorted(original.dates, np.datetime64(cutoff, "s"), side="right"))
    assert original.split_bounds["train"][1] < rows < len(original.dates)
    for name in ("features", "returns", "mask", "cash_return"):
        assert getattr(original, name)[:rows].tobytes() == getattr(changed, name)[:rows].tobytes(), name
    assert (original.features[rows] != changed.features[rows])[:, original.feature_names.index("ret_1h")].all()
    before = original.features[:rows]
    assert all(np.abs(before[:, :, index]).max() > 0 for index in range(original.n_features)), original.feature_names


def test_a_file_of_daily_equities_and_hourly_crypto_gives_each_class_its_bar_length(tmp_path: Path) -> None:
    days = [datetime(2024, 1, 1) + timedelta(days=k) for k in range(420)]
    equities = bars_of(days, ("E1", "E2", "E3", "E4", "E5")).with_columns(pl.lit("equity").alias("asset_class"))
    crypto = bars_of(hourly(datetime(2024, 1, 1), 480), ("BTC",)).with_columns(pl.lit("crypto").alias("asset_class"))
    path = tmp_path / "mixed.parquet"
    pl.concat([equities, crypto]).write_parquet(path)
    equity = load_market_data(hourly_config(path), "equity", WINDOW, tmp_path)
    coins = load_market_data(hourly_config(path), "crypto", WINDOW, tmp_path, calendar=CRYPTO)
    assert (equity.frequency, equity.bars_per_year) == ("1d", 252.0)
    assert (coins.frequency, coins.bars_per_year) == ("1h", 8760.0)
    # one table holds one kind of date: the daily class's bars are timestamps at midnight UTC
    assert str(equity.dates[0]) == "2024-01-01T00:00:00" and len(equity.dates) == 420


def test_plots_keep_the_hours_of_intraday_bars() -> None:
    daily = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    assert axis_dates(daily).dtype == np.dtype("datetime64[D]")
    hours = np.array(hourly(datetime(2024, 1, 1), 3), dtype="datetime64[s]")
    np.testing.assert_array_equal(axis_dates(hours), hours)
    midnights = daily.astype("datetime64[s]")  # daily bars held as timestamps are drawn as days
    assert axis_dates(midnights).dtype == np.dtype("datetime64[D]")


def test_an_impossible_time_of_day_names_its_row(tmp_path: Path) -> None:
    write_hourly_csv(tmp_path / "hourly.csv", n=48)
    lines = (tmp_path / "hourly.csv").read_text().splitlines()
    lines[3] = lines[3].replace("T01:00:00Z", "T24:00:00Z")  # symbol A's second bar
    (tmp_path / "bad_time.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="intraday timestamps that are not valid times") as caught:
        load_market_data(hourly_config(tmp_path / "bad_time.csv"), "equity", WINDOW, tmp_path / "c")
    assert "row 3: timestamp='2024-01-01T24:00:00Z', symbol='A'" in str(caught.value)


def test_a_timestamp_split_bound_on_daily_bars_is_refused_in_one_line() -> None:
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    with pytest.raises(DataError, match=r"^data\.splits\.train_end='2024-01-20T13:00' is a timestamp, but the data"):
        compute_split_bounds(days, SplitConfig(train_end="2024-01-20T13:00", val_end="2024-02-10"), 5)
