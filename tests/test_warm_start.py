"""Warm starts from a CQL run: PPO and SAC act like the CQL policy before fine-tuning; bad folders fail early."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.behaviour_policies import check_mix, make_behaviour_policies
from hierl.agents.cql import CQL_POLICY_FILE, CQL_WEIGHTS_FILE, build_cql, save_cql_run, train_cql
from hierl.agents.offline_dataset import OfflineDatasetSpec, build_offline_dataset, write_offline_dataset
from hierl.agents.warm_start import (
    action_correlation,
    check_cql_folder,
    cloning_observations,
    open_cql_run,
    warm_start_ppo,
    warm_start_sac,
)
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.trading_env import TradingEnv
from hierl.errors import UserError
from hierl.tracking.run_state import mark_finished, mark_running

ENV = EnvConfig(window=8, episode_length=64)
REWARD = RewardConfig()
CQL = CQLConfig(total_timesteps=2000, n_steps=300, eval_freq=300, batch_size=64, net_arch=[32, 32])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def market(cache_dir: Path) -> MarketData:
    """The embedded real equity data, as a run with `debug=smoke` sees it."""
    data = load_config(["debug=smoke"]).data
    return load_market_data(data, "equity", ENV.window, cache_dir)


@pytest.fixture(scope="module")
def cql_run(market: MarketData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished CQL run folder from a tiny fit on the training block."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (d3rlpy samples its mini-batches from numpy's global generator)
    run_dir = tmp_path_factory.mktemp("cql_run")
    mark_running(run_dir)
    shares = check_mix(CQL.behaviour_mix, None)
    policies = make_behaviour_policies(shares, CQL.momentum_lookback, CQL.reversion_lookback, None)
    data = build_offline_dataset(market, ENV, REWARD, OfflineDatasetSpec(2000, shares, 0.1, 0), policies)
    write_offline_dataset(data, market, run_dir)
    mdp = data.to_mdp_dataset()
    algo = build_cql(CQL, mdp)
    train_cql(algo, mdp, CQL, lambda step, losses: None)
    save_cql_run(algo, CQL, run_dir, {})
    mark_finished(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def observations(cql_run: Path, market: MarketData) -> dict[str, np.ndarray]:
    return {split: cloning_observations(cql_run, market, ENV, REWARD, split) for split in ("train", "val")}


def training_env(market: MarketData) -> DummyVecEnv:
    return DummyVecEnv([lambda: TradingEnv(market, "train", ENV, REWARD, seed=0)])


def cql_actions(cql_run: Path, observations: np.ndarray) -> np.ndarray:
    return open_cql_run(cql_run, observations.shape[1:]).policy.predict(observations)


def test_warm_started_ppo_acts_like_cql(cql_run: Path, market: MarketData, observations: dict[str, np.ndarray]) -> None:
    kwargs = {"net_arch": [64, 64], "activation_fn": torch.nn.Tanh}
    ppo = PPO("MlpPolicy", training_env(market), n_steps=64, batch_size=64, policy_kwargs=kwargs, seed=0)
    value_before = [p.detach().clone() for p in ppo.policy.value_net.parameters()]
    log_std_before = ppo.policy.log_std.detach().clone()

    record = warm_start_ppo(ppo, cql_run, observations["train"])

    val = observations["val"]
    actions, _ = ppo.predict(val, deterministic=True)
    assert action_correlation(actions, cql_actions(cql_run, val)) > 0.8
    assert record["method"] == "behaviour_cloning" and record["n_observations"] == len(observations["train"])
    assert record["action_correlation"] > 0.8
    json.dumps(record)  # the caller writes it as init.json
    for before, after in zip(value_before, ppo.policy.value_net.parameters(), strict=True):
        assert torch.equal(before, after)
    assert torch.equal(log_std_before, ppo.policy.log_std)


def test_warm_started_sac_copies_the_cql_networks(
    cql_run: Path, market: MarketData, observations: dict[str, np.ndarray]
) -> None:
    sac = SAC("MlpPolicy", training_env(market), buffer_size=100, policy_kwargs={"net_arch": [32, 32]}, seed=0)
    record = warm_start_sac(sac, cql_run)

    assert record["method"] == "weight_copy"
    assert {"actor", "critic0", "critic1", "critic_target0", "critic_target1"} <= set(record["copied"])
    val = observations["val"]
    actions, _ = sac.predict(val, deterministic=True)
    expected = cql_actions(cql_run, val)
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    assert action_correlation(actions, expected) > 0.8
    # The critics are the CQL critics too: the same Q-value for any action.
    policy = open_cql_run(cql_run, val.shape[1:]).policy
    probe = np.random.default_rng(0).uniform(-1, 1, (len(val), 1)).astype(np.float32)
    with torch.no_grad():
        q_sac = torch.cat(sac.critic(torch.as_tensor(val), torch.as_tensor(probe)), dim=1).mean(dim=1).numpy()
    np.testing.assert_allclose(q_sac, policy.algo.predict_value(val, probe), rtol=1e-4, atol=1e-4)


def test_sac_with_other_layers_falls_back_to_cloning(
    cql_run: Path, market: MarketData, observations: dict[str, np.ndarray]
) -> None:
    sac = SAC("MlpPolicy", training_env(market), buffer_size=100, policy_kwargs={"net_arch": [16]}, seed=0)
    actor_before = [p.detach().clone() for p in sac.actor.parameters()]

    record = warm_start_sac(sac, cql_run, observations["train"])

    assert record["method"] == "behaviour_cloning"
    assert {"actor", "critic0", "critic1"} <= set(record["not_copied"])
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, sac.actor.parameters(), strict=True))
    val = observations["val"]
    actions, _ = sac.predict(val, deterministic=True)
    assert action_correlation(actions, cql_actions(cql_run, val)) > 0.8


def test_sac_in_another_action_space_is_refused(cql_run: Path, market: MarketData) -> None:
    low, high = np.float32(-2.0), np.float32(2.0)
    env: gymnasium.Env = gymnasium.wrappers.RescaleAction(TradingEnv(market, "train", ENV, REWARD, seed=0), low, high)
    sac = SAC("MlpPolicy", env, buffer_size=100, policy_kwargs={"net_arch": [32, 32]}, seed=0)
    with pytest.raises(UserError, match="action space"):
        warm_start_sac(sac, cql_run)


def copy_run(source: Path, target: Path, skip: tuple[str, ...] = ()) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.is_file() and path.name not in skip:
            (target / path.name).write_bytes(path.read_bytes())
    return target


def test_bad_init_from_folders_are_one_clear_error(cql_run: Path, tmp_path: Path) -> None:
    shape = (json.loads((cql_run / CQL_POLICY_FILE).read_text())["observation_shape"][0],)
    with pytest.raises(UserError, match=r"agent.init_from=.*is not a folder.*agent=cql"):
        open_cql_run(tmp_path / "nowhere", shape)

    running = copy_run(cql_run, tmp_path / "running")
    mark_running(running)
    with pytest.raises(UserError, match=r"not a finished run.*status: running"):
        open_cql_run(running, shape)

    incomplete = copy_run(cql_run, tmp_path / "incomplete", skip=(CQL_WEIGHTS_FILE,))
    with pytest.raises(UserError, match=f"no {CQL_WEIGHTS_FILE}"):
        open_cql_run(incomplete, shape)

    with pytest.raises(UserError, match=rf"shape \({shape[0]},\).*env.window"):
        open_cql_run(cql_run, (shape[0] + 19,))


def test_wrong_observation_shape_fails_before_any_weights_are_read(cql_run: Path, tmp_path: Path) -> None:
    broken = copy_run(cql_run, tmp_path / "broken")
    (broken / CQL_WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="shape"):
        open_cql_run(broken, (7,))


def test_unreadable_policy_file_is_one_clear_error(cql_run: Path, tmp_path: Path) -> None:
    broken = copy_run(cql_run, tmp_path / "broken_json")
    (broken / CQL_POLICY_FILE).write_text("{")
    with pytest.raises(UserError, match=f"{CQL_POLICY_FILE} is unreadable"):
        check_cql_folder(broken)


@pytest.mark.slow
def test_a_ppo_run_with_init_from_starts_from_the_cql_policy(cql_run: Path, tmp_path: Path) -> None:
    from hierl.orchestration.asset_run import train_asset_agent

    cfg = load_config(
        ["debug=smoke", f"env.window={ENV.window}", f"agent.init_from={cql_run}", "agent.total_timesteps=512"],
        output_dir=str(tmp_path),
    )
    train_asset_agent(cfg, tmp_path)
    record = json.loads((tmp_path / "init.json").read_text())
    assert record["method"] == "behaviour_cloning"
    assert record["cql_run"] == str(cql_run)
    assert record["action_correlation"] > 0.8
