"""The metric set of `hierl.evaluation.metrics`, recomputed with plain Python loops and the standard library.

Tests compare the package's numbers with these, so a bug has to be made twice, in two different styles, to pass.
The conventions are the documented ones: sample (n - 1) dispersion, geometric annual return, semideviation over
all periods, drawdown from a starting NAV of 1, CVaR over the worst ceil(5% of n) periods, 252 days a year, and
0.0 for a ratio whose denominator is below 1e-12.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

DAYS = 252
TINY = 1e-12


def reference_metrics(
    returns: Sequence[float], turnover: Sequence[float], risk_free: Sequence[float] | float = 0.0
) -> dict[str, float]:
    """Every key of `compute_metrics`, from `returns`, `turnover` and the per-period (or constant) cash rate."""
    values = [float(r) for r in returns]
    n = len(values)
    rates = [float(risk_free)] * n if isinstance(risk_free, int | float) else [float(r) for r in risk_free]
    excess = [r - rf for r, rf in zip(values, rates, strict=True)]

    growth = 1.0
    nav, peak, worst_drawdown = 1.0, 1.0, 0.0
    for r in values:
        growth *= 1.0 + r
        nav *= 1.0 + r
        peak = max(peak, nav)
        worst_drawdown = max(worst_drawdown, 1.0 - nav / peak)
    ann_return = -1.0 if growth <= 0.0 else growth ** (DAYS / n) - 1.0

    volatility = statistics.stdev(values) if n > 1 else 0.0
    excess_std = statistics.stdev(excess) if n > 1 else 0.0
    mean_excess = sum(excess) / n
    sharpe = mean_excess / excess_std * math.sqrt(DAYS) if excess_std >= TINY else 0.0
    downside = math.sqrt(sum(min(e, 0.0) ** 2 for e in excess) / n)
    sortino = mean_excess / downside * math.sqrt(DAYS) if downside >= TINY else 0.0

    tail = max(1, -(-5 * n // 100))  # ceil(n / 20) in integers: the worst 5% of the periods, at least one
    cvar = -sum(sorted(values)[:tail]) / tail
    calmar = ann_return / worst_drawdown if worst_drawdown >= TINY else 0.0
    return {
        "ann_return": ann_return,
        "ann_volatility": volatility * math.sqrt(DAYS),
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": worst_drawdown,
        "cvar_95": cvar,
        "calmar": calmar,
        "turnover": sum(float(t) for t in turnover) / n * DAYS,
        "total_return": growth - 1.0,
        "n_days": float(n),
    }
