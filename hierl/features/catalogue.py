"""Names of the features a config may ask for, what each needs, and one clear error for the rest.

Horizon-parametrised names (`ret_<h>`, `vol_<h>`, ...) are parsed, so `ret_10` works as well as `ret_5`. A bare
count is in bars; a count with a unit (`vol_24h`, `mom_30d`, `ret_15min`) is trading time, turned into bars with the
data's bar length and the class's calendar (see `hierl.features.horizons`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hierl.errors import DataError
from hierl.features.horizons import BarClock, parse_time_horizon

FAMILIES = ("technical", "sentiment", "macro", "regime")

# kind -> columns of the price table it needs besides `close`
TECHNICAL_KINDS: dict[str, tuple[str, ...]] = {
    "ret": (),
    "vol": (),
    "mom": (),
    "rsi": (),
    "bollinger": (),
    "atr": ("high", "low"),
    "volume_z": ("volume",),
}
FIXED_TECHNICAL: dict[str, tuple[str, ...]] = {"macd": ()}
SENTIMENT_KINDS: dict[str, tuple[str, ...]] = {"vix_change": (), "breadth": ()}
FIXED_SENTIMENT = ("vix_level", "credit_spread_change")
MACRO_NAMES = ("cpi_yoy", "credit_spread", "ff_mkt", "ff_smb", "ff_hml")
REGIME_NAMES = ("vol_regime", "trend_regime")
HORIZON_NAME = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<horizon>\d+)$")
# Kinds whose horizon counts rows of the class's own bars, so it may also be stated in time. `vix_change` counts
# rows of the daily VIX series, whatever the data's bars, and takes a plain count only.
TIME_STATED_KINDS = {**TECHNICAL_KINDS, "breadth": ()}


@dataclass(frozen=True)
class FeatureSpec:
    """One requested feature: `kind` selects the formula, `horizon` its look-back in rows (0 when fixed)."""

    name: str
    family: str
    kind: str
    horizon: int = 0
    needs: tuple[str, ...] = ()


def _parse_horizon(name: str, kinds: dict[str, tuple[str, ...]], clock: BarClock) -> tuple[str, int] | None:
    """(kind, horizon in bars) of `<kind>_<bars>`, or of `<kind>_<count><unit>` for a kind that allows it."""
    match = HORIZON_NAME.match(name)
    if match is None:
        time_kinds = {kind: needs for kind, needs in kinds.items() if kind in TIME_STATED_KINDS}
        return parse_time_horizon(name, time_kinds, clock)
    if match["kind"] not in kinds:
        return None
    horizon = int(match["horizon"])
    return (match["kind"], horizon) if horizon >= 1 else None


def _unknown(name: str, family: str, valid: str) -> DataError:
    return DataError(f"unknown {family} feature {name!r}; valid names: {valid}. Fix: data.features.{family}.")


def parse_feature(name: str, family: str, user_series: list[str], clock: BarClock | None = None) -> FeatureSpec:
    """Turn one configured name into a spec, or raise a DataError listing the valid names of the family.

    `clock` turns horizons stated in time into bars (default: daily bars, one a trading day)."""
    clock = clock if clock is not None else BarClock()
    if family == "technical":
        if name in FIXED_TECHNICAL:
            return FeatureSpec(name, family, name, 0, FIXED_TECHNICAL[name])
        parsed = _parse_horizon(name, TECHNICAL_KINDS, clock)
        if parsed is None:
            valid = "macd, " + ", ".join(f"{kind}_<h>" for kind in TECHNICAL_KINDS)
            raise _unknown(name, family, valid + " (h in bars, or a time: 24h, 30d, 15min)")
        kind, horizon = parsed
        if kind in ("vol", "mom", "bollinger", "volume_z") and horizon < 2:
            raise DataError(
                f"feature {name!r} needs a horizon of at least 2 rows (it has {horizon}). Fix: data.features.{family}."
            )
        return FeatureSpec(name, family, kind, horizon, TECHNICAL_KINDS[kind])
    if family == "sentiment":
        if name in FIXED_SENTIMENT:
            return FeatureSpec(name, family, name)
        if name in user_series:
            return FeatureSpec(name, family, "user_series")
        parsed = _parse_horizon(name, SENTIMENT_KINDS, clock)
        if parsed is None:
            valid = ", ".join([*FIXED_SENTIMENT, "vix_change_<h>", "breadth_<h>", *user_series])
            raise _unknown(name, family, valid + " (plus numeric columns of your data)")
        return FeatureSpec(name, family, parsed[0], parsed[1])
    if family == "macro":
        if name not in MACRO_NAMES:
            raise _unknown(name, family, ", ".join(MACRO_NAMES))
        return FeatureSpec(name, family, name)
    if family == "regime":
        if name not in REGIME_NAMES:
            raise _unknown(name, family, ", ".join(REGIME_NAMES))
        return FeatureSpec(name, family, name)
    raise ValueError(f"unknown feature family {family!r}; expected one of {FAMILIES}")


def resolve_features(
    requested: dict[str, list[str]],
    asset_class: str,
    available_columns: set[str],
    user_series: list[str],
    include_user_series: bool,
    clock: BarClock | None = None,
) -> list[FeatureSpec]:
    """All requested features of one class in family order, checked against the columns the class has.

    User series (extra numeric columns) are appended as sentiment features when `include_user_series` is set.
    `clock` turns horizons stated in time into bars (default: daily bars).
    A feature that needs a column the class lacks (e.g. `atr_14` on close-only data) is an error, not a
    silent zero, because it would hand the agent a constant it was told is informative.
    """
    specs: list[FeatureSpec] = []
    for family in FAMILIES:
        for name in requested.get(family, []):
            specs.append(parse_feature(name, family, user_series, clock))
    if include_user_series:
        listed = {spec.name for spec in specs}
        specs.extend(FeatureSpec(name, "sentiment", "user_series") for name in user_series if name not in listed)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"features {duplicates} are requested more than once. Fix: list each once in data.features.")
    for spec in specs:
        lacking = [column for column in spec.needs if column not in available_columns]
        if lacking:
            raise DataError(
                f"feature {spec.name!r} needs column(s) {lacking}, which asset class {asset_class!r} does not have "
                f"(it has {sorted(available_columns)}). Fix: remove {spec.name!r} from "
                f"data.features.{spec.family} for this class, or supply those columns."
            )
    if not specs:
        raise DataError("no features requested. Fix: list at least one name under data.features.")
    return specs
