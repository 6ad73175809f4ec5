"""The allocation map never breaks a limit, is the identity on the feasible set, and rejects impossible limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierl.envs.projection import (
    FEASIBILITY_TOLERANCE,
    AllocationLimits,
    project_allocation,
    project_box_leverage,
)
from hierl.errors import ConfigError

finite = st.floats(-50.0, 50.0, allow_nan=False)


@st.composite
def cases(draw: st.DrawFn) -> tuple[AllocationLimits, np.ndarray, np.ndarray]:
    """Random limits (often tight or degenerate), a feasible anchor, and an arbitrary request."""
    n = draw(st.integers(1, 6))
    low = draw(st.sampled_from([0.0, 0.0, 0.05, 0.2]) | st.floats(0.0, 0.5))
    high = low + draw(st.sampled_from([0.0, 0.1, 1.0, 3.0]) | st.floats(0.0, 2.0))
    leverage = max(n * low, draw(st.floats(1e-3, 3.0))) + draw(st.sampled_from([0.0, 1e-9]))
    budget = draw(st.sampled_from([0.0, 1e-6, 0.05, 10.0]) | st.floats(0.0, 2.0))
    limits = AllocationLimits(n, low, high, leverage, budget)
    raw_anchor = np.array(draw(st.lists(st.floats(-1.0, 4.0), min_size=n, max_size=n)))
    anchor = project_box_leverage(raw_anchor, low, high, leverage)
    request = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    return limits, anchor, request


def assert_feasible(weights: np.ndarray, anchor: np.ndarray, limits: AllocationLimits) -> None:
    tol = FEASIBILITY_TOLERANCE * 10
    assert np.all(weights >= limits.min_weight - tol)
    assert np.all(weights <= limits.max_weight + tol)
    assert np.abs(weights).sum() <= limits.max_leverage + tol
    assert np.abs(weights - anchor).sum() <= limits.turnover_budget + tol


@settings(max_examples=3000, deadline=None)
@given(cases())
def test_projected_weights_meet_every_limit(case: tuple[AllocationLimits, np.ndarray, np.ndarray]) -> None:
    limits, anchor, request = case
    assert_feasible(anchor, anchor, limits)
    assert_feasible(project_allocation(request, anchor, limits), anchor, limits)


@settings(max_examples=500, deadline=None)
@given(cases())
def test_a_feasible_request_is_left_unchanged(case: tuple[AllocationLimits, np.ndarray, np.ndarray]) -> None:
    limits, anchor, request = case
    # Half way from the anchor to a projected point is feasible whenever that point is within the budget.
    inside = project_allocation(request, anchor, limits)
    candidate = anchor + 0.5 * (inside - anchor)
    np.testing.assert_allclose(project_allocation(candidate, anchor, limits), candidate, atol=1e-12)


def assert_kkt_of_box_leverage_projection(
    request: np.ndarray, projected: np.ndarray, low: float, high: float, leverage: float, tol: float = 1e-9
) -> bool:
    """Certify `projected` as the Euclidean projection of `request` onto {low <= w <= high, sum(w) <= leverage}.

    The problem is convex, so the KKT conditions are sufficient: there is a multiplier tau >= 0 of the sum
    constraint with request - projected = tau on every coordinate strictly inside the box, <= tau on those at
    `low`, >= tau on those at `high`, and tau = 0 unless the sum constraint is active. Returns whether it binds.
    """
    assert np.all(projected >= low - tol) and np.all(projected <= high + tol)
    assert projected.sum() <= leverage + tol
    residual = request - projected
    at_low = np.abs(projected - low) <= tol
    at_high = np.abs(projected - high) <= tol
    free = ~at_low & ~at_high
    binding = bool(projected.sum() >= leverage - tol)
    if not binding:
        np.testing.assert_allclose(projected, np.clip(request, low, high), atol=tol)
        return False
    # Bounds on tau from the coordinates at a bound (a coordinate at both bounds, low == high, constrains nothing).
    tau_low = max(0.0, float(residual[at_low & ~at_high].max(initial=-np.inf)))
    tau_high = float(residual[at_high & ~at_low].min(initial=np.inf))
    if free.any():
        tau = float(residual[free].mean())
        np.testing.assert_allclose(residual[free], tau, atol=tol)
    else:
        tau = tau_low
    assert tau_low - tol <= tau <= tau_high + tol, (tau_low, tau, tau_high)
    return True


def test_box_and_leverage_projection_is_the_euclidean_one() -> None:
    rng = np.random.default_rng(0)
    binding = 0
    for _ in range(500):
        request = rng.normal(0.3, 0.6, size=4)
        projected = project_box_leverage(request, 0.05, 0.6, 1.0)
        binding += assert_kkt_of_box_leverage_projection(request, projected, 0.05, 0.6, 1.0)
    assert 50 < binding < 450, "both the clip and the shifted clip should be exercised"
    # By hand: clipping gives 0.6 + 0.6 + 0.1 + 0.1 = 1.4 > 1; the shift tau = 0.45 gives 0.45 + 0.45 + 0.05 + 0.05.
    np.testing.assert_allclose(
        project_box_leverage(np.array([0.9, 0.9, 0.1, 0.1]), 0.05, 0.6, 1.0), [0.45, 0.45, 0.05, 0.05], atol=1e-12
    )
    # A request inside the set is its own projection.
    np.testing.assert_array_equal(project_box_leverage(np.array([0.2, 0.3, 0.1]), 0.05, 0.6, 1.0), [0.2, 0.3, 0.1])


def test_binding_budget_moves_along_the_line_to_the_requested_allocation() -> None:
    limits = AllocationLimits(2, 0.0, 1.0, 1.0, 0.2)
    weights = project_allocation(np.array([1.0, 0.0]), np.array([0.5, 0.5]), limits)
    np.testing.assert_allclose(weights, [0.6, 0.4], atol=1e-9)


@pytest.mark.parametrize(
    ("low", "high", "leverage", "budget", "field"),
    [(0.5, 0.4, 1.0, 0.1, "min_sleeve_weight"), (0.4, 0.5, 1.0, 0.1, "max_leverage"), (0.0, 1.0, 1.0, -1, "turnover")],
)
def test_impossible_limits_fail_with_the_field_name(
    low: float, high: float, leverage: float, budget: float, field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        AllocationLimits(3, low, high, leverage, budget)
