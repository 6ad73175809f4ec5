"""Progress that tells the truth: totals that are what will be trained, and a heartbeat in non-interactive output."""

from __future__ import annotations

import logging
import time

import pytest
from envs_fixtures import make_market
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger

from hierl.agents.progress import TrainingProgress, planned_timesteps
from hierl.config.env import EnvConfig, RewardConfig
from hierl.envs.vector_env import TradingVecEnv
from hierl.tracking.heartbeat import format_seconds, heartbeat


@pytest.fixture
def hierl_records() -> list[logging.LogRecord]:
    """Every record the `hierl` logger emits during the test."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logging.getLogger("hierl").addHandler(handler)
    yield records
    logging.getLogger("hierl").removeHandler(handler)


def small_ppo(n_steps: int = 64) -> PPO:
    market = make_market(n_days=120, n_assets=2, n_features=2, seed=0)
    env = TradingVecEnv(market, "train", EnvConfig(window=4, episode_length=30), RewardConfig(), n_envs=2, seed=0)
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def test_the_planned_total_is_the_budget_rounded_up_to_whole_rollouts() -> None:
    model = small_ppo(n_steps=64)  # rollouts of 64 x 2 = 128 steps
    assert planned_timesteps(model, 1000) == 1024
    assert planned_timesteps(model, 1024) == 1024
    assert planned_timesteps(model, 1) == 128


def test_non_interactive_training_logs_heartbeats_that_end_at_the_steps_trained(
    hierl_records: list[logging.LogRecord],
) -> None:
    model = small_ppo(n_steps=64)
    progress = TrainingProgress(show_bar=True, heartbeat_seconds=0.0)  # pytest's stderr is not a terminal
    model.learn(total_timesteps=300, callback=progress)
    assert model.num_timesteps == 384 == progress.total
    beats = [r.getMessage() for r in hierl_records if r.getMessage().startswith("training: ")]
    assert beats, "no heartbeat line in non-interactive output"
    assert all("/384 steps" in beat for beat in beats)
    assert hierl_records[-1].getMessage().startswith("trained 384 steps in ")


def test_heartbeat_beats_while_the_block_runs_and_stops_with_it(hierl_records: list[logging.LogRecord]) -> None:
    with heartbeat("building", status=lambda: "3/4 done", every=0.02):
        deadline = time.monotonic() + 10.0  # a loaded machine may delay the beats, never stop them
        while len(hierl_records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    beats = [r.getMessage() for r in hierl_records]
    assert len(beats) >= 2
    assert all(b.startswith("building: still running (") and b.endswith(", 3/4 done)") for b in beats)
    time.sleep(0.1)
    assert len(hierl_records) == len(beats), "the heartbeat went on after its block ended"


def test_format_seconds_is_short() -> None:
    assert format_seconds(42.4) == "42 s"
    assert format_seconds(185) == "3 min 05 s"
