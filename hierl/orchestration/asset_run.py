"""One asset class, one PPO agent: the PPO stage of the run lifecycle (`hierl.run.lifecycle`): train on the
training block, select on validation, test once, write the run."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed

from hierl.agents.checkpointing import RolloutCheckpointCallback, restore_training_state
from hierl.agents.metrics_callback import MetricsCallback
from hierl.agents.model_files import load_model
from hierl.agents.observation_scaling import model_scaling, read_scaling, save_model, scaling_path
from hierl.agents.ppo import PPOAgentFactory
from hierl.agents.rollout import predictor
from hierl.agents.stop_signal import StopOnSignalCallback, TrainingInterrupted
from hierl.agents.training import VALIDATION_METRIC, finished_training, learn_to_budget, sb3_logger
from hierl.agents.trial_reporting import report_to_trial
from hierl.agents.validation import StopOnNoImprovement, ValidationCallback
from hierl.config.agent import PPOConfig
from hierl.config.run import PPORunConfig, TrainConfig
from hierl.config.stages import ppo_run
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.orchestration.policy_evaluation import (
    check_safety_split,
    evaluate_gated,
    policy_backtest,
    write_data_fingerprint,
    write_learning_curve,
)
from hierl.run.folder import BEST_MODEL_FILE, MODEL_FILE, RunFolder
from hierl.run.lifecycle import RunOutcome, TrainedPolicy, log_run_artifacts, run_stage
from hierl.run.resume import check_checkpoint, find_resume_checkpoint, resume_state
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator
from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.heartbeat import heartbeat
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import Tracker, check_logger, tracked_run

log = get_logger("train")

# BEST_MODEL_FILE, MODEL_FILE, RunOutcome and sb3_logger are re-exported for the modules that import them from here.
__all__ = [
    "BEST_MODEL_FILE",
    "MODEL_FILE",
    "PPOStage",
    "RunOutcome",
    "check_trainable",
    "load_run_market",
    "ppo_parameters",
    "sb3_logger",
    "train_asset_agent",
    "use_ppo_threads",
]


def load_run_market(cfg: TrainConfig, normalisation: dict[str, dict[str, float | bool]] | None = None) -> MarketData:
    """The asset class's arrays, built (or read from the cache) once per run; `normalisation` reuses a run's
    feature scaling instead of fitting it on this data's training block."""
    with heartbeat(f"loading the {cfg.asset.name} data (a first build of its Gold features takes a while)"):
        return load_market_data(
            cfg.data,
            cfg.asset.name,
            cfg.env.window,
            Path(cfg.paths.cache_dir),
            cfg.asset.symbols,
            normalisation,
            cfg.asset.calendar,
        )


def ppo_parameters(agent: PPOConfig, n_observations: int) -> int:
    """Weights of the PPO policy: an actor and a critic MLP of `agent.net_arch` each (SB3's MlpPolicy)."""
    return mlp_parameters(n_observations, agent.net_arch, 1) + mlp_parameters(n_observations, agent.net_arch, 1)


def use_ppo_threads(cfg: PPORunConfig, market: MarketData) -> ThreadChoice:
    """The thread policy for this run's PPO network (`runtime.torch_threads`)."""
    n_observations = cfg.env.window * market.n_features + len(CONTEXT_NAMES)
    return apply_thread_policy(cfg.runtime.torch_threads, ppo_parameters(cfg.agent, n_observations))


def check_trainable(config: TrainConfig) -> PPORunConfig:
    """Every config mistake this stage can see, raised before data is loaded or a model is built; returns the
    config as this stage's typed config."""
    cfg = ppo_run(config)
    check_safety_split(cfg.safety.split)
    PPOAgentFactory(cfg.agent).validate()
    check_logger(cfg.logger)
    parse_torch_threads(cfg.runtime.torch_threads)
    if cfg.agent.init_from:
        # d3rlpy (several seconds to import) is loaded only by runs that warm-start from CQL.
        from hierl.agents.warm_start import check_cql_folder

        check_cql_folder(cfg.agent.init_from)
    return cfg


def train_asset_agent(cfg: TrainConfig, run_dir: Path, market: MarketData | None = None) -> RunOutcome:
    """The whole single-asset-class experiment (see `hierl.run.lifecycle.run_stage`).

    `market` is this config's `load_run_market(cfg)` when the caller already holds it (the PPO stage loads it
    once for training and signals); by default it is loaded here, after the config checks.
    """
    return run_stage(PPOStage(ppo_run(cfg), RunFolder(run_dir), market))


@dataclass
class PPOStage:
    """The PPO steps of the run lifecycle: one agent per asset class on `TradingVecEnv`, validated every
    `agent.eval_freq` steps, checkpointed at rollout boundaries."""

    cfg: PPORunConfig
    run: RunFolder
    market: MarketData | None = None

    def check(self) -> None:
        check_trainable(self.cfg)

    def find_checkpoint(self) -> Checkpoint | None:
        return find_resume_checkpoint(self.run.path) if self.cfg.resume else None

    def seed(self) -> None:
        set_random_seed(self.cfg.seed)

    def load_data(self) -> MarketData:
        return self.market if self.market is not None else load_run_market(self.cfg)

    def record_data(self, market: MarketData) -> None:
        write_data_fingerprint(self.run.path, market)
        train_dates = market.dates[market.block("train")]
        log.info(
            "%s: %d symbols, %d features, train %s..%s",
            market.asset_class,
            market.n_assets,
            market.n_features,
            train_dates[0],
            train_dates[-1],
        )

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], market: MarketData) -> None:
        """Same hierl, config, observation shape and data as the run that wrote it."""
        check_checkpoint(
            checkpoint,
            state,
            self.cfg,
            (self.cfg.env.window * market.n_features + len(CONTEXT_NAMES),),
            "the features and env.window it was trained with",
            ("market_fingerprint", market.fingerprint),
            "the data.* settings it was trained with",
        )

    def tracked(self) -> AbstractContextManager[Tracker]:
        return tracked_run(self.cfg, self.run.path)

    def train(
        self, market: MarketData, track: Tracker, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        cfg, run_dir = self.cfg, self.run.path
        agent_cfg, env_cfg = cfg.agent, cfg.env
        threads = use_ppo_threads(cfg, market)
        vec_env = PPOAgentFactory(agent_cfg).training_env(market, env_cfg, cfg.reward, cfg.seed)
        if checkpoint is not None:
            model = load_model(PPO, checkpoint.model_path, env=vec_env)
            log.info("resuming from %s at %d steps", checkpoint.path, model.num_timesteps)
        else:
            model = PPOAgentFactory(agent_cfg).build(vec_env, cfg.seed)
            if agent_cfg.init_from:
                # A fresh run starts from the CQL policy; a resumed one already carries those weights.
                from hierl.agents.warm_start import cloning_observations, warm_start_ppo

                cql_run = Path(agent_cfg.init_from)
                observations = cloning_observations(cql_run, market, env_cfg, cfg.reward)
                record = warm_start_ppo(model, cql_run, observations, seed=cfg.seed)
                self.run.write_init(record)
                log.info("warm-started from %s (action correlation %.3f)", cql_run, record["action_correlation"])
        model.set_logger(sb3_logger(cfg, run_dir, checkpoint.timesteps if checkpoint else None))

        def validation_scores(current: BaseAlgorithm) -> dict[str, float]:
            # Scored with the observation statistics of this moment, the ones saved beside the model if it is best.
            backtest = policy_backtest(predictor(current, model_scaling(current)), market, "val", env_cfg, cfg.reward)
            scores = backtest.metrics()
            track.log({f"val/{k}": v for k, v in scores.items()}, step=current.num_timesteps)
            return scores

        # After each validation: early stopping, then the sweep's pruner (SB3's callback_after_eval pattern).
        after_validation: list[BaseCallback] = []
        if agent_cfg.early_stopping_patience is not None:
            after_validation.append(StopOnNoImprovement(agent_cfg.early_stopping_patience))
        after_validation.extend(report_to_trial(run_dir))
        validation = ValidationCallback(
            validation_scores,
            VALIDATION_METRIC,
            agent_cfg.eval_freq,
            self.run.best_model_path,
            after_validation=after_validation,
            evaluate_at_end=False,
        )
        stateful = {"validation": validation}
        checkpoints = RolloutCheckpointCallback(
            self.run.checkpoints_dir,
            agent_cfg.checkpoint_freq,
            agent_cfg.keep_checkpoints,
            stateful,
            extra_state=resume_state(cfg, market_fingerprint=market.fingerprint),
        )
        interrupt = StopOnSignalCallback()
        if state is not None:
            restore_training_state(model, state, stateful, checkpoints)
        started = time.perf_counter()
        # Callback order matters: validate, then log, then snapshot (so it holds this boundary's validation).
        callbacks: list[BaseCallback] = [validation, MetricsCallback(track), checkpoints, interrupt]
        learn_to_budget(model, agent_cfg.total_timesteps, callbacks, interrupt, checkpoint is not None, cfg.progress)
        if interrupt.received is not None:
            raise TrainingInterrupted(interrupt.received, checkpoints.write_snapshot())
        validation.evaluate_final()
        return finished_training(model, validation, started, threads)

    def select_and_test(
        self, market: MarketData, trained: TrainedPolicy, validator: SafetyValidator, tracker: Tracker
    ) -> dict[str, float]:
        save_model(trained.model, self.run.model_path)
        best_path = self.run.best_model_path
        best = predictor(load_model(PPO, best_path), read_scaling(best_path))
        cfg = self.cfg
        title = f"{cfg.asset.name} / {cfg.agent.name} / seed {cfg.seed}"
        metrics = evaluate_gated(best, market, cfg, validator, self.run.path, title)
        write_learning_curve(self.run, trained, metrics, title)
        return metrics

    def log_artifacts(self, tracker: Tracker) -> None:
        best_path = self.run.best_model_path
        log_run_artifacts(tracker, self.run, best_path)
        if scaling_path(best_path).is_file():
            tracker.log_artifact("best_model_obs_scaling", "model", [scaling_path(best_path)])
