"""Callbacks: validation keeps the best and stops early, sweeps see every score, metrics match the rollouts,
and a checkpoint resumes training bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from envs_fixtures import make_market
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from training_checks import RolloutRewards

from hierl.agents.checkpointing import RolloutCheckpointCallback, restore_training_state
from hierl.agents.metrics_callback import MetricsCallback
from hierl.agents.model_files import load_model
from hierl.agents.ppo import PPOAgentFactory, make_training_vec_env
from hierl.agents.trial_reporting import ReportToTrial
from hierl.agents.validation import StopOnNoImprovement, ValidationCallback
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.tracking.checkpoints import list_checkpoints

MARKET = make_market(n_days=400, n_assets=3, n_features=2)
ENV = EnvConfig(window=8, episode_length=500)
REWARD = RewardConfig(volatility_penalty=0.1, turnover_penalty=0.01)
AGENT = PPOConfig(n_steps=64, batch_size=32, n_envs=2, n_epochs=2, net_arch=[8])
ROLLOUT = AGENT.n_steps * AGENT.n_envs


def new_model() -> PPO:
    return PPOAgentFactory(AGENT).build(make_training_vec_env(MARKET, ENV, REWARD, AGENT.n_envs, 0), seed=0)


class Scores:
    """A validation score function returning a fixed sequence, recording when it was called."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.timesteps: list[int] = []

    def __call__(self, model: BaseAlgorithm) -> dict[str, float]:
        self.timesteps.append(model.num_timesteps)
        return {"sharpe": self.values.pop(0)}


class Reporter:
    def __init__(self, prune_at_call: int | None = None) -> None:
        self.reports: list[tuple[float, int]] = []
        self.prune_at_call = prune_at_call

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))
        if self.prune_at_call is not None and len(self.reports) == self.prune_at_call:
            raise optuna.TrialPruned("pruned")


def test_validation_runs_at_rollout_boundaries_and_keeps_the_best(tmp_path: Path) -> None:
    scores = Scores([0.1, 0.5, 0.2, 0.3])
    reporter = Reporter()
    validation = ValidationCallback(
        scores, "sharpe", ROLLOUT, tmp_path / "best.zip", after_validation=[ReportToTrial(reporter)]
    )
    new_model().learn(4 * ROLLOUT, callback=validation)
    assert scores.timesteps == [ROLLOUT, 2 * ROLLOUT, 3 * ROLLOUT, 4 * ROLLOUT]
    assert validation.best_score == 0.5
    assert validation.best_timestep == 2 * ROLLOUT
    assert PPO.load(tmp_path / "best.zip").num_timesteps == 2 * ROLLOUT
    assert reporter.reports == [(0.1, ROLLOUT), (0.5, 2 * ROLLOUT), (0.2, 3 * ROLLOUT), (0.3, 4 * ROLLOUT)]


def test_early_stopping_after_patience_validations_without_improvement(tmp_path: Path) -> None:
    scores = Scores([0.5, 0.4, 0.3, 0.9, 0.9, 0.9])
    validation = ValidationCallback(
        scores, "sharpe", ROLLOUT, tmp_path / "best.zip", after_validation=[StopOnNoImprovement(patience=2)]
    )
    model = new_model().learn(10 * ROLLOUT, callback=validation)
    assert validation.stopped_early
    assert scores.timesteps == [ROLLOUT, 2 * ROLLOUT, 3 * ROLLOUT]
    assert model.num_timesteps < 4 * ROLLOUT
    assert validation.best_timestep == ROLLOUT


def test_a_pruned_trial_stops_training_with_optunas_exception(tmp_path: Path) -> None:
    validation = ValidationCallback(
        Scores([0.1, 0.2, 0.3]),
        "sharpe",
        ROLLOUT,
        tmp_path / "best.zip",
        after_validation=[ReportToTrial(Reporter(prune_at_call=2))],
    )
    model = new_model()
    with pytest.raises(optuna.TrialPruned):
        model.learn(10 * ROLLOUT, callback=validation)
    assert model.num_timesteps == 2 * ROLLOUT


class Sink:
    def __init__(self) -> None:
        self.logged: list[tuple[dict[str, float], int | None]] = []

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.logged.append((dict(metrics), step))


def test_metrics_callback_logs_reward_terms_that_add_up_to_the_rollouts_reward_and_the_update_statistics() -> None:
    sink, rewards = Sink(), RolloutRewards()
    new_model().learn(2 * ROLLOUT, callback=CallbackList([MetricsCallback(sink), rewards]))
    reward_logs = [(m, step) for m, step in sink.logged if any(k.startswith("reward/") for k in m)]
    assert [step for _, step in reward_logs] == [ROLLOUT, 2 * ROLLOUT]
    for (terms, _), expected in zip(reward_logs, rewards.means, strict=True):
        assert {"reward/return", "reward/volatility", "reward/turnover"} <= set(terms)
        assert sum(terms.values()) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    update_logs = [(m, step) for m, step in sink.logged if "train/approx_kl" in m]
    assert [step for _, step in update_logs] == [ROLLOUT, 2 * ROLLOUT]
    assert {"train/value_loss", "train/policy_gradient_loss", "train/clip_fraction"} <= set(update_logs[0][0])


def train_with_checkpoints(directory: Path, total: int) -> tuple[PPO, ValidationCallback]:
    validation = ValidationCallback(
        lambda m: {"sharpe": float(m.num_timesteps % 3)}, "sharpe", ROLLOUT, directory / "b"
    )
    checkpoints = RolloutCheckpointCallback(directory / "checkpoints", ROLLOUT, 10, {"validation": validation})
    model = new_model().learn(total, callback=CallbackList([validation, checkpoints]))
    return model, validation


def test_resuming_from_a_checkpoint_repeats_the_uninterrupted_run_exactly(tmp_path: Path) -> None:
    straight, straight_validation = train_with_checkpoints(tmp_path, 4 * ROLLOUT)
    checkpoint = next(c for c in list_checkpoints(tmp_path / "checkpoints") if c.timesteps == 2 * ROLLOUT)
    state: dict[str, Any] = checkpoint.state()

    resumed = load_model(PPO, checkpoint.model_path, env=make_training_vec_env(MARKET, ENV, REWARD, AGENT.n_envs, 0))
    validation = ValidationCallback(
        lambda m: {"sharpe": float(m.num_timesteps % 3)}, "sharpe", ROLLOUT, tmp_path / "resumed_best"
    )
    checkpoints = RolloutCheckpointCallback(tmp_path / "resumed", ROLLOUT, 10, {"validation": validation})
    restore_training_state(resumed, state, {"validation": validation}, checkpoints)
    resumed.learn(4 * ROLLOUT - resumed.num_timesteps, callback=[validation, checkpoints], reset_num_timesteps=False)

    assert resumed.num_timesteps == straight.num_timesteps
    for name, tensor in straight.policy.state_dict().items():
        assert torch.equal(tensor, resumed.policy.state_dict()[name]), name
    assert validation.history == straight_validation.history
    assert validation.best_timestep == straight_validation.best_timestep


def test_checkpoints_keep_the_newest_and_ignore_half_written_folders(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoints"
    (directory / ".step_000000009999.tmp").mkdir(parents=True)
    validation = ValidationCallback(lambda m: {"sharpe": 0.0}, "sharpe", ROLLOUT, tmp_path / "b")
    checkpoints = RolloutCheckpointCallback(directory, ROLLOUT, 2, {"validation": validation})
    new_model().learn(5 * ROLLOUT, callback=[validation, checkpoints])
    assert [c.timesteps for c in list_checkpoints(directory)] == [3 * ROLLOUT, 4 * ROLLOUT]


def test_early_stopping_and_pruning_compose_after_validation_and_resume_their_count(tmp_path: Path) -> None:
    reporter = Reporter()
    stopper = StopOnNoImprovement(patience=3)
    validation = ValidationCallback(
        Scores([0.5, 0.4, float("nan"), 0.3]),
        "sharpe",
        ROLLOUT,
        tmp_path / "best.zip",
        after_validation=[stopper, ReportToTrial(reporter)],
    )
    new_model().learn(10 * ROLLOUT, callback=validation)
    # Both run after every validation: the third miss stops training, the NaN score is not reported.
    assert validation.stopped_early and stopper.without_improvement == 3
    assert reporter.reports == [(0.5, ROLLOUT), (0.4, 2 * ROLLOUT), (0.3, 4 * ROLLOUT)]
    state = validation.state_dict()
    fresh = ValidationCallback(
        Scores([]),
        "sharpe",
        ROLLOUT,
        tmp_path / "b.zip",
        after_validation=[StopOnNoImprovement(patience=3), ReportToTrial(Reporter())],
    )
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state


def test_the_library_finds_the_sweepers_reporter_through_its_entry_point() -> None:
    # The library never imports the plugin; the plugin registers its finder, and outside a sweep it finds none.
    from hierl.agents import trial_reporting
    from hierl.tracking import sweep_trials
    from hydra_plugins.hierl_optuna_sweeper import reporting

    assert reporting.current_trial_reporter in sweep_trials._finders()
    assert trial_reporting.current_trial_reporter() is None
