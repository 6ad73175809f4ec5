"""Typed schema of the `data` config group: where prices come from, which features, how time is split."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from hierl.config.domains import AT_LEAST_ONE, NON_NEGATIVE, UNIT, UNIT_OPEN, Interval, check_ranges, check_value
from hierl.errors import DataError

DATA_SOURCES = ("sample", "csv", "synthetic")
# The blocks every asset class is split into, in time order.
SPLITS = ("train", "val", "test")
# A bar length: a count and a unit, `15min` (or `15m`), `1h`, `1d`.
FREQUENCY = re.compile(r"^\s*(?P<count>\d+)\s*(?P<unit>min|m|h|d)\s*$")
MINUTES_PER_DAY = 24 * 60
FREQUENCY_UNIT_MINUTES = {"min": 1, "m": 1, "h": 60, "d": MINUTES_PER_DAY}
DAILY = "1d"
# Bars in a year of daily US equity bars: the calendar of a class that names none (`asset.calendar`'s default),
# and the year every number was computed in before calendars existed. The one definition of 252.
DAILY_BARS_PER_YEAR = 252.0


@dataclass
class FeatureConfig:
    """Feature families to build; each name is one column family of the Gold table."""

    technical: list[str] = field(default_factory=lambda: ["ret_1", "ret_5", "ret_21", "vol_21", "mom_63"])
    sentiment: list[str] = field(default_factory=list)
    macro: list[str] = field(default_factory=lambda: ["cpi_yoy", "credit_spread"])
    regime: list[str] = field(default_factory=list)
    # Extra numeric columns of the data (user series, the synthetic `signal`) become sentiment features.
    include_user_series: bool = True
    # Normalised features are clipped to +-clip training standard deviations; null disables clipping.
    clip: float | None = 10.0


@dataclass
class SplitConfig:
    """Contiguous train / validation / test blocks; the test block is what is left after validation.

    Dates (ISO strings) win over fractions when given. `embargo_days` trading days are dropped between blocks;
    null means "as long as the observation window", the minimum that keeps blocks from sharing information.
    `train_end` / `val_end` are days (a block through a day holds every bar of it) or, for intraday bars, ISO
    timestamps (`2024-01-31T13:00:00`, UTC; a `Z` or an offset is converted): a block through a timestamp ends at
    its last bar at or before it, so a walk-forward fold can end between two bars of one day.
    """

    train_fraction: float = 0.7
    val_fraction: float = 0.15
    train_end: str | None = None
    val_end: str | None = None
    embargo_days: int | None = None
    # Each block needs at least window + min_block_steps rows.
    min_block_steps: int = 20


@dataclass
class SyntheticConfig:
    """Seeded regime-switching generator, for tests and for users without data.

    `n_days` days from `start`: business days, or every calendar day once a class of `asset_classes` is in
    `always_open`. `frequency` "1d" writes one bar a day; an intraday length ("1h", "15min") writes bars around the
    clock for always-open classes and in a 14:00-21:00 UTC session on business days for the others (see
    `hierl.data.sources.synthetic`).
    """

    n_assets: int = 8
    n_days: int = 3000
    asset_classes: list[str] = field(default_factory=lambda: ["equity", "commodity"])
    signal_strength: float = 0.0
    # AR(1) coefficient phi of the signal: signal[t] = phi * signal[t-1] + sqrt(1 - phi^2) * eps[t]; 0 = i.i.d.
    signal_persistence: float = 0.0
    seed: int = 0
    # Bar length: "1d" (business days, as ever) or an intraday length that divides an hour ("1h", "15min").
    frequency: str = DAILY
    # Classes that trade every calendar day (and, intraday, every hour), like crypto.
    always_open: list[str] = field(default_factory=lambda: ["crypto"])
    # The first day of the timeline (ISO date).
    start: str = "2000-01-03"


@dataclass
class DataConfig:
    """Where the data comes from (`source`) and how it is cleaned."""

    source: str = "sample"
    path: str | None = None
    start: str | None = None
    end: str | None = None
    ffill_limit: int = 5
    max_gap_days: int = 10
    release_lag_days: dict[str, int] = field(
        default_factory=lambda: {"core_cpi": 45, "credit_spread": 35, "fama_french": 35}
    )
    # Asset class of rows whose file has no `asset_class` column (csv source).
    default_asset_class: str = "equity"
    # A published macro figure older than this many days is treated as unknown (the series stopped).
    macro_max_age_days: int = 100
    # A one-day close-to-close |log return| above this is refused as a data error; null disables the check.
    # 2.0 is a fall of 86% or a rise of 639%: a price in the wrong unit (a shifted decimal point, ln 10 = 2.3)
    # or a split left unadjusted is refused, real crashes and rallies pass.
    max_abs_log_return: float | None = 2.0
    # Bar length of the data: null infers it (the most common spacing between consecutive bars of a symbol, e.g.
    # "1d", "1h", "15min"); a value is checked against the data and a contradiction refused.
    frequency: str | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


DATA_RANGES: dict[str, Interval] = {
    "ffill_limit": NON_NEGATIVE,
    "max_gap_days": AT_LEAST_ONE,
    "macro_max_age_days": AT_LEAST_ONE,
    "max_abs_log_return": Interval(0.0, low_open=True, optional=True),
}
FEATURE_RANGES: dict[str, Interval] = {"clip": Interval(0.0, low_open=True, optional=True)}
SPLIT_RANGES: dict[str, Interval] = {
    "embargo_days": Interval(0.0, optional=True),
    "min_block_steps": AT_LEAST_ONE,
}
SYNTHETIC_RANGES: dict[str, Interval] = {
    "n_assets": AT_LEAST_ONE,
    # One return needs two days.
    "n_days": Interval(2.0),
    "signal_strength": UNIT,
    # phi = 1 is a random walk: no stationary distribution, and sqrt(1 - phi^2) = 0 would freeze the signal.
    "signal_persistence": Interval(0.0, 1.0, high_open=True),
    "seed": NON_NEGATIVE,
}


def bar_minutes(value: str, key: str) -> int:
    """A bar length (`data.<key>`, e.g. "15min", "1h", "1d") in minutes; a DataError naming the key otherwise."""
    match = FREQUENCY.match(str(value))
    if match is None or int(match["count"]) < 1:
        raise DataError(f"data.{key}={value!r} is not a bar length; write a count and a unit: 15min (or 15m), 1h, 1d.")
    return int(match["count"]) * FREQUENCY_UNIT_MINUTES[match["unit"]]


def iso_date(value: str | None, key: str) -> date | None:
    """`data.<key>` as a date (None stays None); a DataError naming the key for anything but YYYY-MM-DD."""
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise DataError(f"data.{key}={value!r} is not an ISO date (YYYY-MM-DD).") from error


def parse_bound(text: str) -> date | datetime:
    """An ISO day (`2024-01-31`) as a date, or an ISO timestamp (`2024-01-31T13:00:00`, `...Z`, `...+02:00`) as a
    naive UTC datetime, as the data layer holds intraday bars; ValueError for anything else."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def split_bound(value: str | None, key: str) -> date | datetime | None:
    """`data.splits.<key>` as a day or a timestamp (`parse_bound`); None stays None; a DataError naming the key."""
    if value is None:
        return None
    try:
        return parse_bound(str(value))
    except ValueError as error:
        raise DataError(
            f"data.splits.{key}={value!r} is not an ISO date (YYYY-MM-DD) or, for intraday bars, an ISO timestamp "
            "(YYYY-MM-DDTHH:MM:SS)."
        ) from error


def _last_instant(bound: date | datetime) -> datetime:
    """The end of what a block bound covers: a timestamp itself, a day up to its last microsecond."""
    if isinstance(bound, datetime):
        return bound
    return datetime(bound.year, bound.month, bound.day) + timedelta(days=1, microseconds=-1)


def _out_of_order(earlier: tuple[str, date | datetime], later: tuple[str, date | datetime]) -> bool:
    """Days compare as days (as they always have); with a timestamp, `start` is its day's first instant and the
    other bounds the last instant they cover, so a timestamp may end a block on the day the next one ends."""
    (earlier_key, first), (_, second) = earlier, later
    if not isinstance(first, datetime) and not isinstance(second, datetime):
        return first >= second
    start = datetime(first.year, first.month, first.day) if earlier_key == "start" else _last_instant(first)
    return start >= _last_instant(second)


def check_split_fractions(cfg: SplitConfig) -> None:
    """Both fractions in (0, 1) with room left for the test block, which is what remains after validation."""
    check_ranges(cfg, {"train_fraction": UNIT_OPEN, "val_fraction": UNIT_OPEN}, "data.splits", DataError)
    if cfg.train_fraction + cfg.val_fraction >= 1.0:
        raise DataError(
            f"data.splits.train_fraction={cfg.train_fraction} + data.splits.val_fraction={cfg.val_fraction} must "
            "be < 1 (the test block is what is left)."
        )


def check_synthetic_values(cfg: SyntheticConfig) -> None:
    """The generator's sizes, signal strength and persistence in range, and one asset or more for each class."""
    check_ranges(cfg, SYNTHETIC_RANGES, "data.synthetic", DataError)
    if not cfg.asset_classes or cfg.n_assets < len(cfg.asset_classes):
        raise DataError(
            f"data.synthetic.asset_classes={list(cfg.asset_classes)} needs at least one asset per class; "
            f"n_assets={cfg.n_assets}."
        )
    if len(set(cfg.asset_classes)) != len(cfg.asset_classes):
        raise DataError(f"data.synthetic.asset_classes={list(cfg.asset_classes)} repeats a class name.")
    minutes = bar_minutes(cfg.frequency, "synthetic.frequency")
    if minutes != FREQUENCY_UNIT_MINUTES["d"] and (minutes > 60 or 60 % minutes):
        raise DataError(
            f"data.synthetic.frequency={cfg.frequency!r} is neither 1d nor an intraday bar that divides an hour "
            "(1h, 30min, 15min, 5min, 1min, ...)."
        )
    iso_date(cfg.start, "synthetic.start")


def check_date_order(cfg: DataConfig) -> None:
    """data.start < data.splits.train_end < data.splits.val_end < data.end, for those that are set.

    Out of order, the blocks would be empty and the error would only say so after the data was built. The split
    bounds may be timestamps (`split_bound`); `start` and `end` are days."""
    bounds: dict[str, date | datetime | None] = {  # in the time order they must have
        "start": iso_date(cfg.start, "start"),
        "splits.train_end": split_bound(cfg.splits.train_end, "train_end"),
        "splits.val_end": split_bound(cfg.splits.val_end, "val_end"),
        "end": iso_date(cfg.end, "end"),
    }
    given = [(key, bound) for key, bound in bounds.items() if bound is not None]
    for (earlier_key, earlier), (later_key, later) in pairwise(given):
        if _out_of_order((earlier_key, earlier), (later_key, later)):
            raise DataError(
                f"data.{earlier_key}={earlier} must be before data.{later_key}={later}: data.start, "
                "data.splits.train_end, data.splits.val_end and data.end run in time order."
            )


def check_data_values(cfg: DataConfig) -> None:
    """Every `data.*` value with a domain, raised as one DataError naming the key, before any data is read."""
    if cfg.source not in DATA_SOURCES:
        raise DataError(f"data.source={cfg.source!r} is unknown; choose one of {list(DATA_SOURCES)}.")
    check_ranges(cfg, DATA_RANGES, "data", DataError)
    if cfg.frequency is not None:
        bar_minutes(cfg.frequency, "frequency")
    for name, lag in cfg.release_lag_days.items():
        check_value(f"data.release_lag_days.{name}", lag, NON_NEGATIVE, DataError)
    check_ranges(cfg.features, FEATURE_RANGES, "data.features", DataError)
    check_split_fractions(cfg.splits)
    check_ranges(cfg.splits, SPLIT_RANGES, "data.splits", DataError)
    check_date_order(cfg)
    if cfg.source == "synthetic":
        check_synthetic_values(cfg.synthetic)
