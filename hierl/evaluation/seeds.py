"""How much of a result is the seed: mean, spread and a bootstrap interval of one metric over seeds.

The interval is a percentile bootstrap of the mean: draw `n` values with replacement from the `n` per-seed values,
`n_resamples` times, take the mean of each draw, and report the 2.5% and 97.5% quantiles of those means (linear
interpolation between order statistics). With few seeds it is narrow and optimistic, which is why the per-seed
values are written beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

BOOTSTRAP_METHOD = "percentile bootstrap of the mean over seeds"
DEFAULT_RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class SeedSummary:
    """One metric over seeds; `std` (ddof=1) is None with a single seed."""

    metric: str
    seeds: list[int]
    values: list[float]
    mean: float
    std: float | None
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    method: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample_std(values: np.ndarray | Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1) over seeds; None for a single seed, where it is undefined."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.std(ddof=1)) if array.size > 1 else None


def percentile_interval(statistics: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap statistics: their (1 - c) / 2 and (1 + c) / 2 quantiles."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(statistics, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (seeded, so the summary file is reproducible)."""
    if values.size == 0:
        raise ValueError("a bootstrap interval needs at least one value")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.size, size=(n_resamples, values.size))
    return percentile_interval(values[draws].mean(axis=1), confidence)


def summarise_seeds(
    per_seed: Mapping[int, float], metric: str, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> SeedSummary:
    """Mean, sample standard deviation and bootstrap 95% interval of `metric` over the seeds."""
    if not per_seed:
        raise ValueError(f"no per-seed values of {metric} to summarise")
    seeds = sorted(per_seed)
    values = np.array([per_seed[s] for s in seeds], dtype=np.float64)
    low, high = bootstrap_mean_ci(values, n_resamples, CONFIDENCE, seed)
    return SeedSummary(
        metric=metric,
        seeds=seeds,
        values=values.tolist(),
        mean=float(values.mean()),
        std=sample_std(values),
        ci_low=low,
        ci_high=high,
        confidence=CONFIDENCE,
        n_resamples=n_resamples,
        method=BOOTSTRAP_METHOD,
    )
