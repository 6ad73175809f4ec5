"""Config groups compose, validate and merge per-asset-class overrides."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from hierl.config.agent import PPOConfig
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.config.paths import config_dir
from hierl.config.run import TrainConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.config.safety import LIMIT_NAMES, SafetyLimitOverrides
from hierl.config.store import register_configs

GROUPS = ["agent", "env", "reward", "data", "asset", "safety", "logger", "debug", "paths", "experiment", "multistage"]


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in group_options(g)], ids=lambda v: str(v))
def test_every_option_of_every_group_composes(group: str, option: str) -> None:
    cfg = load_config([f"{group}={option}"])
    assert isinstance(cfg, TrainConfig)
    presets = {"hierarchy": "sac", "benchmark": "ppo", "warm_start": "ppo"}
    expected_agent = {"agent": option, "experiment": presets.get(option)}.get(group, "ppo")
    assert cfg.agent.name == expected_agent


@pytest.mark.parametrize(
    ("group", "option", "schema"),
    [
        ("agent", "ppo", PPOConfig),
        ("agent", "sac", SACConfig),
        ("agent", "cql", CQLConfig),
        ("env", "trading", EnvConfig),
        ("env", "portfolio", PortfolioEnvConfig),
        ("reward", "risk_adjusted", RewardConfig),
    ],
)
def test_default_options_repeat_their_schema_defaults(group: str, option: str, schema: type) -> None:
    """The YAML spells every value out for users; code that builds a schema directly must get the same values."""
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(overrides=[f"+{group}={option}"])
    assert OmegaConf.to_object(cfg[group]) == schema()


def test_every_safety_limit_can_be_overridden_per_asset_class() -> None:
    assert [f.name for f in fields(SafetyLimitOverrides)] == [*LIMIT_NAMES, "disabled"]


def test_every_group_has_an_option() -> None:
    for group in GROUPS:
        assert group_options(group), f"conf/{group} is empty"


@pytest.mark.parametrize(
    ("asset", "learning_rate", "batch_size", "target_kl", "max_leverage"),
    [("equity", 2e-4, 256, 0.03, 1.0), ("commodity", 3e-4, 512, 0.05, 0.5), ("index", 3e-4, 256, 0.05, 2.0)],
)
def test_asset_class_overrides_land_in_the_resolved_config(
    asset: str, learning_rate: float, batch_size: int, target_kl: float, max_leverage: float
) -> None:
    cfg = load_config([f"asset={asset}"])
    assert isinstance(cfg.agent, PPOConfig)
    assert cfg.asset.name == asset
    assert cfg.agent.learning_rate == pytest.approx(learning_rate)
    assert cfg.agent.batch_size == batch_size
    assert cfg.agent.target_kl == pytest.approx(target_kl)
    assert cfg.env.max_leverage == pytest.approx(max_leverage)


def test_command_line_beats_asset_class_override() -> None:
    cfg = load_config(["asset=equity", "agent.learning_rate=0.001", "env.max_leverage=3"])
    assert isinstance(cfg.agent, PPOConfig)
    assert cfg.agent.learning_rate == pytest.approx(1e-3)
    assert cfg.env.max_leverage == pytest.approx(3.0)


def test_smoke_shrinks_the_budget() -> None:
    cfg = load_config(["debug=smoke"])
    assert isinstance(cfg.agent, PPOConfig)
    assert cfg.agent.total_timesteps <= 5_000


def test_wrong_type_fails_during_composition() -> None:
    with pytest.raises((ValidationError, ConfigCompositionException), match="learning_rate"):
        load_config(["agent.learning_rate=abc"])


def test_unknown_key_fails_during_composition() -> None:
    with pytest.raises(ConfigCompositionException, match="learning_rat"):
        load_config(["agent.learning_rat=0.1"])


def test_bad_override_fails_fast_on_the_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hierl.train", "agent.learning_rate=abc", f"hydra.run.dir={tmp_path}/run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "agent.learning_rate" in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_unknown_group_option_names_the_choices(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hierl.train", "asset=bonds", f"hydra.run.dir={tmp_path}/run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "asset" in result.stderr and "equity" in result.stderr


@pytest.mark.parametrize(
    ("asset", "leverage", "cost_bps", "borrow_bps"),
    [("equity", 1.0, 5.0, 50.0), ("index", 2.0, 1.0, 25.0), ("commodity", 0.5, 10.0, 100.0)],
)
def test_each_class_sets_its_single_asset_env_and_never_the_portfolio_env(
    asset: str, leverage: float, cost_bps: float, borrow_bps: float
) -> None:
    trading = load_config([f"asset={asset}"]).env
    assert isinstance(trading, EnvConfig)
    assert (trading.max_leverage, trading.cost_bps, trading.borrow_bps_annual) == (leverage, cost_bps, borrow_bps)
    # The meta-controller's env keeps its own leverage cap whichever asset group is composed beside it.
    portfolio = load_config(["experiment=hierarchy", f"asset={asset}"]).env
    assert isinstance(portfolio, PortfolioEnvConfig)
    assert portfolio.max_leverage == PortfolioEnvConfig().max_leverage
    assert not {"cost_bps", "slippage_bps", "borrow_bps_annual"} & {f.name for f in fields(PortfolioEnvConfig)}
