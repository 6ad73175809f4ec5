"""The allocation map never breaks a limit, is the identity on the feasible set, and rejects impossible limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierl.errors import ConfigError
from hierl.safety.projection import (
    FEASIBILITY_TOLERANCE,
    AllocationLimits,
    project_allocation,
    project_box_leverage,
)

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


def test_box_and_leverage_projection_is_the_euclidean_one() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        request = rng.normal(0.3, 0.6, size=4)
        projected = project_box_leverage(request, 0.05, 0.6, 1.0)
        # Against a brute-force check: no feasible random point is closer to the request.
        points = rng.uniform(0.05, 0.6, size=(4000, 4))
        points = points[points.sum(axis=1) <= 1.0]
        best = np.min(np.linalg.norm(points - request, axis=1))
        assert np.linalg.norm(projected - request) <= best + 1e-9


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
