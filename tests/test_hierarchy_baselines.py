"""Baselines on the sleeves: walk-forward refits that never see later rows, inside the allocation limits."""

from __future__ import annotations

import dataclasses

import numpy as np

from hierl.evaluation.hierarchy_baselines import ALLOCATORS, hierarchy_baseline_weights
from hierl.safety.projection import AllocationLimits
from tests.portfolio_fixtures import two_class_universe

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
