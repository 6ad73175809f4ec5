"""Narrow a composed `TrainConfig` (any agent, any env) to the typed config of the stage that trains it.

Called once where a stage is chosen (`hierl.train.job_for`, the multi-stage scripts, `hierl.api`), so code below
takes `PPORunConfig`, `SACRunConfig`, `CQLRunConfig` or `CQLPortfolioRunConfig` and never narrows `cfg.agent` or
`cfg.env` again. A mismatch (agent=sac with env=trading, ...) is one ConfigError naming both choices. agent=cql
runs on either env, so `cql_run` leaves the env open and the CQL stage narrows it (`cql_trading_run`,
`cql_portfolio_run`).
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeGuard

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig
from hierl.config.run import CQLRunConfig, PPORunConfig, SACRunConfig, TrainConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.errors import ConfigError

CQLPortfolioRunConfig: TypeAlias = TrainConfig[CQLConfig, PortfolioEnvConfig]
"""CQL pretrained on the meta-controller's PortfolioEnv (`agent=cql env=portfolio`); it warm-starts SAC."""
AnyCQLRunConfig: TypeAlias = TrainConfig[CQLConfig, Any]
"""agent=cql on either env (`cql_run`): its env is known only at run time, so it is typed Any, and the CQL stage
narrows it once more (`cql_trading_run` or `cql_portfolio_run`) before reading it."""


def is_ppo_run(config: TrainConfig) -> TypeGuard[PPORunConfig]:
    return isinstance(config.agent, PPOConfig) and isinstance(config.env, EnvConfig)


def is_sac_run(config: TrainConfig) -> TypeGuard[SACRunConfig]:
    return isinstance(config.agent, SACConfig) and isinstance(config.env, PortfolioEnvConfig)


def is_cql_run(config: TrainConfig) -> TypeGuard[CQLRunConfig]:
    return isinstance(config.agent, CQLConfig) and isinstance(config.env, EnvConfig)


def is_cql_portfolio_run(config: TrainConfig) -> TypeGuard[CQLPortfolioRunConfig]:
    return isinstance(config.agent, CQLConfig) and isinstance(config.env, PortfolioEnvConfig)


def ppo_run(config: TrainConfig) -> PPORunConfig:
    """`config` as a PPO stage's config: agent=ppo on env=trading."""
    if is_ppo_run(config):
        return config
    if not isinstance(config.agent, PPOConfig):
        raise ConfigError(f"agent={config.agent.name} is not trainable by `hierl.train` yet; use agent=ppo")
    raise ConfigError(f"agent=ppo trains single assets in env=trading, not env={config.env.name}")


def sac_run(config: TrainConfig) -> SACRunConfig:
    """`config` as the meta-controller's config: agent=sac on env=portfolio."""
    if is_sac_run(config):
        return config
    if not isinstance(config.agent, SACConfig):
        raise ConfigError(f"the meta-controller needs agent=sac, got agent={config.agent.name}")
    raise ConfigError(f"agent=sac allocates across sleeves in env=portfolio, not env={config.env.name}")


def cql_run(config: TrainConfig) -> AnyCQLRunConfig:
    """`config` as a CQL pretraining's config: agent=cql on env=trading (TradingEnv, warm-starts PPO) or on
    env=portfolio (the meta-controller's PortfolioEnv, warm-starts SAC); `pretrain_cql` picks the stage."""
    if is_cql_run(config) or is_cql_portfolio_run(config):
        return config
    if not isinstance(config.agent, CQLConfig):
        raise ConfigError(f"pretrain_cql needs agent=cql, got agent={config.agent.name}")
    raise ConfigError(f"agent=cql pretrains in env=trading or env=portfolio, not env={config.env.name}")


def cql_trading_run(config: TrainConfig) -> CQLRunConfig:
    """`config` as a single-asset CQL pretraining's config: agent=cql on env=trading."""
    if is_cql_run(config):
        return config
    if not isinstance(config.agent, CQLConfig):
        raise ConfigError(f"pretrain_cql needs agent=cql, got agent={config.agent.name}")
    raise ConfigError(f"agent=cql pretrains single-asset policies in env=trading here, not env={config.env.name}")


def cql_portfolio_run(config: TrainConfig) -> CQLPortfolioRunConfig:
    """`config` as the meta-controller's CQL pretraining: agent=cql on env=portfolio."""
    if is_cql_portfolio_run(config):
        return config
    if not isinstance(config.agent, CQLConfig):
        raise ConfigError(f"pretrain_cql needs agent=cql, got agent={config.agent.name}")
    raise ConfigError(f"agent=cql pretrains the meta-controller in env=portfolio here, not env={config.env.name}")
