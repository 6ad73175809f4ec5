"""Narrow a composed `TrainConfig` (any agent, any env) to the typed config of the stage that trains it.

Called once where a stage is chosen (`hierl.train.job_for`, the multi-stage scripts, `hierl.api`), so code below
takes `PPORunConfig`, `SACRunConfig` or `CQLRunConfig` and never narrows `cfg.agent` or `cfg.env` again. A
mismatch (agent=sac with env=trading, ...) is one ConfigError naming both choices.
"""

from __future__ import annotations

from typing import TypeGuard

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig
from hierl.config.run import CQLRunConfig, PPORunConfig, SACRunConfig, TrainConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.errors import ConfigError


def is_ppo_run(config: TrainConfig) -> TypeGuard[PPORunConfig]:
    return isinstance(config.agent, PPOConfig) and isinstance(config.env, EnvConfig)


def is_sac_run(config: TrainConfig) -> TypeGuard[SACRunConfig]:
    return isinstance(config.agent, SACConfig) and isinstance(config.env, PortfolioEnvConfig)


def is_cql_run(config: TrainConfig) -> TypeGuard[CQLRunConfig]:
    return isinstance(config.agent, CQLConfig) and isinstance(config.env, EnvConfig)


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


def cql_run(config: TrainConfig) -> CQLRunConfig:
    """`config` as a CQL pretraining's config: agent=cql on env=trading."""
    if is_cql_run(config):
        return config
    if not isinstance(config.agent, CQLConfig):
        raise ConfigError(f"pretrain_cql needs agent=cql, got agent={config.agent.name}")
    raise ConfigError(f"agent=cql pretrains single-asset policies in env=trading, not env={config.env.name}")
