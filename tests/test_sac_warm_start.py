"""The SAC meta-controller warm-started from CQL pretrained on PortfolioEnv (issue #16, item 6).

- the portfolio offline dataset is PortfolioEnv's own transitions under the allocation policies;
- a warm-started SAC acts like the CQL policy before its first update, on observations CQL never saw, and
  `init.json` says so;
- a CQL run of the wrong kind (TradingEnv, other sleeves, features or windows) is one line naming
  `agent.init_from`, before any weight is read or sleeve trained;
- `agent=cql env=portfolio` then `experiment=hierarchy agent.init_from=<it>` run end to end at smoke budgets.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from runs import hierl_train, read_json, run_ok
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.behaviour_policies import check_allocation_mix, make_allocation_policies
from hierl.agents.cql import CQL_POLICY_FILE, CQL_WEIGHTS_FILE, build_cql, load_cql_policy, save_cql_run, train_cql
from hierl.agents.offline_dataset import (
    DATASET_TABLE_FILE,
    OfflineDatasetSpec,
    PortfolioOfflineDataset,
    build_portfolio_dataset,
    write_dataset_files,
)
from hierl.agents.warm_start import (
    check_cql_folder,
    check_portfolio_cql,
    sleeve_identity,
    warm_start_meta_controller,
)
from hierl.config.cql import ALLOCATION_POLICIES, CQLConfig
from hierl.config.env import RewardConfig
from hierl.config.loading import load_config
from hierl.config.sac import PortfolioEnvConfig
from hierl.envs.portfolio_env import PortfolioEnv, allocation_limits, request_from_action
from hierl.envs.sleeves import SleeveUniverse, build_universe
from hierl.errors import UserError
from hierl.evaluation.hierarchy_baselines import hierarchy_baseline_weights
from hierl.tracking.run_state import mark_finished, mark_running
from tests.portfolio_fixtures import COSTS, momentum_signals, two_class_markets, two_class_universe

ENV = PortfolioEnvConfig(window=10, cov_window=20, episode_length=30, min_sleeve_weight=0.05, max_sleeve_weight=0.8)
REWARD = RewardConfig(cvar_penalty=0.5, drawdown_penalty=1.0, volatility_penalty=0.0)
SEED = 4
TRADING_MIX = CQLConfig().behaviour_mix  # what agent=cql composes to unless the mix is overridden
CQL = CQLConfig(total_timesteps=1500, n_steps=200, eval_freq=200, batch_size=64, net_arch=[32, 32])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def universe() -> SleeveUniverse:
    return two_class_universe(n_days=400, window=ENV.window)


def build(universe: SleeveUniverse, transitions: int, noise: float, mix: dict[str, float] | None = None):
    shares = check_allocation_mix(mix or TRADING_MIX, None)
    policies = make_allocation_policies(shares, universe, allocation_limits(ENV, universe.n_sleeves), "train")
    spec = OfflineDatasetSpec(transitions, shares, noise, SEED)
    return build_portfolio_dataset(universe, ENV, REWARD, spec, policies)


@pytest.fixture(scope="module")
def dataset(universe: SleeveUniverse) -> PortfolioOfflineDataset:
    return build(universe, transitions=600, noise=0.1)


# --- The dataset. ---


def test_the_default_mix_plays_every_allocation_policy(dataset: PortfolioOfflineDataset) -> None:
    assert dataset.policy_names == ALLOCATION_POLICIES
    assert len(dataset) == 600 and dataset.n_episodes == 20  # whole episodes of 30 steps
    assert dataset.policy_shares() == pytest.approx(dict.fromkeys(ALLOCATION_POLICIES, 0.2))
    assert dataset.actions.shape == (600, 3) and np.abs(dataset.actions).max() <= 1.0


def test_each_transition_is_a_fresh_env_step_with_the_same_action(
    dataset: PortfolioOfflineDataset, universe: SleeveUniverse
) -> None:
    """Each episode replayed in a new PortfolioEnv (seeded as the dataset's, so its resets draw the same starts):
    every stored observation, reward, next observation and weight is what the env returns for the stored action."""
    env = PortfolioEnv(universe, "train", ENV, REWARD, seed=SEED)
    for episode in range(dataset.n_episodes):
        at = np.flatnonzero(dataset.episode == episode)
        observation, info = env.reset()
        assert info["row"] == dataset.row[at[0]]
        np.testing.assert_array_equal(observation, dataset.observations[at[0]])
        for k, i in enumerate(at):
            observation, reward, terminated, truncated, info = env.step(dataset.actions[i])
            assert np.float32(reward) == dataset.rewards[i]
            expected_next = dataset.observations[at[k + 1]] if k + 1 < len(at) else dataset.final_observations[episode]
            np.testing.assert_array_equal(observation, expected_next)
            np.testing.assert_array_equal(info["sleeve_weights"], dataset.sleeve_weights[i])
            assert info["violation"] == dataset.violation[i] and info["net_return"] == dataset.net_return[i]
            assert info["cost"] == dataset.cost[i] and info["row"] == dataset.row[i]
            assert (terminated, truncated) == (dataset.terminals[i], dataset.timeouts[i])
    # d3rlpy's view bootstraps each time-limited episode from the state the env reached.
    mdp = dataset.to_mdp_dataset()
    assert mdp.transition_count == len(dataset)
    last = mdp.episodes[3]
    picked = mdp.transition_picker(last, last.transition_count - 1)
    np.testing.assert_array_equal(picked.next_observation, dataset.final_observations[3])
    np.testing.assert_array_equal(picked.action, dataset.actions[dataset.episode == 3][-1])


def test_the_allocators_request_the_hierarchy_baselines_weights(universe: SleeveUniverse) -> None:
    """Without noise, the raw action of each allocator asks the env (its own action map) for the weights of the
    baseline of that name on that row; the env then trades them projected onto the limits."""
    limits = allocation_limits(ENV, universe.n_sleeves)
    mix = {name: 1.0 for name in ALLOCATION_POLICIES if name != "random"}
    data = build(universe, transitions=300, noise=0.0, mix=mix)
    baselines = hierarchy_baseline_weights(universe, "train", limits)
    rows = universe.decision_rows["train"]
    names = np.asarray(data.policy_names)[data.policy_index]
    for name in mix:
        chosen = np.flatnonzero(names == name)
        assert len(chosen) >= 60  # at least two whole episodes each
        for i in chosen:
            requested = request_from_action(data.actions[i], ENV.max_leverage)
            np.testing.assert_allclose(requested, baselines[name][data.row[i] - rows[0]], atol=2e-7)
    weights = data.sleeve_weights
    assert weights.min() >= ENV.min_sleeve_weight - 1e-12 and weights.max() <= ENV.max_sleeve_weight + 1e-12
    assert np.all(weights.sum(axis=1) <= ENV.max_leverage + 1e-12)


def test_noise_and_random_actions_cover_the_action_box(universe: SleeveUniverse) -> None:
    noisy = build(universe, transitions=300, noise=0.3, mix={"equal_weight": 1.0})
    quiet = build(universe, transitions=300, noise=0.0, mix={"equal_weight": 1.0})
    assert 0.15 < float((noisy.actions - quiet.actions).std()) < 0.35
    uniform = build(universe, transitions=300, noise=0.0, mix={"random": 1.0})
    assert uniform.actions.min() < -0.9 and uniform.actions.max() > 0.9


@pytest.mark.parametrize(
    ("mix", "ppo_run", "message"),
    [
        ({"hrp": 0.0, "min_cvar": 0.0, "random": 0.0}, None, "share of 0"),
        ({"hrp": 1.0, "nope": 1.0}, None, "unknown policies.*nope"),
        ({"hrp": float("nan")}, None, "finite"),
        (TRADING_MIX, "runs/ppo", "agent.behaviour_ppo_run=runs/ppo plays TradingEnv episodes"),
    ],
)
def test_a_bad_portfolio_mix_is_one_clear_error(mix: dict[str, float], ppo_run: str | None, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_allocation_mix(mix, ppo_run)


def test_the_mix_counts_only_allocation_policies() -> None:
    # The trading rules of the default mix do not apply; naming an allocator uses the allocators' entries as given.
    assert check_allocation_mix({**TRADING_MIX, "hrp": 0.75}, None) == pytest.approx({"random": 0.25, "hrp": 0.75})


def test_a_portfolio_cql_config_with_a_ppo_behaviour_run_fails_before_any_sleeve_is_trained() -> None:
    from hierl.orchestration.cql_run import check_portfolio_cql_run

    with pytest.raises(UserError, match=r"agent\.behaviour_ppo_run"):
        check_portfolio_cql_run(load_config(["agent=cql", "env=portfolio", "agent.behaviour_ppo_run=runs/ppo"]))


# --- The warm start. ---


@pytest.fixture(scope="module")
def cql_run(universe: SleeveUniverse, dataset: PortfolioOfflineDataset, tmp_path_factory: pytest.TempPathFactory):
    """A finished PortfolioEnv CQL run folder from a tiny fit on the training block, recorded as the stage does."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (d3rlpy samples its mini-batches from numpy's global generator)
    run_dir = tmp_path_factory.mktemp("cql_portfolio")
    mark_running(run_dir)
    data = build(universe, CQL.total_timesteps, noise=0.1)
    write_dataset_files(data, data.to_frame(universe), run_dir)
    mdp = data.to_mdp_dataset()
    algo = build_cql(CQL, mdp)
    train_cql(algo, mdp, CQL, lambda step, losses: None)
    save_cql_run(algo, CQL, run_dir, {**sleeve_identity(universe, ENV, REWARD), "selected_step": CQL.n_steps})
    mark_finished(run_dir)
    return run_dir


def sac_model(universe: SleeveUniverse, net_arch: list[int]) -> SAC:
    env = DummyVecEnv([lambda: PortfolioEnv(universe, "train", ENV, REWARD, seed=0)])
    return SAC("MlpPolicy", env, buffer_size=100, policy_kwargs={"net_arch": net_arch}, seed=0, device="cpu")


def held_out_observations(universe: SleeveUniverse) -> np.ndarray:
    """Validation-block observations (CQL trained on the training block only) of books a random allocator holds."""
    env = PortfolioEnv(universe, "val", ENV, REWARD, evaluation=True)
    rng = np.random.default_rng(11)
    observation, _ = env.reset()
    seen = [observation]
    done = False
    while not done:
        observation, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, universe.n_sleeves + 1))
        done = terminated or truncated
        seen.append(observation)
    return np.stack(seen).astype(np.float32)


def test_a_warm_started_sac_acts_like_the_cql_policy_on_held_out_observations(
    cql_run: Path, universe: SleeveUniverse
) -> None:
    sac = sac_model(universe, [32, 32])
    record = warm_start_meta_controller(sac, cql_run, universe, ENV, REWARD)

    held_out = held_out_observations(universe)
    assert len(held_out) > 50
    cql = load_cql_policy(cql_run)
    expected = cql.predict(held_out)
    assert expected.shape == (len(held_out), universe.n_sleeves + 1) and expected.std(axis=0).min() > 0.0
    actions, _ = sac.predict(held_out, deterministic=True)
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    # The critics are CQL's too: the same Q-value for any action on any observation.
    probe = np.random.default_rng(0).uniform(-1, 1, expected.shape).astype(np.float32)
    with torch.no_grad():
        q_sac = torch.cat(sac.critic(torch.as_tensor(held_out), torch.as_tensor(probe)), dim=1).mean(dim=1).numpy()
    np.testing.assert_allclose(q_sac, cql.algo.predict_value(held_out, probe), rtol=1e-4, atol=1e-4)

    # What init.json holds.
    json.dumps(record)
    assert record["method"] == "weight_copy" and record["cql_run"] == str(cql_run)
    assert {"actor", "critic0", "critic1", "critic_target0", "critic_target1"} <= set(record["copied"])
    assert record["max_action_gap"] < 1e-5 and record["action_correlation"] > 0.999
    assert record["same_sleeve_signals"] is True and record["differences"] == {}


def test_other_limits_or_reward_are_recorded_not_refused(cql_run: Path, universe: SleeveUniverse) -> None:
    env_cfg = dataclasses.replace(ENV, max_sleeve_weight=0.6)
    reward_cfg = dataclasses.replace(REWARD, cvar_penalty=0.0)
    sac = sac_model(universe, [32, 32])
    record = warm_start_meta_controller(sac, cql_run, universe, env_cfg, reward_cfg)
    assert set(record["differences"]) == {"allocation_limits", "reward"}
    assert record["differences"]["allocation_limits"]["cql_run"]["max_sleeve_weight"] == 0.8
    assert record["differences"]["allocation_limits"]["this_run"]["max_sleeve_weight"] == 0.6
    assert record["method"] == "weight_copy"


def copy_run(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


def trading_run(cql_run: Path, target: Path) -> Path:
    """A finished CQL run folder as `agent=cql env=trading` writes it: no `env` key, one asset class."""
    folder = copy_run(cql_run, target)
    meta = read_json(folder / CQL_POLICY_FILE)
    for key in ("env", "asset_classes", "regime_features", "cov_window", "symbols", "signals"):
        meta.pop(key)
    meta.update(asset_class="equity", window=16, feature_names=["ret_1", "vol_regime"], observation_shape=[52])
    (folder / CQL_POLICY_FILE).write_text(json.dumps(meta))
    (folder / CQL_WEIGHTS_FILE).write_bytes(b"never read")
    return folder


def test_a_cql_run_on_trading_env_is_refused_in_one_line(cql_run: Path, universe: SleeveUniverse, tmp_path) -> None:
    folder = trading_run(cql_run, tmp_path / "trading")
    with pytest.raises(UserError, match=r"agent.init_from=.* is a CQL run on TradingEnv \(asset class equity\)") as e:
        warm_start_meta_controller(sac_model(universe, [32, 32]), folder, universe, ENV, REWARD)
    assert "\n" not in str(e.value) and "experiment=hierarchy agent=cql" in str(e.value)
    # ...and the other way round: PPO refuses a run pretrained on PortfolioEnv.
    with pytest.raises(UserError, match=r"is a CQL run on PortfolioEnv \(sleeves commodity, equity\).*TradingEnv"):
        check_cql_folder(cql_run)


def renamed_universe(old: str, new: str) -> SleeveUniverse:
    """The test universe with sleeve `old` called `new`: the same observation shape, other sleeves."""
    markets, signals, costs = {}, {}, {}
    for name, market in two_class_markets(400).items():
        label = new if name == old else name
        markets[label] = dataclasses.replace(market, asset_class=label)
        signals[label] = momentum_signals(market)
        costs[label] = COSTS[name]
    return build_universe(markets, signals, costs, ENV.window)


def test_other_asset_classes_are_refused_before_any_weight_is_read(cql_run: Path, tmp_path: Path) -> None:
    other = renamed_universe("commodity", "index")
    folder = copy_run(cql_run, tmp_path / "unreadable_weights")
    (folder / CQL_WEIGHTS_FILE).write_bytes(b"not a checkpoint")
    sac = sac_model(other, [32, 32])  # the same observation shape: only the sleeves differ
    with pytest.raises(UserError, match=r"asset_classes \['commodity', 'equity'\] there, \['equity', 'index'\] here"):
        warm_start_meta_controller(sac, folder, other, ENV, REWARD)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"regime_features": ["commodity/realised_vol", "equity/trend_regime"]}, "regime_features"),
        ({"window": 21}, "window"),
        ({"cov_window": 63}, "cov_window"),
        ({"observation_shape": [30]}, "observation_shape"),
    ],
)
def test_other_observations_are_refused_naming_what_differs(
    cql_run: Path, universe: SleeveUniverse, change: dict[str, object], named: str
) -> None:
    shape = PortfolioEnv(universe, "train", ENV, REWARD).observation_space.shape
    expected = {**sleeve_identity(universe, ENV, REWARD), "observation_shape": list(shape or ())}
    check_portfolio_cql(cql_run, expected)  # the run's own observations pass
    with pytest.raises(UserError, match=rf"agent.init_from=.*other observations.*\({named} .* there, .* here\)"):
        check_portfolio_cql(cql_run, {**expected, **change})


def test_the_hierarchy_refuses_a_trading_cql_run_before_any_data_or_sleeve(cql_run: Path, tmp_path: Path) -> None:
    from hierl.orchestration.hierarchy_run import check_config

    folder = trading_run(cql_run, tmp_path / "trading")
    with pytest.raises(UserError, match=r"agent.init_from=.*TradingEnv"):
        check_config(load_config(["experiment=hierarchy", f"agent.init_from={folder}"]))
    with pytest.raises(UserError, match=r"cov_window 20 there, 63 here"):
        check_config(load_config(["experiment=hierarchy", f"agent.init_from={cql_run}"]))


def test_the_command_line_refusal_is_one_line_and_trains_nothing(cql_run: Path, tmp_path: Path) -> None:
    import subprocess

    folder = trading_run(cql_run, tmp_path / "trading")
    run_dir = tmp_path / "hierarchy"
    overrides = ("experiment=hierarchy", "debug=smoke", f"agent.init_from={folder}", f"hydra.run.dir={run_dir}")
    command = hierl_train(*overrides)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "agent.init_from=" in line]
    assert len(lines) == 1 and "TradingEnv" in lines[0], result.stderr[-2000:]
    assert not (run_dir / "sleeves").exists() and not (run_dir / "signals.parquet").exists()


# --- End to end at smoke budgets. ---


@pytest.mark.slow
def test_cql_on_portfolio_then_a_warm_started_hierarchy_end_to_end(tmp_path: Path) -> None:
    cql_dir, sac_dir = tmp_path / "cql", tmp_path / "sac"
    common = ("debug=smoke", "runtime.torch_threads=1")
    run_ok(hierl_train("agent=cql", "env=portfolio", *common, f"hydra.run.dir={cql_dir}"), timeout=600)
    assert read_json(cql_dir / "run_state.json")["status"] == "finished"
    meta = read_json(cql_dir / CQL_POLICY_FILE)
    assert meta["env"] == "portfolio" and len(meta["asset_classes"]) >= 2
    assert meta["action_size"] == len(meta["asset_classes"]) + 1
    table = pl.read_parquet(cql_dir / DATASET_TABLE_FILE)
    assert set(table["policy"].unique()) == set(ALLOCATION_POLICIES)
    cql_metrics = read_json(cql_dir / "metrics.json")
    assert np.isfinite(cql_metrics["val/sharpe"]) and np.isfinite(cql_metrics["test/baseline/hrp/sharpe"])
    for asset_class in meta["asset_classes"]:
        assert (cql_dir / "sleeves" / asset_class / "best_model.zip").is_file()

    run_ok(hierl_train("experiment=hierarchy", *common, f"agent.init_from={cql_dir}", f"hydra.run.dir={sac_dir}"))
    init = read_json(sac_dir / "init.json")
    assert init["cql_run"] == str(cql_dir) and init["method"] == "weight_copy"
    assert init["max_action_gap"] < 1e-5
    # The same sleeve budgets and seed give the same signals; the hierarchy's limits and reward are its own.
    assert init["same_sleeve_signals"] is True
    assert set(init["differences"]) == {"allocation_limits", "reward"}
    assert np.isfinite(read_json(sac_dir / "metrics.json")["test/sharpe"])
