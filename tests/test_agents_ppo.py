"""PPOAgentFactory: the merged per-asset-class config is what the SB3 model gets, and bad values fail first."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from envs_fixtures import make_market
from stable_baselines3 import PPO
from training_checks import assert_every_parameter_moved, assert_finite_losses, record_logs, snapshot

from hierl.agents.ppo import PPOAgentFactory, make_training_vec_env
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.errors import ConfigError

MARKET = make_market(n_days=300, n_assets=3, n_features=2)


def build(agent: PPOConfig, window: int = 8, seed: int = 0) -> PPO:
    env = make_training_vec_env(MARKET, EnvConfig(window=window, episode_length=50), RewardConfig(), agent.n_envs, seed)
    return PPOAgentFactory(agent).build(env, seed=seed)


@pytest.mark.parametrize(
    ("asset", "learning_rate", "batch_size", "target_kl"),
    [("equity", 2e-4, 256, 0.03), ("commodity", 3e-4, 512, 0.05)],
)
def test_per_class_overrides_land_in_the_built_model(
    asset: str, learning_rate: float, batch_size: int, target_kl: float
) -> None:
    cfg = load_config([f"asset={asset}"])
    assert isinstance(cfg.agent, PPOConfig)
    model = build(cfg.agent)
    assert model.lr_schedule(1.0) == pytest.approx(learning_rate)
    assert model.lr_schedule(0.0) == pytest.approx(learning_rate)
    assert model.policy.optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate)
    assert model.batch_size == batch_size
    assert model.target_kl == pytest.approx(target_kl)
    assert model.n_steps == cfg.agent.n_steps
    assert model.n_epochs == cfg.agent.n_epochs


def test_command_line_override_beats_the_class_file_in_the_model() -> None:
    cfg = load_config(["asset=commodity", "agent.batch_size=128", "agent.lr_schedule=linear"])
    assert isinstance(cfg.agent, PPOConfig)
    model = build(cfg.agent)
    assert model.batch_size == 128
    # Linear decay to zero over the run: full rate at the start, half at mid-run, zero at the end.
    assert model.lr_schedule(1.0) == pytest.approx(3e-4)
    assert model.lr_schedule(0.5) == pytest.approx(1.5e-4)
    assert model.lr_schedule(0.0) == pytest.approx(0.0)


def test_net_arch_and_activation_shape_the_policy() -> None:
    agent = PPOConfig(n_steps=32, batch_size=16, n_envs=2, net_arch=[7, 5], activation="relu")
    model = build(agent)
    layers = list(model.policy.mlp_extractor.policy_net)
    assert [layer.out_features for layer in layers if isinstance(layer, torch.nn.Linear)] == [7, 5]
    assert any(isinstance(layer, torch.nn.ReLU) for layer in layers)
    assert not any(isinstance(layer, torch.nn.Tanh) for layer in layers)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"lr_schedule": "cosine"}, "agent.lr_schedule"),
        ({"activation": "gelu"}, "agent.activation"),
        ({"batch_size": 4096}, "agent.batch_size"),
        ({"early_stopping_patience": 0}, "agent.early_stopping_patience"),
        ({"net_arch": []}, "agent.net_arch"),
    ],
)
def test_bad_values_fail_with_one_message_naming_the_key(change: dict[str, object], key: str) -> None:
    agent = dataclasses.replace(PPOConfig(n_steps=32, batch_size=16, n_envs=2), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=key):
        PPOAgentFactory(agent).validate()


@pytest.mark.slow
def test_same_seed_same_first_update() -> None:
    agent = PPOConfig(n_steps=32, batch_size=16, n_envs=2, n_epochs=1, net_arch=[8])
    first = build(agent)
    initial = snapshot(first.policy)
    recorder = record_logs(first)
    first.learn(64)
    second = build(agent).learn(64)
    for name, tensor in first.policy.state_dict().items():
        assert torch.equal(tensor, second.policy.state_dict()[name]), name
    # The update happened (every layer moved, finite losses), and the seed drives it: another seed, another update.
    assert_every_parameter_moved(initial, first.policy)
    assert_finite_losses(first, recorder, ("train/value_loss", "train/policy_gradient_loss"))
    other = build(agent, seed=1).learn(64)
    assert not torch.equal(other.policy.action_net.weight, first.policy.action_net.weight)
