"""Reference allocations across the same sleeves the meta-controller allocates, refitted walk-forward.

Every allocator is refitted on the first decision row of each month, on the realised sleeve returns up to and
including that row only (`trailing_sleeve_returns`: earlier blocks' sleeve returns count, later rows never), and
its weights are held as the target until the next refit. Weights sum to min(1, max_leverage) and are then
projected onto the same per-sleeve bounds and leverage cap as the agent (no turnover budget: they trade
monthly). With fewer than `MIN_OBSERVATIONS` realised returns, or a sleeve whose returns are constant in the
window, an allocator falls back to equal weights. `sleeve_<class>` holds one sleeve alone at weight 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skfolio import RiskMeasure
from skfolio.optimization import (
    EqualWeighted,
    HierarchicalRiskParity,
    InverseVolatility,
    MeanRisk,
    ObjectiveFunction,
    RiskBudgeting,
)

from hierl.envs.market_core import bars_in_years
from hierl.envs.projection import AllocationLimits, project_box_leverage
from hierl.envs.sleeves import SleeveUniverse, trailing_sleeve_returns
from hierl.evaluation.baselines import month_starts

# The allocators fit on the last half year of realised sleeve returns (126 daily bars), counted in bars of the
# universe's decision calendar; with fewer than MIN_OBSERVATIONS returns they fall back to equal weights.
FIT_YEARS = 0.5
MIN_OBSERVATIONS = 20


def fit_window(universe: SleeveUniverse) -> int:
    """Bars of realised sleeve returns an allocator fits on: `FIT_YEARS` of the universe's calendar."""
    return bars_in_years(FIT_YEARS, universe.bars_per_year)


Allocator = Callable[[], object]

ALLOCATORS: dict[str, Allocator] = {
    "equal_weight": EqualWeighted,
    "inverse_volatility": InverseVolatility,
    "hrp": HierarchicalRiskParity,
    "risk_parity": lambda: RiskBudgeting(risk_measure=RiskMeasure.VARIANCE),
    "min_cvar": lambda: MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, risk_measure=RiskMeasure.CVAR),
}


def fitted_weights(universe: SleeveUniverse, name: str, row: int) -> np.ndarray:
    """Weights (summing to 1) of allocator `name` fitted on the sleeve returns realised up to `row`."""
    n = universe.n_sleeves
    history = trailing_sleeve_returns(universe, row, fit_window(universe))
    if n == 1 or len(history) < MIN_OBSERVATIONS or np.any(history.std(axis=0) == 0.0):
        return np.full(n, 1.0 / n)
    model = ALLOCATORS[name]()
    model.fit(history)  # type: ignore[attr-defined]
    return np.asarray(model.weights_, dtype=np.float64)  # type: ignore[attr-defined]


def hierarchy_baseline_weights(universe: SleeveUniverse, split: str, limits: AllocationLimits) -> dict[str, np.ndarray]:
    """Sleeve weights [K, C] of every baseline on the split's decision rows."""
    rows = universe.decision_rows[split]
    refit = month_starts(universe.dates[rows])
    gross = min(1.0, limits.max_leverage)
    baselines: dict[str, np.ndarray] = {}
    for name in ALLOCATORS:
        weights = np.zeros((len(rows), universe.n_sleeves))
        for k, row in enumerate(rows):
            if refit[k]:
                target = project_box_leverage(
                    gross * fitted_weights(universe, name, int(row)),
                    limits.min_weight,
                    limits.max_weight,
                    limits.max_leverage,
                )
            weights[k] = target
        baselines[name] = weights
    for c, asset_class in enumerate(universe.classes):
        alone = np.zeros((len(rows), universe.n_sleeves))
        alone[:, c] = 1.0
        baselines[f"sleeve_{asset_class}"] = alone
    return baselines
