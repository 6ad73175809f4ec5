"""The entry point of the data layer: source -> validation -> Bronze -> Silver -> Gold -> MarketData.

Every check on the user's data and config runs before the first cache entry is written, so a failure leaves
no cache behind. Layers are cached as Parquet under `cache_dir/<layer>/<fingerprint>.parquet`; a fingerprint
hashes the inputs (file bytes, or the packages that ship the sample) and the config that matters to its layer.

Bars of any length: the bar length of each class is inferred from its timestamps (`hierl.data.frequency`) and
checked against `data.frequency`; with the class's `asset.calendar` it gives the bars a year (`hierl.data.calendar`)
and the bars a time-stated feature horizon spans. Daily bars on a 252-day calendar hash exactly as they did before
calendars existed: the calendar enters the Gold fingerprint only when it is another one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from hierl.config.data import DataConfig, check_data_values, iso_date
from hierl.config.run import CalendarConfig, check_calendar_values
from hierl.data.cache import LayerCache, fingerprint
from hierl.data.calendar import BarCalendar, bar_calendar, bar_clock
from hierl.data.dense import to_market_data
from hierl.data.frequency import checked_frequency, infer_frequency
from hierl.data.gold import build_gold
from hierl.data.market import MarketData
from hierl.data.normalisation import NormalisationStats
from hierl.data.silver import build_silver
from hierl.data.sources.csv_files import files_identity, read_price_file, resolve_files
from hierl.data.sources.reference import load_reference_series, reference_identity
from hierl.data.sources.sample import load_sample_source, sample_identity
from hierl.data.sources.schema import OPTIONAL_PRICE_COLUMNS, SourceTable
from hierl.data.sources.synthetic import generate_synthetic, synthetic_identity
from hierl.data.splits import compute_split_bounds
from hierl.data.timestamps import numpy_dates, on_or_after, through
from hierl.data.validation import validate_prices
from hierl.errors import DataError
from hierl.features.catalogue import FAMILIES, FeatureSpec, resolve_features
from hierl.features.macro import RELEASE_KEY, release_lag

__all__ = ["available_asset_classes", "load_market_data"]

LAYER_VERSION = 1  # bump when a layer's content changes for the same inputs


@dataclass
class _Pending:
    """Cache writes held back until every check has passed."""

    writes: list[tuple[str, str, pl.DataFrame]] = field(default_factory=list)

    def flush(self, cache: LayerCache) -> None:
        for layer, key, table in self.writes:
            cache.write(layer, key, table)
        self.writes.clear()


def _source_identity(cfg: DataConfig) -> tuple[str, str]:
    """(origin, identity) of the configured source, without loading it."""
    if cfg.source == "sample":
        return "sample", sample_identity()
    if cfg.source == "csv":
        files = resolve_files(cfg.path)
        return str(cfg.path), files_identity(files)
    return "synthetic", synthetic_identity(cfg.synthetic)


def _validate(cfg: DataConfig, raw: pl.DataFrame, origin: str, identity: str) -> SourceTable:
    """`validate_prices` with the limits of `cfg`."""
    return validate_prices(
        raw,
        origin,
        identity,
        max_gap_days=cfg.max_gap_days,
        max_abs_log_return=cfg.max_abs_log_return,
        default_asset_class=cfg.default_asset_class,
    )


def _load_raw(cfg: DataConfig, origin: str, identity: str) -> SourceTable:
    """Load and validate the configured source (the expensive path of a Bronze miss)."""
    if cfg.source == "sample":
        return _validate(cfg, load_sample_source().prices, origin, identity)
    if cfg.source == "synthetic":
        return _validate(cfg, generate_synthetic(cfg.synthetic), origin, identity)
    files = resolve_files(cfg.path)
    parts = [_validate(cfg, read_price_file(path), str(path), identity) for path in files]
    if len(parts) == 1:
        return parts[0]
    # Each file is valid on its own; together they may still repeat a (date, symbol) or leave a gap.
    combined = pl.concat([part.prices for part in parts], how="diagonal_relaxed")
    return _validate(cfg, combined, f"{origin} (all {len(files)} files)", identity)


def _bronze(cfg: DataConfig, cache: LayerCache, pending: _Pending) -> tuple[SourceTable, str]:
    origin, identity = _source_identity(cfg)
    # The validation limits are part of the key: a table checked with looser limits is not reused under stricter ones.
    key = fingerprint(
        "bronze", LAYER_VERSION, identity, cfg.max_gap_days, cfg.default_asset_class, cfg.max_abs_log_return
    )
    cached = cache.read("bronze", key)
    if cached is not None:
        return SourceTable(prices=cached, origin=origin, identity=identity), key
    table = _load_raw(cfg, origin, identity)
    pending.writes.append(("bronze", key, table.prices))
    return table, key


def _reference(cache: LayerCache, pending: _Pending) -> tuple[pl.DataFrame, str]:
    key = fingerprint("reference", LAYER_VERSION, reference_identity())
    cached = cache.read("bronze", key)
    if cached is not None:
        return cached, key
    table = load_reference_series()
    pending.writes.append(("bronze", key, table))
    return table, key


def available_asset_classes(cfg: DataConfig, cache_dir: Path) -> list[str]:
    """Asset classes present in the configured source, sorted (validates and caches Bronze on first call)."""
    check_data_values(cfg)
    cache = LayerCache(cache_dir)
    pending = _Pending()
    bronze, _ = _bronze(cfg, cache, pending)
    pending.flush(cache)
    return _asset_classes(bronze)


def _asset_classes(bronze: SourceTable) -> list[str]:
    return sorted(bronze.prices.get_column("asset_class").unique().to_list())


def _class_columns(class_prices: pl.DataFrame, user_series: list[str]) -> tuple[set[str], list[str]]:
    """Price columns and user series that have at least one value in this class."""
    present = {"close"} | {name for name in OPTIONAL_PRICE_COLUMNS if class_prices.get_column(name).is_not_null().any()}
    series = [name for name in user_series if class_prices.get_column(name).is_not_null().any()]
    return present, series


def _select_symbols(class_symbols: list[str], symbols: list[str] | None, asset_class: str, origin: str) -> list[str]:
    if symbols is None:
        return class_symbols
    unknown = [symbol for symbol in symbols if symbol not in class_symbols]
    if unknown or not symbols:
        raise DataError(
            f"{origin}: symbols {unknown or symbols} are not in asset class {asset_class!r}; valid symbols: "
            f"{class_symbols}."
        )
    return list(dict.fromkeys(symbols))


def _feature_config(specs: list[FeatureSpec], cfg: DataConfig, bars: BarCalendar) -> dict[str, Any]:
    """The part of the config the Gold content depends on; raises DataError for a missing or negative release lag.

    The bar calendar (annualised volatility, cash per bar) is left out for daily bars on a 252-day year, so their
    fingerprints stay those of every earlier version."""
    lags = {
        RELEASE_KEY[spec.kind]: release_lag(spec.kind, cfg.release_lag_days)
        for spec in specs
        if spec.kind in RELEASE_KEY
    }
    config: dict[str, Any] = {
        "features": [asdict(spec) for spec in specs],
        "release_lag_days": lags,
        "macro_max_age_days": cfg.macro_max_age_days,
        "start": cfg.start,
        "splits": asdict(cfg.splits),
    }
    if not bars.is_daily_default:
        config["calendar"] = asdict(bars)
    return config


def load_market_data(
    cfg: DataConfig,
    asset_class: str,
    window: int,
    cache_dir: Path,
    symbols: list[str] | None = None,
    normalisation: NormalisationStats | None = None,
    calendar: CalendarConfig | None = None,
) -> MarketData:
    """Dense, causal, normalised arrays of one asset class (optionally a subset of its symbols).

    `window` is the env's observation window: blocks are separated by at least `window` embargo rows and each
    block must hold `window + data.splits.min_block_steps` rows. Rows before `data.start` are used only as
    feature warm-up; features still undefined at the start (short history) are 0. Raises DataError for any
    problem with the data or the config. `normalisation` (a run's saved scaling, `MarketData.normalisation`)
    replaces the statistics fitted on this data's training block. `calendar` is the class's
    `asset.calendar` (default: 252 trading days a year of 6.5 trading hours); with the bar length inferred from the
    data (and checked against `data.frequency`) it gives `MarketData.bars_per_year`.
    """
    check_data_values(cfg)
    calendar = calendar if calendar is not None else CalendarConfig()
    check_calendar_values(calendar)
    cache = LayerCache(Path(cache_dir))
    pending = _Pending()
    bronze, bronze_key = _bronze(cfg, cache, pending)
    classes = _asset_classes(bronze)
    if asset_class not in classes:
        raise DataError(f"asset class {asset_class!r} is not in data source {bronze.origin!r}; available: {classes}.")
    start, end = iso_date(cfg.start, "start"), iso_date(cfg.end, "end")
    class_prices = bronze.prices.filter(pl.col("asset_class") == asset_class)
    if end is not None:
        class_prices = class_prices.filter(through(end, class_prices.schema["date"]))
    frequency = checked_frequency(
        cfg.frequency, infer_frequency(class_prices, bronze.origin), f"{bronze.origin} (asset class {asset_class!r})"
    )
    bars = bar_calendar(calendar, frequency)
    class_symbols = sorted(class_prices.get_column("symbol").unique().to_list())
    chosen = _select_symbols(class_symbols, symbols, asset_class, bronze.origin)
    columns, series = _class_columns(class_prices, bronze.user_series)
    requested = {family: list(getattr(cfg.features, family)) for family in FAMILIES}
    try:
        specs = resolve_features(
            requested, asset_class, columns, series, cfg.features.include_user_series, bar_clock(calendar, frequency)
        )
    except DataError as error:  # which columns a class has depends on the source: name it
        raise DataError(f"{bronze.origin}: {error}") from error
    feature_config = _feature_config(specs, cfg, bars)
    trading_days = class_prices.select("date").unique().sort("date")
    if start is not None:
        trading_days = trading_days.filter(on_or_after(start))
    dates = numpy_dates(trading_days.get_column("date"))
    split_bounds = compute_split_bounds(dates, cfg.splits, window, bronze.origin)
    reference, reference_key = _reference(cache, pending)
    pending.flush(cache)

    silver_key = fingerprint("silver", LAYER_VERSION, bronze_key, asset_class, cfg.ffill_limit, cfg.end)
    gold_key = fingerprint("gold", LAYER_VERSION, silver_key, reference_key, window, feature_config)
    table, meta = cache.read("gold", gold_key), cache.read_meta("gold", gold_key)
    if table is None or meta is None:
        silver = cache.read("silver", silver_key)
        if silver is None:
            silver = build_silver(class_prices.drop("asset_class"), cfg.ffill_limit)
            cache.write("silver", silver_key, silver)
        gold = build_gold(
            silver,
            reference,
            specs,
            cfg.release_lag_days,
            cfg.macro_max_age_days,
            start,
            split_bounds,
            bars.bars_per_year,
        )
        table, meta = gold.table, gold.meta
        cache.write("gold", gold_key, table, meta)
    if normalisation is not None and set(normalisation) != set(meta["feature_names"]):
        raise DataError(
            f"the saved normalisation covers features {sorted(normalisation)} but this data config builds "
            f"{sorted(meta['feature_names'])}; use the data.features the run was trained with"
        )
    market_key = fingerprint("market", gold_key, chosen, cfg.features.clip, normalisation)
    market = to_market_data(table, meta, asset_class, chosen, cfg.features.clip, market_key, normalisation)
    market = dataclasses.replace(market, frequency=bars.frequency, bars_per_year=bars.bars_per_year)
    if not np.array_equal(market.dates, dates):
        raise RuntimeError("Gold calendar differs from the calendar the splits were computed on")
    return market
