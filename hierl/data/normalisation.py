"""Feature scaling: fitted on the training block only (when Gold is built), applied to every row (in MarketData).

The statistics travel as plain JSON-able dicts, `{feature: {"mean", "std", "fitted"}}`: they are cached in the
Gold sidecar, saved with every run (`normalisation.json`) and given back to replay a policy on other data.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl

from hierl.errors import DataError

NormalisationStats = dict[str, dict[str, float | bool]]
STAT_KEYS = ("mean", "std", "fitted")
RESTORE_FIX = "restore normalisation.json from the training run folder (it is written there when the run starts)."


def fit_normalisation_stats(
    table: pl.DataFrame, names: list[str], train_dates: tuple[date, date]
) -> NormalisationStats:
    """Mean and std (ddof 1) of each feature over assets and training dates, where the asset has a real
    price and the value is finite. A feature with fewer than two such values is marked unfitted."""
    train = table.filter(pl.col("date").is_between(*train_dates) & pl.col("mask"))
    stats: NormalisationStats = {}
    for name in names:
        values = train.get_column(name).cast(pl.Float64)
        values = values.filter(values.is_finite())
        count = values.len()
        std = float(values.std()) if count > 1 else 1.0  # type: ignore[arg-type]
        stats[name] = {
            "mean": float(values.mean()) if count > 0 else 0.0,  # type: ignore[arg-type]
            "std": std if std > 1e-12 else 1.0,
            "fitted": count > 1,
        }
    return stats


def canonical_stats(names: list[str], stats: NormalisationStats) -> NormalisationStats:
    """The statistics of `names`, in that order, with plain float and bool values (JSON may hold ints)."""
    return {
        name: {
            "mean": float(stats[name]["mean"]),
            "std": float(stats[name]["std"]),
            "fitted": bool(stats[name]["fitted"]),
        }
        for name in names
    }


def normalise_feature(values: np.ndarray, stats: dict[str, float | bool], clip: float | None) -> np.ndarray:
    """One feature scaled to float32: 0 where undefined, 0 everywhere when unfitted, clipped to +-`clip` stds.

    An unfitted feature is 0 because a policy never saw it vary in training and would meet it first out of sample.
    """
    if not stats["fitted"]:
        return np.zeros(values.shape, dtype=np.float32)
    scaled = (values.astype(np.float64) - float(stats["mean"])) / float(stats["std"])
    scaled = np.where(np.isfinite(scaled), scaled, 0.0)
    if clip is not None:
        scaled = np.clip(scaled, -clip, clip)
    return scaled.astype(np.float32)


def _finite(value: object) -> float | None:
    """`value` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def check_saved_stats(stats: object, origin: str) -> NormalisationStats:
    """`stats` read back from a run's saved normalisation (`origin`, its file), checked before a replay uses it.

    A NaN std turns every value of its feature into 0, a zero std into inf, then 0: the policy would be replayed
    on other numbers than it was trained on, silently. Fitting writes a finite mean and a std > 0 for every
    feature (1 where it cannot fit), so anything else is a damaged or edited file.
    """
    if not isinstance(stats, dict):
        raise DataError(f"{origin}: is not a JSON object of per-feature statistics. Fix: {RESTORE_FIX}")
    for name, entry in stats.items():
        if not isinstance(entry, dict) or any(key not in entry for key in STAT_KEYS):
            raise DataError(f"{origin}: feature {name!r} needs the keys {list(STAT_KEYS)}. Fix: {RESTORE_FIX}")
        if _finite(entry["mean"]) is None:
            raise DataError(
                f"{origin}: feature {name!r} has mean={entry['mean']}, not a finite number. Fix: {RESTORE_FIX}"
            )
        std = _finite(entry["std"])
        if std is None or std <= 0.0:
            raise DataError(
                f"{origin}: feature {name!r} has std={entry['std']}; it must be a finite number > 0. Fix: {RESTORE_FIX}"
            )
    return stats
