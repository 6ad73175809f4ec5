"""The small public API for notebooks and scripts: compose a config, get an env or a vectorised env."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import gymnasium
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from hierl.config.env import EnvConfig
from hierl.config.loading import load_config
from hierl.config.run import TrainConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.trading_env import TradingEnv
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import ConfigError
from hierl.runtime import single_threaded

__all__ = ["VEC_ENV_KINDS", "load_config", "make_env", "make_vec_env"]

VEC_ENV_KINDS = ("vectorised", "dummy", "subproc")


def _trading_env(config: TrainConfig) -> EnvConfig:
    """The config's `env` as the single-asset env's config (env=trading; any agent trades it)."""
    if not isinstance(config.env, EnvConfig):
        raise ConfigError(f"make_env builds single-asset TradingEnvs: use env=trading, not env={config.env.name}")
    return config.env


def _market(config: TrainConfig, env: EnvConfig) -> MarketData:
    return load_market_data(
        config.data,
        config.asset.name,
        env.window,
        Path(config.paths.cache_dir),
        config.asset.symbols,
        calendar=config.asset.calendar,
    )


def make_env(config: TrainConfig, split: str = "train", symbol_index: int | None = None) -> TradingEnv:
    """The `TradingEnv` a run with `config` trains on (`split="train"`) or is evaluated on ("val", "test").

    With `symbol_index` the episode covers that symbol's whole block deterministically, as in evaluation.
    """
    env = _trading_env(config)
    return TradingEnv(_market(config, env), split, env, config.reward, symbol_index=symbol_index, seed=config.seed)


def make_vec_env(config: TrainConfig, n_envs: int, kind: str = "vectorised", split: str = "train") -> VecEnv:
    """`n_envs` training-mode episodes of the config's asset class as a Stable-Baselines3 `VecEnv`.

    `kind`: "vectorised" (`TradingVecEnv`, what `hierl.train` uses: one numpy call steps every episode),
    "dummy" (SB3's `DummyVecEnv` of `TradingEnv`s, stepped one by one in this process) or "subproc" (SB3's
    `SubprocVecEnv`, one process per episode; each receives a copy of the market data). Episode draws are
    seeded from `config.seed` (episode k of "dummy" and "subproc" from `config.seed + k`).
    """
    if kind not in VEC_ENV_KINDS:
        raise ConfigError(f"kind={kind!r} is not one of {', '.join(VEC_ENV_KINDS)}")
    if n_envs < 1:
        raise ConfigError(f"n_envs={n_envs} must be at least 1")
    env = _trading_env(config)
    market = _market(config, env)
    if kind == "vectorised":
        return TradingVecEnv(market, split, env, config.reward, n_envs=n_envs, seed=config.seed)
    factories: list[Callable[[], gymnasium.Env]] = [
        partial(TradingEnv, market, split, env, config.reward, seed=config.seed + rank) for rank in range(n_envs)
    ]
    if kind == "dummy":
        return DummyVecEnv(factories)
    # Each worker only steps an env: one thread there, not one per core fighting the trainer's.
    return SubprocVecEnv([partial(single_threaded, factory) for factory in factories])
