"""One asset class, one PPO agent: train on the training block, select on validation, test once, write the run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import set_random_seed

from hierl.agents.callbacks import ValidationCallback
from hierl.agents.ppo import build_ppo, make_training_vec_env
from hierl.agents.rollout import Predict
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig
from hierl.config.loading import flat_config
from hierl.config.run import TrainConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.trading_env import TradingEnv
from hierl.errors import ConfigError
from hierl.orchestration.policy_evaluation import (
    EVALUATED_SPLITS,
    evaluate_split,
    policy_backtest,
    write_data_fingerprint,
    write_evaluation,
)
from hierl.safety import SafetyValidator, apply_safety_gate
from hierl.tracking.files import write_json
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import Tracker, git_commit, run_name, start_tracker

log = get_logger("train")

MODEL_FILE = "model.zip"
BEST_MODEL_FILE = "best_model.zip"
VALIDATION_METRIC = "sharpe"


@dataclass(frozen=True)
class RunOutcome:
    """What the entrypoint prints and returns to a sweeper."""

    run_dir: Path
    metrics: dict[str, float]


def predictor(model: BaseAlgorithm) -> Predict:
    """The model's deterministic action for a batch of observations."""

    def predict(observations: np.ndarray) -> np.ndarray:
        actions, _ = model.predict(observations, deterministic=True)
        return np.asarray(actions)

    return predict


def load_run_market(cfg: TrainConfig) -> MarketData:
    """The asset class's arrays, built (or read from the cache) once per run."""
    return load_market_data(cfg.data, cfg.asset.name, cfg.env.window, Path(cfg.paths.cache_dir), cfg.asset.symbols)


def train_asset_agent(cfg: TrainConfig, run_dir: Path) -> RunOutcome:
    """The whole single-asset-class experiment; every file of the run-folder contract is written here."""
    if not isinstance(cfg.agent, PPOConfig):
        raise ConfigError(f"agent={cfg.agent.name} is not trainable by `hierl.train` yet; use agent=ppo")
    if not isinstance(cfg.env, EnvConfig):
        raise ConfigError(f"agent=ppo trains single assets in env=trading, not env={cfg.env.name}")
    set_random_seed(cfg.seed)
    validator = SafetyValidator.from_config(cfg.safety)
    if cfg.safety.split not in EVALUATED_SPLITS:
        raise ConfigError(f"safety.split={cfg.safety.split!r} must be one of {EVALUATED_SPLITS} (usually val)")
    market = load_run_market(cfg)
    write_data_fingerprint(run_dir, market)
    log.info(
        "%s: %d symbols, %d features, train %s..%s",
        market.asset_class,
        market.n_assets,
        market.n_features,
        market.dates[market.block("train")][0],
        market.dates[market.block("train")][-1],
    )

    tracker = start_tracker(
        cfg.logger,
        run_dir,
        run_name(cfg.asset.name, cfg.agent.name, cfg.seed),
        flat_config(cfg),
        tags=[cfg.agent.name, cfg.asset.name, f"git:{git_commit()}"],
    )
    exit_code = 1
    try:
        outcome = _train_and_evaluate(cfg, run_dir, market, tracker, validator)
        exit_code = 0
        return outcome
    finally:
        tracker.finish(exit_code)


def _train_and_evaluate(
    cfg: TrainConfig, run_dir: Path, market: MarketData, track: Tracker, validator: SafetyValidator
) -> RunOutcome:
    agent_cfg = cfg.agent
    assert isinstance(agent_cfg, PPOConfig)

    def make_env(seed: int) -> TradingEnv:
        return TradingEnv(market, "train", cfg.env, cfg.reward, seed=seed)

    vec_env = make_training_vec_env(make_env, agent_cfg.n_envs, cfg.seed)
    model = build_ppo(agent_cfg, vec_env, cfg.seed)
    formats = ["csv"] if cfg.logger.name == "csv" else []
    model.set_logger(configure(str(run_dir), formats))

    def validation_scores(current: BaseAlgorithm) -> dict[str, float]:
        backtest = policy_backtest(predictor(current), market, "val", cfg.env, cfg.reward)
        scores = backtest.metrics()
        track.log({f"val/{k}": v for k, v in scores.items()}, step=current.num_timesteps)
        return scores

    validation = ValidationCallback(
        validation_scores, VALIDATION_METRIC, agent_cfg.eval_freq, run_dir / BEST_MODEL_FILE
    )
    checkpoints = CheckpointCallback(
        save_freq=max(1, agent_cfg.checkpoint_freq // agent_cfg.n_envs),
        save_path=str(run_dir / "checkpoints"),
        name_prefix="ppo",
    )
    started = time.perf_counter()
    model.learn(
        total_timesteps=agent_cfg.total_timesteps,
        callback=CallbackList([validation, checkpoints]),
        progress_bar=cfg.progress,
    )
    train_seconds = time.perf_counter() - started
    model.save(run_dir / MODEL_FILE)

    best = PPO.load(run_dir / BEST_MODEL_FILE, device="cpu")
    evaluations = {}
    for split in EVALUATED_SPLITS:
        evaluations[split] = evaluate_split(predictor(best), market, split, cfg.env, cfg.reward)
        if split == cfg.safety.split:
            # The gate sees the selected policy before any result is reported.
            apply_safety_gate(validator, evaluations[split].agent, cfg.asset.name, run_dir)
    metrics = write_evaluation(
        run_dir, list(evaluations.values()), f"{cfg.asset.name} / {cfg.agent.name} / seed {cfg.seed}"
    )
    metrics.update(
        {
            "train/timesteps": float(model.num_timesteps),
            "train/seconds": train_seconds,
            "train/best_timestep": float(validation.best_timestep),
        }
    )
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "validation_history.json", validation.history)
    track.summary(metrics)
    for name in ("backtest.parquet", "equity_curve_test.png"):
        track.log_file(run_dir / name, "result")
    track.log_file(run_dir / BEST_MODEL_FILE, "model")
    return RunOutcome(run_dir, metrics)
