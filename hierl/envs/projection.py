"""Maps any requested allocation onto the allocation limits, so the weights that trade always satisfy them.

The feasible set of one decision is

    S = {w : lo <= w <= hi,  sum(w) <= max_leverage,  |w - anchor|_1 <= turnover_budget}

with 0 <= lo <= hi (sleeve weights are long only, so sum(w) is the gross leverage) and `anchor` the previous
decision, itself in S. No library projects onto this intersection cheaply, so the map is written here:

1. z = the Euclidean projection of the request onto P = {lo <= w <= hi, sum(w) <= L}: a clip, and when the
   clipped sum exceeds L, clip(y - tau, lo, hi) with the shift tau found by bisection (sum(clip(y - tau)) is
   continuous and non-increasing in tau). The bisection returns the upper end of its bracket, whose sum was
   evaluated as <= L, so the leverage cap holds in floating point too.
2. w = anchor + theta * (z - anchor), theta = min(1, budget / |z - anchor|_1). P is convex and contains both
   anchor and z, so w is in P, and |w - anchor|_1 = theta |z - anchor|_1 <= budget.

The map is the identity on S and feasible for every request. It is not the Euclidean projection onto S (that
needs a QP) when the turnover budget binds; it moves along the straight line towards the allocation the request
asked for. `FEASIBILITY_TOLERANCE` bounds the rounding error of the final weights against each limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hierl.errors import ConfigError

FEASIBILITY_TOLERANCE = 1e-12
_BISECTION_STEPS = 100
_THETA_SHRINK = 1.0 - 1e-12


@dataclass(frozen=True)
class AllocationLimits:
    """The limits of one portfolio of `n_sleeves` sleeves (fractions of NAV)."""

    n_sleeves: int
    min_weight: float
    max_weight: float
    max_leverage: float
    turnover_budget: float

    def __post_init__(self) -> None:
        values = (self.min_weight, self.max_weight, self.max_leverage, self.turnover_budget)
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"allocation limits must be finite numbers, got {values}")
        if self.n_sleeves < 1:
            raise ConfigError(f"the portfolio needs at least one sleeve, got {self.n_sleeves}")
        if not 0.0 <= self.min_weight <= self.max_weight:
            raise ConfigError(
                f"env.min_sleeve_weight={self.min_weight} and env.max_sleeve_weight={self.max_weight} must satisfy "
                "0 <= min <= max (sleeve weights are long only)"
            )
        if self.max_leverage <= 0.0 or self.n_sleeves * self.min_weight > self.max_leverage:
            raise ConfigError(
                f"env.max_leverage={self.max_leverage} must be > 0 and at least n_sleeves x env.min_sleeve_weight "
                f"= {self.n_sleeves} x {self.min_weight}, or no allocation meets every limit"
            )
        if self.turnover_budget < 0.0:
            raise ConfigError(f"env.turnover_budget={self.turnover_budget} must be >= 0")

    def violation(self, weights: np.ndarray, anchor: np.ndarray) -> dict[str, float]:
        """How far `weights` breach each limit (0.0 when met): box, leverage and turnover excess."""
        below = np.clip(self.min_weight - weights, 0.0, None).sum()
        above = np.clip(weights - self.max_weight, 0.0, None).sum()
        return {
            "box": float(below + above),
            "leverage": max(0.0, float(np.abs(weights).sum()) - self.max_leverage),
            "turnover": max(0.0, float(np.abs(weights - anchor).sum()) - self.turnover_budget),
        }

    def initial_weights(self) -> np.ndarray:
        """Equal weights projected onto the box and the leverage cap: the anchor of a fresh episode."""
        return project_box_leverage(
            np.full(self.n_sleeves, self.max_leverage / self.n_sleeves),
            self.min_weight,
            self.max_weight,
            self.max_leverage,
        )


def project_box_leverage(request: np.ndarray, low: float, high: float, leverage: float) -> np.ndarray:
    """Euclidean projection of `request` onto {low <= w <= high, sum(w) <= leverage} (needs n * low <= leverage)."""
    clipped = np.clip(request, low, high)
    if clipped.sum() <= leverage:
        return clipped
    # sum(clip(request - tau)) falls from > leverage at tau = 0 to n * low <= leverage at tau_high.
    tau_low, tau_high = 0.0, float(np.max(request) - low)
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (tau_low + tau_high)
        if middle in (tau_low, tau_high):
            break
        if np.clip(request - middle, low, high).sum() <= leverage:
            tau_high = middle
        else:
            tau_low = middle
    return np.clip(request - tau_high, low, high)


def project_allocation(request: np.ndarray, anchor: np.ndarray, limits: AllocationLimits) -> np.ndarray:
    """The feasible weights for `request`, moving at most `turnover_budget` away from `anchor` (see module doc)."""
    request = np.asarray(request, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=np.float64)
    if request.shape != (limits.n_sleeves,) or anchor.shape != (limits.n_sleeves,):
        raise ValueError(f"request {request.shape} and anchor {anchor.shape} must both be ({limits.n_sleeves},)")
    if not np.all(np.isfinite(request)):
        raise ValueError(f"requested weights {request} are not finite")
    target = project_box_leverage(request, limits.min_weight, limits.max_weight, limits.max_leverage)
    distance = float(np.abs(target - anchor).sum())
    if distance <= limits.turnover_budget:
        return target
    theta = limits.turnover_budget / distance * _THETA_SHRINK
    weights = anchor + theta * (target - anchor)
    # Rounding can leave a coordinate an ulp outside the box; clipping moves it towards the anchor, which is in
    # the box, so it shrinks both the turnover and (above the cap) the leverage.
    return np.clip(weights, limits.min_weight, limits.max_weight)
