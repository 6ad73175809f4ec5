"""The small public API for notebooks and scripts: compose a config, get an env."""

from __future__ import annotations

from pathlib import Path

from hierl.config.loading import load_config
from hierl.config.run import TrainConfig
from hierl.data.pipeline import load_market_data
from hierl.envs.trading_env import TradingEnv

__all__ = ["load_config", "make_env"]


def make_env(config: TrainConfig, split: str = "train", symbol_index: int | None = None) -> TradingEnv:
    """The `TradingEnv` a run with `config` trains on (`split="train"`) or is evaluated on ("val", "test").

    With `symbol_index` the episode covers that symbol's whole block deterministically, as in evaluation.
    """
    market = load_market_data(
        config.data, config.asset.name, config.env.window, Path(config.paths.cache_dir), config.asset.symbols
    )
    return TradingEnv(market, split, config.env, config.reward, symbol_index=symbol_index, seed=config.seed)
