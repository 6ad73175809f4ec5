"""Feature scaling: fitted on the training block only (when Gold is built), applied to every row (in MarketData).

The statistics travel as plain JSON-able dicts, `{feature: {"mean", "std", "fitted"}}`: they are cached in the
Gold sidecar, saved with every run (`normalisation.json`) and given back to replay a policy on other data.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

NormalisationStats = dict[str, dict[str, float | bool]]


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
