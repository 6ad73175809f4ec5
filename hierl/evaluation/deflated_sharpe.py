"""The deflated Sharpe ratio (Bailey & López de Prado, 2014): how much of the best of N trials is skill.

The best Sharpe ratio of a sweep is biased upwards: even when every configuration is worthless, the maximum of
N noisy estimates grows with N. The deflated Sharpe ratio is the probabilistic Sharpe ratio of the selected
strategy measured against the Sharpe ratio its best trial would be expected to reach by luck alone.

Units: every Sharpe ratio here is per period (mean over standard deviation of the per-period returns, not
annualised), because the standard error of the estimate is expressed in the number of periods `n_obs`. Divide
an annualised Sharpe ratio by sqrt(periods_per_year) before passing it in; its variance by periods_per_year.
Kurtosis is Pearson's (not excess): 3 for a normal distribution.

`skfolio.measures.deflated_sharpe_ratio` computes the same formula, but its sample skewness and kurtosis differ
from `scipy.stats`' in the last bits for about a third of return series, which moves about 1 in 250 deflated
Sharpe ratios by up to 1e-14 relative. hierl keeps this implementation so that every `dsr` it ever reported stays
bit-identical, with its own input checks (skfolio returns NaN where these raise one line naming the fix);
tests/test_deflated_sharpe.py checks the two agree to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import kurtosis as sample_kurtosis
from scipy.stats import norm
from scipy.stats import skew as sample_skew

from hierl.evaluation.metrics import ZERO_DISPERSION

EULER_MASCHERONI = 0.5772156649015329


class DeflatedSharpeInputError(ValueError):
    """Inputs the deflated Sharpe ratio cannot be computed from; the message names the fix."""


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise DeflatedSharpeInputError(f"{name} must be a finite number, got {value}")
    return number


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark_sharpe: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true per-period Sharpe ratio exceeds `benchmark_sharpe`, given the estimate `sharpe`.

    The standard error of a Sharpe estimate grows with skewness and fat tails (Mertens, 2002), so a
    negatively skewed, fat-tailed series needs a higher estimate for the same confidence.
    `n_obs` is the number of returns the estimate came from; `kurtosis` is Pearson's (3 for normal).
    """
    sharpe = _finite(sharpe, "sharpe")
    benchmark_sharpe = _finite(benchmark_sharpe, "benchmark_sharpe")
    skew = _finite(skew, "skew")
    kurtosis = _finite(kurtosis, "kurtosis")
    if int(n_obs) != n_obs or n_obs < 2:
        raise DeflatedSharpeInputError(f"n_obs must be an integer of at least 2 returns, got {n_obs}")
    # Never negative for a real distribution (kurtosis >= 1 + skew^2); zero only for a two-point one.
    variance_factor = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if variance_factor <= 0.0:
        raise DeflatedSharpeInputError(
            f"skew={skew} and kurtosis={kurtosis} give a non-positive Sharpe-ratio variance at sharpe={sharpe}; "
            "pass moments measured on the same returns (Pearson kurtosis, 3 for normal, not excess kurtosis)"
        )
    z_score = (sharpe - benchmark_sharpe) * math.sqrt(n_obs - 1) / math.sqrt(variance_factor)
    return float(norm.cdf(z_score))


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
    if n_trials == 1:
        return 0.0
    trials = float(n_trials)
    quantile_max = norm.ppf(1.0 - 1.0 / trials)
    quantile_tail = norm.ppf(1.0 - 1.0 / (trials * math.e))
    spread = (1.0 - EULER_MASCHERONI) * quantile_max + EULER_MASCHERONI * quantile_tail
    return float(math.sqrt(sharpe_variance) * spread)


def per_period_sharpe(returns: np.ndarray) -> float:
    """Mean over sample standard deviation (ddof=1) of per-period returns, not annualised."""
    values = _returns(returns)
    dispersion = float(np.std(values, ddof=1))
    # Below this the series is constant up to rounding; `sharpe_ratio` reports 0, here the ratio is undefined.
    if dispersion < ZERO_DISPERSION:
        raise DeflatedSharpeInputError(
            "returns do not vary (a flat or constant strategy), so their Sharpe ratio is undefined"
        )
    return float(values.mean() / dispersion)


def deflated_sharpe_ratio(returns: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Probability that the strategy behind `returns` has a positive Sharpe ratio after selecting it from trials.

    `returns` are the selected strategy's per-period simple returns; `trial_sharpes` holds the per-period Sharpe
    ratio of every trial of the search, the selected one included. The number of trials is their count and the
    variance is their sample variance (ddof=1). Skewness and kurtosis are the sample moments of `returns`.
    """
    values = _returns(returns)
    trials = np.asarray(trial_sharpes, dtype=np.float64)
    if trials.ndim != 1 or trials.size == 0:
        raise DeflatedSharpeInputError(
            f"trial_sharpes must be a non-empty 1-D array (one Sharpe ratio per trial), got shape {trials.shape}"
        )
    if not np.all(np.isfinite(trials)):
        raise DeflatedSharpeInputError("trial_sharpes contains NaN or inf; drop trials without a Sharpe ratio")
    sharpe = per_period_sharpe(values)
    variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    benchmark = expected_max_sharpe(trials.size, variance)
    return probabilistic_sharpe_ratio(
        sharpe,
        benchmark,
        values.size,
        float(sample_skew(values)),
        float(sample_kurtosis(values, fisher=False)),
    )


def _returns(returns: np.ndarray) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise DeflatedSharpeInputError(
            f"returns must be a 1-D array of at least 2 per-period returns, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise DeflatedSharpeInputError("returns contains NaN or inf; fill or drop those periods first")
    return values
