"""`agent.normalize_observations`: SB3's VecNormalize in training, its statistics frozen beside every saved model,
evaluations and replays scaled with them, exact resume, and no change at all with the option off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from envs_fixtures import make_market
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from hierl.agents.callbacks import ValidationCallback
from hierl.agents.observation_scaling import (
    ObservationScaling,
    model_scaling,
    read_scaling,
    save_model,
    scaling_path,
)
from hierl.agents.ppo import PPOAgentFactory
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.loading import load_config
from hierl.errors import ConfigError
from hierl.orchestration.asset_run import check_trainable, train_asset_agent

MARKET = make_market(n_days=400, n_assets=3, n_features=2)
ENV = EnvConfig(window=8, episode_length=500)
REWARD = RewardConfig()
SCALED = PPOConfig(n_steps=64, batch_size=32, n_envs=2, n_epochs=1, net_arch=[8], normalize_observations=True)
ROLLOUT = SCALED.n_steps * SCALED.n_envs


def same_scaling(a: ObservationScaling | None, b: ObservationScaling | None) -> bool:
    assert a is not None and b is not None
    return bool(
        np.array_equal(a.mean, b.mean)
        and np.array_equal(a.var, b.var)
        and (a.count, a.clip, a.epsilon) == (b.count, b.clip, b.epsilon)
    )


def test_frozen_statistics_scale_exactly_like_vec_normalize_and_survive_json(tmp_path: Path) -> None:
    env = PPOAgentFactory(SCALED).training_env(MARKET, ENV, REWARD, seed=0)
    assert isinstance(env, VecNormalize) and not env.norm_reward
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(50):
        env.step(rng.uniform(-1, 1, size=(env.num_envs, 1)).astype(np.float32))
    raw = np.asarray(env.get_original_obs())
    model = PPOAgentFactory(SCALED).build(env, seed=0)

    scaling = model_scaling(model)
    assert scaling is not None
    assert np.array_equal(scaling.apply(raw), np.asarray(env.normalize_obs(raw)))

    save_model(model, tmp_path / "model.zip")
    assert scaling_path(tmp_path / "model.zip") == tmp_path / "model.obs_scaling.json"
    assert same_scaling(read_scaling(tmp_path / "model.zip"), scaling)


def test_the_best_model_keeps_the_statistics_of_the_moment_it_was_validated(tmp_path: Path) -> None:
    model = PPOAgentFactory(SCALED).build(PPOAgentFactory(SCALED).training_env(MARKET, ENV, REWARD, 0), seed=0)
    seen: list[ObservationScaling | None] = []

    def first_is_best(current: BaseAlgorithm) -> dict[str, float]:
        seen.append(model_scaling(current))
        return {"sharpe": -float(len(seen))}

    validation = ValidationCallback(first_is_best, "sharpe", ROLLOUT, tmp_path / "best_model.zip")
    model.learn(3 * ROLLOUT, callback=validation)
    save_model(model, tmp_path / "model.zip")

    assert validation.best_timestep == ROLLOUT and len(seen) == 3
    best, final = read_scaling(tmp_path / "best_model.zip"), read_scaling(tmp_path / "model.zip")
    assert same_scaling(best, seen[0])
    assert same_scaling(final, model_scaling(model))
    assert best is not None and final is not None and final.count > best.count


def test_without_the_option_nothing_is_wrapped_and_no_statistics_are_written(tmp_path: Path) -> None:
    plain = PPOConfig(n_steps=64, batch_size=32, n_envs=2, n_epochs=1, net_arch=[8])
    env = PPOAgentFactory(plain).training_env(MARKET, ENV, REWARD, seed=0)
    assert type(env) is VecMonitor
    model = PPOAgentFactory(plain).build(env, seed=0)
    assert model_scaling(model) is None
    save_model(model, tmp_path / "model.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]
    assert read_scaling(tmp_path / "model.zip") is None


def test_a_cql_warm_start_with_observation_scaling_is_refused_before_any_work(tmp_path: Path) -> None:
    cfg = load_config(
        ["debug=smoke", f"agent.init_from={tmp_path / 'cql_run'}", "agent.normalize_observations=true"],
        output_dir=str(tmp_path / "run"),
    )
    with pytest.raises(ConfigError, match="unscaled observations"):
        check_trainable(cfg)
    with pytest.raises(ConfigError, match="unscaled observations"):
        train_asset_agent(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


# --- End to end through `python -m hierl.train` and `python -m hierl.evaluate`. ---

OVERRIDES = ["agent=ppo", "asset=equity", "debug=smoke", "data=synthetic", "agent.normalize_observations=true"]


def run_module(module: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]


def metrics_without_timing(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k != "train/seconds"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A straight run of 4096 steps, and one that stops at 2048 and resumes from its checkpoint to 4096."""
    root = tmp_path_factory.mktemp("vecnormalize")
    run_module("hierl.train", *OVERRIDES, "agent.total_timesteps=4096", f"hydra.run.dir={root / 'straight'}")
    resumed = root / "resumed"
    run_module("hierl.train", *OVERRIDES, "agent.total_timesteps=2048", f"hydra.run.dir={resumed}")
    run_module("hierl.train", *OVERRIDES, "agent.total_timesteps=4096", "resume=true", f"hydra.run.dir={resumed}")
    return {"root": root, "straight": root / "straight", "resumed": resumed}


@pytest.mark.slow
def test_a_scaled_run_saves_statistics_beside_both_models_and_tests_with_the_best_ones(
    runs: dict[str, Path],
) -> None:
    run_dir = runs["straight"]
    best, final = read_scaling(run_dir / "best_model.zip"), read_scaling(run_dir / "model.zip")
    assert best is not None and final is not None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    best_timestep, timesteps = metrics["train/best_timestep"], metrics["train/timesteps"]
    # VecNormalize counts every observation it saw: one per env at the first reset, one per env step after, on
    # top of its 1e-4 prior. So each file's count says at which timestep its statistics were taken.
    n_envs = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["agent"]["n_envs"]
    assert best.count == pytest.approx(best_timestep + n_envs + 1e-4, rel=0, abs=1e-9)
    assert final.count == pytest.approx(timesteps + n_envs + 1e-4, rel=0, abs=1e-9)
    assert same_scaling(best, final) == (best_timestep == timesteps)
    # The final validation backtest of best_model.zip repeats the score that selected it during training.
    history: list[dict[str, Any]] = json.loads((run_dir / "validation_history.json").read_text())
    best_row = max(history, key=lambda row: row["sharpe"])
    assert (metrics["val/sharpe"], best_row["timestep"]) == (best_row["sharpe"], best_timestep)


@pytest.mark.slow
def test_a_replay_of_a_scaled_run_gives_its_metrics(runs: dict[str, Path]) -> None:
    run_dir = runs["straight"]
    run_module("hierl.evaluate", f"run_dir={run_dir}")
    replay = next(p for p in runs["root"].iterdir() if p.name.startswith("straight_replay_"))
    original, replayed = metrics_without_timing(run_dir), metrics_without_timing(replay)
    assert {"val/sharpe", "test/sharpe", "test/max_drawdown"} <= set(replayed)
    assert replayed == {key: original[key] for key in replayed}


@pytest.mark.slow
def test_a_resumed_scaled_run_matches_the_straight_run(runs: dict[str, Path]) -> None:
    straight, resumed = runs["straight"], runs["resumed"]
    assert metrics_without_timing(resumed) == metrics_without_timing(straight)
    for name in ("best_model.obs_scaling.json", "model.obs_scaling.json", "validation_history.json"):
        assert (resumed / name).read_text() == (straight / name).read_text(), name
