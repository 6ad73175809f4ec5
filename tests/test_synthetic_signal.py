"""The synthetic `signal`: i.i.d. data unchanged by the persistence key, and an AR(1) of the stated moments."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from hierl.config.data import SyntheticConfig
from hierl.config.loading import load_config
from hierl.data.sources.synthetic import generate_synthetic
from hierl.errors import DataError, UserError

# sha256 of `frame_digest` of these configs, recorded from the generator before `signal_persistence` existed:
# phi = 0 must reproduce them bit for bit (same draws, same order, same arithmetic).
FROZEN = {
    "7f520a0c": (
        SyntheticConfig(n_assets=5, n_days=300, asset_classes=["equity", "commodity"], signal_strength=0.3, seed=7),
        "79e24d56f924f6e1a310d28628c64563d4caa30bcf252aa3986f16b7daae9a17",
    ),
    "no signal": (
        SyntheticConfig(n_assets=3, n_days=50, asset_classes=["equity"], signal_strength=0.0, seed=0),
        "f2b8a1b49c38e2579ec80bfaa54705e5c537d161ecd9456a3ac28bccc5d565fd",
    ),
}
N_DAYS, N_ASSETS = 20_000, 20


def frame_digest(frame: pl.DataFrame) -> str:
    """A hash of every column's name and values in a fixed byte layout (strings joined, dates as day numbers)."""
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        digest.update(name.encode())
        if column.dtype == pl.String:
            digest.update("\n".join(column.to_list()).encode())
        elif column.dtype == pl.Date:
            digest.update(column.cast(pl.Int32).to_numpy().astype("<i4").tobytes())
        else:
            digest.update(column.to_numpy().astype("<f8").tobytes())
    return digest.hexdigest()


def panel(frame: pl.DataFrame, column: str) -> np.ndarray:
    """[days, assets] of one column (the generator writes the days in order, every asset on each day)."""
    return frame[column].to_numpy().reshape(-1, frame["symbol"].n_unique())


def large(strength: float, persistence: float) -> pl.DataFrame:
    cfg = SyntheticConfig(
        n_assets=N_ASSETS,
        n_days=N_DAYS,
        asset_classes=["equity"],
        signal_strength=strength,
        signal_persistence=persistence,
        seed=11,
    )
    return generate_synthetic(cfg)


def pooled_correlation(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x.ravel(), y.ravel())[0, 1])


@pytest.mark.parametrize("case", sorted(FROZEN))
def test_no_persistence_reproduces_the_recorded_generator(case: str) -> None:
    cfg, recorded = FROZEN[case]
    assert cfg.signal_persistence == 0.0  # the default
    assert frame_digest(generate_synthetic(cfg)) == recorded


def test_persistence_filters_the_same_draws_and_moves_nothing_else() -> None:
    """Without a planted signal, phi changes the `signal` column only, and its innovations are the i.i.d. draws."""
    cfg = SyntheticConfig(n_assets=4, n_days=400, asset_classes=["equity", "commodity"], seed=3)
    iid = generate_synthetic(cfg)
    phi = 0.7
    persistent = generate_synthetic(replace(cfg, signal_persistence=phi))
    assert persistent.drop("signal").equals(iid.drop("signal"))
    eps, signal = panel(iid, "signal"), panel(persistent, "signal")
    np.testing.assert_array_equal(signal[0], eps[0])
    np.testing.assert_allclose((signal[1:] - phi * signal[:-1]) / np.sqrt(1 - phi**2), eps[1:], rtol=0, atol=1e-12)


def test_persistent_signal_is_a_unit_variance_ar1() -> None:
    signal = panel(large(0.3, 0.9), "signal")
    lag_one = pooled_correlation(signal[1:], signal[:-1])
    # Standard errors at n = 400,000: ~0.0003 for the autocorrelation, ~0.007 for the variance of an AR(1) at 0.9.
    assert lag_one == pytest.approx(0.9, abs=0.005)
    assert signal.var() == pytest.approx(1.0, abs=0.03)
    # From its first day: the stationary start needs no burn-in (mean of the first 100 days' variance over assets).
    assert signal[:100].var() == pytest.approx(1.0, abs=0.2)
    iid = panel(large(0.3, 0.0), "signal")
    assert pooled_correlation(iid[1:], iid[:-1]) == pytest.approx(0.0, abs=0.005)


@pytest.mark.parametrize("persistence", [0.0, 0.9])
def test_signal_predicts_the_next_return_with_strength_k(persistence: float) -> None:
    strength = 0.3
    frame = large(strength, persistence)
    signal, close = panel(frame, "signal"), panel(frame, "close")
    returns = close[1:] / close[:-1] - 1.0  # returns[t] is r[t+1], earned from the close of t
    standardised = returns / returns.std(axis=0)
    # Regime volatility mixes scales, which shrinks the correlation a little: E[sigma] / sqrt(E[sigma^2]) ~ 0.94.
    assert pooled_correlation(signal[:-1], standardised) == pytest.approx(strength, abs=0.03)
    # The signal of t + 1 repeats phi of the signal of t, so signal[t] also predicts r[t+2], with phi * k.
    two_ahead = pooled_correlation(signal[:-2], standardised[1:])
    assert two_ahead == pytest.approx(persistence * strength, abs=0.03)
    # The news of day t + 1 (the innovation of the signal) tells nothing about the return earned up to t + 1.
    innovation = signal[1:] - persistence * signal[:-1]
    assert pooled_correlation(innovation, standardised) == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_persistence_outside_zero_one_is_one_line_naming_the_key(value: str) -> None:
    message = f"data.synthetic.signal_persistence={float(value)} must lie in [0, 1)"
    with pytest.raises(UserError, match="^" + re.escape(message)) as caught:
        load_config(["data=synthetic", f"data.synthetic.signal_persistence={value}"])
    assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match=re.escape(message)):
        generate_synthetic(SyntheticConfig(signal_persistence=float(value)))
