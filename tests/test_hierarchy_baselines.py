"""Baselines on the sleeves: walk-forward refits that never see later rows, inside the allocation limits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hierl.envs.projection import AllocationLimits
from hierl.evaluation.hierarchy_baselines import ALLOCATORS, hierarchy_baseline_weights
from tests.portfolio_fixtures import two_class_universe

FIT_WINDOW = 126  # half a year of the fixtures' daily calendar of 252 bars

LIMITS = AllocationLimits(2, 0.1, 0.8, 1.0, 0.2)


def test_weights_at_a_row_ignore_every_later_sleeve_return() -> None:
    universe = two_class_universe(n_days=400)
    rows = universe.decision_rows["test"]
    k = len(rows) // 2
    changed = universe.sleeve_returns.copy()
    changed[rows[k] + 1 :] = np.random.default_rng(0).normal(0.0, 0.05, size=changed[rows[k] + 1 :].shape)
    later = dataclasses.replace(universe, sleeve_returns=changed)
    before, after = (
        hierarchy_baseline_weights(universe, "test", LIMITS),
        hierarchy_baseline_weights(later, "test", LIMITS),
    )
    for name in before:
        np.testing.assert_array_equal(before[name][: k + 1], after[name][: k + 1])
    assert any(not np.array_equal(before[n][k + 1 :], after[n][k + 1 :]) for n in ALLOCATORS)


def test_allocators_stay_inside_the_limits_and_sleeves_alone_hold_one_sleeve() -> None:
    universe = two_class_universe(n_days=400)
    weights = hierarchy_baseline_weights(universe, "test", LIMITS)
    for name in ALLOCATORS:
        w = weights[name]
        assert np.all(w >= 0.1 - 1e-12) and np.all(w <= 0.8 + 1e-12) and np.all(w.sum(axis=1) <= 1.0 + 1e-12)
    for c, asset_class in enumerate(universe.classes):
        assert np.all(weights[f"sleeve_{asset_class}"][:, c] == 1.0)
        assert np.all(np.delete(weights[f"sleeve_{asset_class}"], c, axis=1) == 0.0)


def test_inverse_volatility_is_refitted_monthly_on_the_trailing_window_and_held_in_between() -> None:
    universe = two_class_universe(n_days=400)
    rows = universe.decision_rows["test"]
    weights = hierarchy_baseline_weights(universe, "test", LIMITS)["inverse_volatility"]
    months = pd.DatetimeIndex(universe.dates[rows]).to_period("M")
    refit = np.r_[True, months[1:] != months[:-1]]
    assert refit.sum() >= 2
    for k in range(1, len(rows)):
        if not refit[k]:
            np.testing.assert_array_equal(weights[k], weights[k - 1])
    for k in np.flatnonzero(refit):
        # Independently: the last FIT_WINDOW realised sleeve returns at or before the row, 1 / sample volatility,
        # normalised to the gross of 1, then clipped into the sleeve bounds (the sum is already within leverage).
        realised = universe.sleeve_returns[np.flatnonzero(universe.realised[: rows[k] + 1])][-FIT_WINDOW:]
        inverse = 1.0 / realised.std(axis=0, ddof=1)
        expected = np.clip(inverse / inverse.sum(), LIMITS.min_weight, LIMITS.max_weight)
        np.testing.assert_allclose(weights[k], expected, rtol=1e-9)
