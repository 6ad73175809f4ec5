"""PPO learns: with a planted predictable component in the data, it beats buy-and-hold out of sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from hierl.config.loading import load_config
from hierl.orchestration.asset_run import train_asset_agent

# `signal` (a feature of the synthetic data) carries half of the next day's return shock; PPO's hyperparameters are
# the defaults (the latest row of features, exploration std 0.37), only the budget is cut.
OVERRIDES = [
    "agent=ppo",
    "asset=equity",
    "data=synthetic",
    "data.synthetic.signal_strength=0.5",
    "agent.total_timesteps=8192",
    "agent.eval_freq=4096",
    "logger=none",
    "progress=false",
]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_beats_buy_and_hold_on_test_when_returns_are_predictable(seed: int, tmp_path: Path) -> None:
    cfg = load_config([*OVERRIDES, f"seed={seed}"], output_dir=str(tmp_path))
    metrics = train_asset_agent(cfg, tmp_path).metrics
    assert metrics["test/sharpe"] > metrics["test/baseline/buy_and_hold/sharpe"] + 1.0
    assert metrics["test/sharpe"] > 1.0
