"""The multi-seed summary agrees with an independent computation (exact bootstrap distribution by enumeration)."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from hierl.evaluation.seeds import summarise_seeds

PER_SEED = {0: 0.8, 1: -0.3, 2: 1.9, 3: 0.4, 4: 1.1}


def exact_bootstrap_quantile(values: list[float], q: float) -> float:
    """Quantile of the mean over all n^n equally likely resamples, with numpy's linear interpolation rule."""
    means = np.sort([np.mean(draw) for draw in itertools.product(values, repeat=len(values))])
    return float(np.quantile(means, q))


def test_mean_std_and_interval_match_an_independent_computation() -> None:
    summary = summarise_seeds(PER_SEED, "test/sharpe", n_resamples=40_000)
    values = [PER_SEED[s] for s in sorted(PER_SEED)]
    assert summary.seeds == sorted(PER_SEED)
    assert summary.mean == pytest.approx(statistics.fmean(values))
    assert summary.std == pytest.approx(statistics.stdev(values))
    # Monte Carlo error of a 2.5% quantile with 40k resamples is well under 0.03 here.
    assert summary.ci_low == pytest.approx(exact_bootstrap_quantile(values, 0.025), abs=0.03)
    assert summary.ci_high == pytest.approx(exact_bootstrap_quantile(values, 0.975), abs=0.03)
    assert summary.ci_low < summary.mean < summary.ci_high


def test_the_summary_is_reproducible_and_degenerates_sensibly() -> None:
    assert summarise_seeds(PER_SEED, "m") == summarise_seeds(PER_SEED, "m")
    single = summarise_seeds({7: 0.5}, "m")
    assert single.std is None
    assert (single.ci_low, single.ci_high) == (0.5, 0.5)
    with pytest.raises(ValueError, match="no per-seed values"):
        summarise_seeds({}, "m")
