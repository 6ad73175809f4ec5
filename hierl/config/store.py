"""Registers every schema in Hydra's ConfigStore, so each YAML option is type-checked as it is composed."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.data import DataConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.run import AssetConfig, ComposedConfig, LoggerConfig, MultiStageConfig, PathsConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.config.safety import SafetyConfig
from hierl.config.walk_forward import WalkForwardConfig

SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "train_schema"): ComposedConfig,
    ("agent", "ppo_schema"): PPOConfig,
    ("agent", "sac_schema"): SACConfig,
    ("agent", "cql_schema"): CQLConfig,
    ("data", "data_schema"): DataConfig,
    ("env", "env_schema"): EnvConfig,
    ("env", "portfolio_env_schema"): PortfolioEnvConfig,
    ("reward", "reward_schema"): RewardConfig,
    ("logger", "logger_schema"): LoggerConfig,
    ("paths", "paths_schema"): PathsConfig,
    ("asset", "asset_schema"): AssetConfig,
    ("safety", "safety_schema"): SafetyConfig,
    ("multistage", "multistage_schema"): MultiStageConfig,
    ("walk_forward", "walk_forward_schema"): WalkForwardConfig,
}


def register_configs() -> None:
    """Store the schemas; idempotent, called by every entrypoint before Hydra composes."""
    store = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        store.store(group=group, name=name, node=node)
