"""The env and reward YAML presets compose against their schemas and build a working TradingEnv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from envs_fixtures import make_market
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.store import register_configs
from hierl.envs.trading_env import TradingEnv

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
REWARD_PRESETS = sorted(path.stem for path in (Path(CONF_DIR) / "reward").glob("*.yaml"))


@pytest.mark.parametrize("preset", REWARD_PRESETS)
def test_reward_presets_build_an_env(preset: str) -> None:
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(overrides=["+env=trading", f"+reward={preset}", "env.window=4"])
    env_cfg, reward_cfg = OmegaConf.to_object(cfg.env), OmegaConf.to_object(cfg.reward)
    assert isinstance(env_cfg, EnvConfig) and isinstance(reward_cfg, RewardConfig)
    assert reward_cfg.name == preset
    env = TradingEnv(make_market(80, 2, 2), "train", env_cfg, reward_cfg, seed=0)
    env.reset()
    _, reward, _, _, info = env.step(np.array([0.5], dtype=np.float32))
    assert reward == pytest.approx(sum(v for k, v in info.items() if k.startswith("reward/")))


def test_mistyped_value_fails_at_composition() -> None:
    register_configs()
    with (
        initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"),
        pytest.raises(ConfigCompositionException, match=r"override reward\.dsr_eta=fast") as caught,
    ):
        compose(overrides=["+reward=risk_adjusted", "reward.dsr_eta=fast"])
    # The schema's type check is the cause, naming the field: not a missing group or a parse error.
    assert isinstance(caught.value.__cause__, ValidationError)
    assert "Value 'fast' of type 'str' could not be converted to Float" in str(caught.value.__cause__)
    assert "full_key: reward.dsr_eta" in str(caught.value.__cause__)
