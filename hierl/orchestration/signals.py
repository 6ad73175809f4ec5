"""The asset agents' signals: each policy's deterministic target position per (date, symbol), as one table.

The SAC meta-controller and the pipeline read `signals.parquet` in exactly this format:

    date (Date), asset_class (str), symbol (str), signal (float64 in [-1, 1]), split (train / val / test)

`signal` is the target position divided by `env.max_leverage` (0 where the symbol has no price that day). The
signal dated d is decided at the close of d from data published up to d: each split is one deterministic
evaluation episode per symbol (the env's own rollout), starting flat at the split's first decision row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from stable_baselines3.common.base_class import BaseAlgorithm

from hierl.agents.rollout import Predict, rollout_positions
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import SPLITS, MarketData
from hierl.tracking.files import write_parquet

SIGNALS_FILE = "signals.parquet"
SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "asset_class": pl.String(),
    "symbol": pl.String(),
    "signal": pl.Float64(),
    "split": pl.String(),
}


def deterministic_policy(model: BaseAlgorithm) -> Predict:
    """The model's deterministic action for a batch of observations."""

    def predict(observations: np.ndarray) -> np.ndarray:
        actions, _ = model.predict(observations, deterministic=True)
        return np.asarray(actions)

    return predict


def policy_signals(
    predict: Predict,
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    splits: Sequence[str] = SPLITS,
) -> pl.DataFrame:
    """One row per (decision date, symbol) of every split, from deterministic rollouts of `predict`."""
    frames = []
    for split in splits:
        rollout = rollout_positions(predict, market, split, env_cfg, reward_cfg)
        rows, n_assets = rollout.decision_rows, market.n_assets
        frames.append(
            pl.DataFrame(
                {
                    "date": np.repeat(market.dates[rows], n_assets),
                    "asset_class": [market.asset_class] * (len(rows) * n_assets),
                    "symbol": np.tile(np.asarray(market.symbols, dtype=object), len(rows)).tolist(),
                    # Clipped only against rounding: target / max_leverage is the action, already in [-1, 1].
                    "signal": np.clip(rollout.positions / env_cfg.max_leverage, -1.0, 1.0).reshape(-1),
                    "split": [split] * (len(rows) * n_assets),
                },
                schema=SIGNAL_SCHEMA,
            )
        )
    return pl.concat(frames)


def signals_frame(
    model: BaseAlgorithm, market: MarketData, env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> pl.DataFrame:
    """The signals of a trained model on every split of one asset class."""
    return policy_signals(deterministic_policy(model), market, env_cfg, reward_cfg)


def check_signals(frame: pl.DataFrame) -> None:
    """Raise ValueError when a frame breaks the signals contract (schema, range, one row per key)."""
    if dict(frame.schema) != SIGNAL_SCHEMA:
        raise ValueError(f"signals must have the schema {SIGNAL_SCHEMA}, got {dict(frame.schema)}")
    signal = frame.get_column("signal")
    if signal.is_null().any() or not signal.is_finite().all() or (signal.abs() > 1.0).any():
        raise ValueError("signals must be finite and within [-1, 1]")
    if frame.select("date", "asset_class", "symbol").is_duplicated().any():
        raise ValueError("signals must hold one row per (date, asset_class, symbol)")


def write_signals(path: Path, frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the classes' signals, check the contract, sort and write them atomically."""
    frame = pl.concat(frames).sort("date", "asset_class", "symbol")
    check_signals(frame)
    write_parquet(path, frame)
    return frame
