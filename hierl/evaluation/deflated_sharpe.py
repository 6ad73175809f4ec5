"""The deflated Sharpe ratio (Bailey & López de Prado, 2014): how much of the best of N trials is skill.

The best Sharpe ratio of a sweep is biased upwards: even when every configuration is worthless, the maximum of
N noisy estimates grows with N. The deflated Sharpe ratio is the probabilistic Sharpe ratio of the selected
strategy measured against the Sharpe ratio its best trial would be expected to reach by luck alone.

Units: every Sharpe ratio here is per period (mean over standard deviation of the per-period returns, not
annualised), because the standard error of the estimate is expressed in the number of periods. Divide an
annualised Sharpe ratio by sqrt(periods_per_year) before passing it in; its variance by periods_per_year.

The formulas are skfolio's (`skfolio.measures.probabilistic_sharpe_ratio`, `expected_max_sharpe_ratio`,
`deflated_sharpe_ratio`); hierl keeps its input checks in front of them, because skfolio answers NaN where these
raise one line naming the fix (fewer than three returns, a flat series, NaN or inf, no trials). skfolio's sample
skewness and kurtosis differ from `scipy.stats`' (which hierl used before) in the last bits, so a `dsr` can differ
from one hierl reported earlier by about 1e-14 relative; tests/test_deflated_sharpe.py holds the results to a
closed form written out with the standard library, to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from skfolio import measures

from hierl.evaluation.metrics import ZERO_DISPERSION

# Skewness and kurtosis of fewer returns say nothing (skfolio answers NaN below three).
MIN_RETURNS = 3


class DeflatedSharpeInputError(ValueError):
    """Inputs the deflated Sharpe ratio cannot be computed from; the message names the fix."""


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DeflatedSharpeInputError(f"{name} must be a finite number, got {value}")
    return number


def probabilistic_sharpe_ratio(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """Probability that the true per-period Sharpe ratio behind `returns` exceeds `benchmark_sharpe`.

    The standard error of a Sharpe estimate grows with skewness and fat tails (Mertens, 2002), so a negatively
    skewed, fat-tailed series needs a higher estimate for the same confidence. The skewness and (Pearson)
    kurtosis are the sample moments of `returns`; their count is the track record.
    """
    values = _varying_returns(returns)
    benchmark = _finite(benchmark_sharpe, "benchmark_sharpe")
    return _probability(measures.probabilistic_sharpe_ratio(values, benchmark_sharpe_ratio=benchmark))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of `n_trials` Sharpe estimates whose true value is zero (the false-strategy theorem).

    `sharpe_variance` is the variance of the estimates across trials, in per-period units. One trial has
    nothing to select from, so its expected maximum is the mean, 0.
    """
    sharpe_variance = _finite(sharpe_variance, "sharpe_variance")
    if int(n_trials) != n_trials or n_trials < 1:
        raise DeflatedSharpeInputError(f"n_trials must be an integer of at least 1, got {n_trials}")
    if sharpe_variance < 0.0:
        raise DeflatedSharpeInputError(f"sharpe_variance must not be negative, got {sharpe_variance}")
    return float(measures.expected_max_sharpe_ratio(int(n_trials), math.sqrt(sharpe_variance)))


def per_period_sharpe(returns: np.ndarray) -> float:
    """Mean over sample standard deviation (ddof=1) of per-period returns, not annualised."""
    values = _varying_returns(returns)
    return float(values.mean() / np.std(values, ddof=1))


def deflated_sharpe_ratio(returns: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Probability that the strategy behind `returns` has a positive Sharpe ratio after selecting it from trials.

    `returns` are the selected strategy's per-period simple returns; `trial_sharpes` holds the per-period Sharpe
    ratio of every trial of the search, the selected one included. The number of trials is their count and the
    spread is their sample standard deviation (ddof=1). Skewness and kurtosis are the sample moments of `returns`.
    """
    values = _varying_returns(returns)
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.ndim != 1 or trials.size == 0:
        raise DeflatedSharpeInputError(
            f"trial_sharpes must be a non-empty 1-D array (one Sharpe ratio per trial), got shape {trials.shape}"
        )
    if not np.all(np.isfinite(trials)):
        raise DeflatedSharpeInputError("trial_sharpes contains NaN or inf; drop trials without a Sharpe ratio")
    return _probability(measures.deflated_sharpe_ratio(values, trials))


def _varying_returns(returns: np.ndarray) -> np.ndarray:
    """`returns` as a 1-D float array of at least `MIN_RETURNS` finite values that vary."""
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1 or values.size < MIN_RETURNS:
        raise DeflatedSharpeInputError(
            f"returns must be a 1-D array of at least {MIN_RETURNS} per-period returns (skewness and kurtosis need "
            f"them), got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise DeflatedSharpeInputError("returns contains NaN or inf; fill or drop those periods first")
    # Below this the series is constant up to rounding; `sharpe_ratio` reports 0, here the ratio is undefined.
    if float(np.std(values, ddof=1)) < ZERO_DISPERSION:
        raise DeflatedSharpeInputError(
            "returns do not vary (a flat or constant strategy), so their Sharpe ratio is undefined"
        )
    return values


def _probability(value: float | np.ndarray) -> float:
    """skfolio's answer for one series; NaN only where the Sharpe ratio's variance is not positive (two values)."""
    probability = float(value)
    if not math.isfinite(probability):
        raise DeflatedSharpeInputError(
            "the Sharpe ratio's estimated variance is not positive for these returns (a series of two values)"
        )
    return probability
