"""Performance metrics of a return series of one bar a period.

Every metric takes simple per-period net returns (fractions, 0.01 = +1%) and returns a plain Python float, so
the values go straight into `metrics.json` and W&B. Ratios that are undefined for a given series (zero
volatility, no downside, no drawdown) are reported as 0.0 rather than inf or nan: a non-finite number breaks
JSON, averaging across seeds and Optuna's objective, and 0.0 never ranks a degenerate run above a real one.
Read such a ratio together with `ann_volatility` and `max_drawdown`.

Annualised numbers count a year in the bars of the series' calendar, `periods_per_year` (`MarketData.
bars_per_year`, `Backtest.bars_per_year`: 252 daily US equity bars, 365 daily crypto bars, 8760 hourly crypto
bars), so a Sharpe ratio or a turnover of crypto or intraday bars reads on the same yearly scale as one of daily
equity bars. The default is the daily calendar of a class that names none.
"""

from __future__ import annotations

import math

import numpy as np

# Re-exported: the default calendar of the metrics, for the layers above that do not import the envs.
from hierl.envs.market_core import DAILY_BARS_PER_YEAR as DAILY_BARS_PER_YEAR

# A standard deviation below this is floating-point noise around a constant series (e.g. all returns 0.01).
ZERO_DISPERSION = 1e-12

METRIC_KEYS = (
    "ann_return",
    "ann_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "cvar_95",
    "calmar",
    "turnover",
    "total_return",
    "n_days",
)


class MetricInputError(ValueError):
    """A metric was given an array it cannot be computed from."""


def _validated(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise MetricInputError(f"{name} must be a 1-D array of per-period values, got shape {array.shape}")
    if array.size == 0:
        raise MetricInputError(f"{name} is empty; metrics need at least one period")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise MetricInputError(
            f"{name} contains NaN or inf (first at index {bad}); fill or drop those periods before computing metrics"
        )
    return array


def _excess(returns: np.ndarray, risk_free: np.ndarray | float) -> np.ndarray:
    returns = _validated(returns, "returns")
    if np.ndim(risk_free) == 0:
        rate = float(risk_free)
        if not math.isfinite(rate):
            raise MetricInputError(f"risk_free must be finite, got {rate}")
        return returns - rate
    rates = _validated(np.asarray(risk_free), "risk_free")
    if rates.shape != returns.shape:
        raise MetricInputError(
            f"risk_free has shape {rates.shape} but returns has {returns.shape}; pass one rate per period or a scalar"
        )
    return returns - rates


def total_return(returns: np.ndarray) -> float:
    """Compounded return over the whole series."""
    returns = _validated(returns, "returns")
    return float(np.prod(1.0 + returns) - 1.0)


def annualised_return(returns: np.ndarray, periods_per_year: float = DAILY_BARS_PER_YEAR) -> float:
    """Geometric (compound) annual growth rate; -1.0 once the book has lost everything."""
    returns = _validated(returns, "returns")
    growth = float(np.prod(1.0 + returns))
    if growth <= 0.0:
        return -1.0
    return float(growth ** (periods_per_year / returns.size) - 1.0)


def annualised_volatility(returns: np.ndarray, periods_per_year: float = DAILY_BARS_PER_YEAR) -> float:
    """Sample standard deviation (ddof=1) scaled by sqrt(periods_per_year); 0.0 for a single period."""
    returns = _validated(returns, "returns")
    if returns.size < 2:
        return 0.0
    return float(np.std(returns, ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(
    returns: np.ndarray, risk_free: np.ndarray | float = 0.0, periods_per_year: float = DAILY_BARS_PER_YEAR
) -> float:
    """Mean excess return over its sample standard deviation (ddof=1), annualised by sqrt(periods_per_year).

    Zero volatility (or a single period) gives 0.0.
    """
    excess = _excess(returns, risk_free)
    if excess.size < 2:
        return 0.0
    dispersion = float(np.std(excess, ddof=1))
    if dispersion < ZERO_DISPERSION:
        return 0.0
    return float(excess.mean() / dispersion * math.sqrt(periods_per_year))


def downside_deviation(returns: np.ndarray, risk_free: np.ndarray | float = 0.0) -> float:
    """Target semideviation: sqrt(mean(min(excess, 0)^2)) over all periods.

    The mean runs over every period, not only the losing ones (Sortino and Price's definition), so a series
    with few small losses has a small downside deviation.
    """
    shortfall = np.minimum(_excess(returns, risk_free), 0.0)
    return float(np.sqrt(np.mean(shortfall**2)))


def sortino_ratio(
    returns: np.ndarray, risk_free: np.ndarray | float = 0.0, periods_per_year: float = DAILY_BARS_PER_YEAR
) -> float:
    """Mean excess return over the downside deviation (see `downside_deviation`), annualised by sqrt(p).

    With no period below the risk-free rate the downside deviation is 0 and the ratio is reported as 0.0.
    """
    excess = _excess(returns, risk_free)
    downside = downside_deviation(returns, risk_free)
    if downside < ZERO_DISPERSION:
        return 0.0
    return float(excess.mean() / downside * math.sqrt(periods_per_year))


def drawdown_series(returns: np.ndarray) -> np.ndarray:
    """Fractional drawdown after each period, measured from the running NAV peak (starting NAV 1 counts)."""
    returns = _validated(returns, "returns")
    nav = np.cumprod(1.0 + returns)
    peak = np.maximum.accumulate(np.concatenate(([1.0], nav)))[1:]
    return np.asarray(1.0 - nav / peak)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough NAV loss as a positive fraction (0.25 for a 25% fall); 0.0 if it never falls."""
    return float(max(0.0, float(drawdown_series(returns).max())))


def cvar(returns: np.ndarray, level: float = 0.95) -> float:
    """Conditional value at risk: the mean loss over the worst ceil((1 - level) * n) periods (at least one).

    Positive means a loss; if even the worst periods are gains the value is negative.
    """
    returns = _validated(returns, "returns")
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"cvar level must lie strictly between 0 and 1, got {level}")
    # Rounded first so that (1 - 0.95) * 100 = 5.000000000000004 selects 5 periods, not 6.
    tail_size = max(1, math.ceil(round((1.0 - level) * returns.size, 9)))
    worst = np.sort(returns)[:tail_size]
    return float(-worst.mean())


def calmar_ratio(returns: np.ndarray, periods_per_year: float = DAILY_BARS_PER_YEAR) -> float:
    """Annualised return over maximum drawdown; 0.0 when there is no drawdown."""
    drawdown = max_drawdown(returns)
    if drawdown < ZERO_DISPERSION:
        return 0.0
    return float(annualised_return(returns, periods_per_year) / drawdown)


def annualised_turnover(turnover: np.ndarray, periods_per_year: float = DAILY_BARS_PER_YEAR) -> float:
    """Traded notional per period as a fraction of NAV, averaged and scaled to a year (mean x periods_per_year).

    The safety gate's `max_annual_turnover` uses this too, with the backtest's own bars a year, so the limit and
    `metrics.json` read the same number.
    """
    turnover = _validated(turnover, "turnover")
    return float(turnover.mean() * periods_per_year)


def annualised_cost(cost: np.ndarray, periods_per_year: float = DAILY_BARS_PER_YEAR) -> float:
    """Costs paid per period (trading costs and borrow fees) as a fraction of NAV, averaged and scaled to a year
    (mean x periods_per_year, as `annualised_turnover`): what the book pays to trade, beside what it earns."""
    cost = _validated(cost, "cost")
    return float(cost.mean() * periods_per_year)


def gross_sharpe_ratio(
    returns: np.ndarray,
    cost: np.ndarray,
    risk_free: np.ndarray | float = 0.0,
    periods_per_year: float = DAILY_BARS_PER_YEAR,
) -> float:
    """`sharpe_ratio` of the returns before costs (net return + cost of each period), over the same cash rate.

    Set against the net Sharpe ratio it tells whether a strategy has no edge or has one that its costs eat.
    """
    returns = _validated(returns, "returns")
    cost = _validated(cost, "cost")
    if cost.shape != returns.shape:
        raise MetricInputError(
            f"cost has shape {cost.shape} but returns has {returns.shape}; pass one value per period"
        )
    return sharpe_ratio(returns + cost, risk_free, periods_per_year)


def compute_metrics(
    returns: np.ndarray,
    turnover: np.ndarray,
    periods_per_year: float = DAILY_BARS_PER_YEAR,
    risk_free: np.ndarray | float = 0.0,
) -> dict[str, float]:
    """The standard metric set of one backtest, keyed as in `METRIC_KEYS`.

    Sharpe and Sortino are measured on returns in excess of `risk_free` (the cash return of each period), so
    sitting in cash scores 0 rather than an artificially high ratio of a tiny, steady return.

    `turnover` is the traded notional per period as a fraction of NAV; it is reported annualised
    (mean per period times periods_per_year).
    """
    returns = _validated(returns, "returns")
    turnover = _validated(turnover, "turnover")
    if turnover.shape != returns.shape:
        raise MetricInputError(
            f"turnover has shape {turnover.shape} but returns has {returns.shape}; pass one value per period"
        )
    return {
        "ann_return": annualised_return(returns, periods_per_year),
        "ann_volatility": annualised_volatility(returns, periods_per_year),
        "sharpe": sharpe_ratio(returns, risk_free, periods_per_year),
        "sortino": sortino_ratio(returns, risk_free, periods_per_year),
        "max_drawdown": max_drawdown(returns),
        "cvar_95": cvar(returns, 0.95),
        "calmar": calmar_ratio(returns, periods_per_year),
        "turnover": annualised_turnover(turnover, periods_per_year),
        "total_return": total_return(returns),
        "n_days": float(returns.size),
    }
