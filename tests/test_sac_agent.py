"""SAC is built from SACConfig alone, learns on PortfolioEnv, and bad values fail before any work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv
from training_checks import assert_every_parameter_moved, assert_finite_losses, record_logs, snapshot

from hierl.agents.sac import build_sac
from hierl.config.env import RewardConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.errors import ConfigError
from tests.portfolio_fixtures import two_class_universe

SMALL = SACConfig(total_timesteps=200, learning_starts=50, batch_size=32, buffer_size=1000, net_arch=[8, 8])


def vec_env() -> DummyVecEnv:
    universe = two_class_universe()
    return DummyVecEnv([lambda: PortfolioEnv(universe, "train", PortfolioEnvConfig(episode_length=40), RewardConfig())])


@pytest.mark.slow
def test_hyperparameters_reach_the_sb3_model_and_it_learns() -> None:
    cfg = dataclasses.replace(SMALL, ent_coef="0.05", tau=0.01, gamma=0.9, train_freq=2, gradient_steps=3)
    model = build_sac(cfg, vec_env(), seed=0)
    assert (model.tau, model.gamma, model.batch_size, model.gradient_steps) == (0.01, 0.9, 32, 3)
    assert model.train_freq.frequency == 2  # type: ignore[union-attr]
    assert model.ent_coef == pytest.approx(0.05)
    assert model.buffer_size == 1000
    assert model.policy.actor.latent_pi[0].out_features == 8
    actor, critic = snapshot(model.actor), snapshot(model.critic)
    assert model.observation_space.shape is not None
    observation = np.zeros(model.observation_space.shape, dtype=np.float32)
    action_before, _ = model.predict(observation, deterministic=True)
    recorder = record_logs(model)
    model.learn(total_timesteps=cfg.total_timesteps)
    assert model.replay_buffer is not None
    assert model.num_timesteps == 200 and model.replay_buffer.size() == 200
    # It learns: every actor and critic layer moved, the losses of the updates were finite, and the policy's
    # answer to the same observation changed.
    assert_every_parameter_moved(actor, model.actor)
    assert_every_parameter_moved(critic, model.critic)
    assert_finite_losses(model, recorder, ("train/actor_loss", "train/critic_loss"))
    action, _ = model.predict(observation, deterministic=True)
    assert action.shape == (3,) and not np.array_equal(action, action_before)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ent_coef": "lots"}, "ent_coef"),
        ({"batch_size": 5000}, "batch_size"),
        ({"init_from": " "}, "init_from"),  # a folder is checked by the stage (tests/test_sac_warm_start.py)
        ({"train_freq": 0}, "train_freq"),
    ],
)
def test_bad_values_fail_with_the_field_name(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build_sac(dataclasses.replace(SMALL, **change), vec_env(), seed=0)  # type: ignore[arg-type]
