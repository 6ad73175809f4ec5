"""One asset class, one PPO agent: train on the training block, select on validation, test once, write the run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.utils import set_random_seed

import hierl
from hierl.agents.callbacks import (
    MetricsCallback,
    RolloutCheckpointCallback,
    StopOnSignalCallback,
    TrainingInterrupted,
    ValidationCallback,
    current_trial_reporter,
    restore_training_state,
)
from hierl.agents.observation_scaling import model_scaling, read_scaling, save_model, scaling_path
from hierl.agents.ppo import PPOAgentFactory
from hierl.agents.progress import TrainingProgress
from hierl.agents.rollout import predictor
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig
from hierl.config.loading import flat_config
from hierl.config.run import TrainConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.errors import ConfigError, UserError
from hierl.orchestration.policy_evaluation import (
    check_safety_split,
    evaluate_gated,
    policy_backtest,
    write_data_fingerprint,
)
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator
from hierl.tracking.checkpoints import CHECKPOINT_DIR, Checkpoint, latest_checkpoint
from hierl.tracking.files import write_json
from hierl.tracking.heartbeat import heartbeat
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import (
    TENSORBOARD_DIR,
    Tracker,
    check_logger,
    log_run_artifacts,
    sb3_output_formats,
    tracked_run,
)

log = get_logger("train")

MODEL_FILE = "model.zip"
BEST_MODEL_FILE = "best_model.zip"
VALIDATION_METRIC = "sharpe"
# Keys a resumed run may change: the budget and how often it checkpoints; any other change would mean the
# resumed run is no longer a continuation of the first one.
RESUMABLE_CHANGES = frozenset({"agent.total_timesteps", "agent.checkpoint_freq", "agent.keep_checkpoints"})
RESUME_SECTIONS = ("agent", "env", "reward", "asset", "seed")


@dataclass(frozen=True)
class RunOutcome:
    """What the entrypoint prints and returns to a sweeper."""

    run_dir: Path
    metrics: dict[str, float]


def load_run_market(cfg: TrainConfig, normalisation: dict[str, dict[str, float | bool]] | None = None) -> MarketData:
    """The asset class's arrays, built (or read from the cache) once per run; `normalisation` reuses a run's
    feature scaling instead of fitting it on this data's training block."""
    with heartbeat(f"loading the {cfg.asset.name} data (a first build of its Gold features takes a while)"):
        return load_market_data(
            cfg.data, cfg.asset.name, cfg.env.window, Path(cfg.paths.cache_dir), cfg.asset.symbols, normalisation
        )


def ppo_parameters(agent: PPOConfig, n_observations: int) -> int:
    """Weights of the PPO policy: an actor and a critic MLP of `agent.net_arch` each (SB3's MlpPolicy)."""
    return mlp_parameters(n_observations, agent.net_arch, 1) + mlp_parameters(n_observations, agent.net_arch, 1)


def use_ppo_threads(cfg: TrainConfig, market: MarketData) -> ThreadChoice:
    """The thread policy for this run's PPO network (`runtime.torch_threads`)."""
    assert isinstance(cfg.agent, PPOConfig)
    n_observations = cfg.env.window * market.n_features + len(CONTEXT_NAMES)
    return apply_thread_policy(cfg.runtime.torch_threads, ppo_parameters(cfg.agent, n_observations))


def check_trainable(cfg: TrainConfig) -> PPOConfig:
    """Every config mistake this stage can see, raised before data is loaded or a model is built."""
    if not isinstance(cfg.agent, PPOConfig):
        raise ConfigError(f"agent={cfg.agent.name} is not trainable by `hierl.train` yet; use agent=ppo")
    if not isinstance(cfg.env, EnvConfig):
        raise ConfigError(f"agent=ppo trains single assets in env=trading, not env={cfg.env.name}")
    check_safety_split(cfg.safety.split)
    PPOAgentFactory(cfg.agent).validate()
    check_logger(cfg.logger)
    parse_torch_threads(cfg.runtime.torch_threads)
    if cfg.agent.init_from:
        # d3rlpy (several seconds to import) is loaded only by runs that warm-start from CQL.
        from hierl.agents.warm_start import check_cql_folder

        check_cql_folder(cfg.agent.init_from)
    return cfg.agent


def resume_identity(cfg: TrainConfig) -> dict[str, Any]:
    """The config keys a checkpoint must share with the run that resumes it."""
    return {
        key: value
        for key, value in flat_config(cfg).items()
        if key.split(".")[0] in RESUME_SECTIONS and key not in RESUMABLE_CHANGES
    }


def find_resume_checkpoint(run_dir: Path) -> Checkpoint:
    """The newest checkpoint of the run folder `resume=true` continues."""
    checkpoint = latest_checkpoint(run_dir / CHECKPOINT_DIR)
    if checkpoint is None:
        raise UserError(
            f"resume=true but {run_dir / CHECKPOINT_DIR} holds no complete checkpoint; set "
            "hydra.run.dir=<the folder of the run to continue>, or drop resume=true to start afresh"
        )
    return checkpoint


def resume_state(cfg: TrainConfig, **data_identity: Any) -> dict[str, Any]:
    """What a checkpoint records so a resume can refuse another run's state: config, hierl version, data."""
    return {"config": resume_identity(cfg), "hierl_version": hierl.__version__, **data_identity}


def check_hierl_version(checkpoint: Checkpoint, state: dict[str, Any]) -> None:
    """A checkpoint resumes only under the hierl version that wrote it."""
    written_by = state.get("hierl_version", "unknown")
    if written_by != hierl.__version__:
        raise UserError(
            f"the checkpoint {checkpoint.path} was written by hierl {written_by}, this is hierl {hierl.__version__}; "
            "resume it with the version that wrote it, or start a new run folder"
        )


def check_same_config(checkpoint: Checkpoint, state: dict[str, Any], cfg: TrainConfig) -> None:
    """A checkpoint resumes only the config that wrote it, but for the budget keys of RESUMABLE_CHANGES."""
    saved, now = state["config"], resume_identity(cfg)
    changed = sorted(key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key))
    if changed:
        detail = ", ".join(f"{key}: {saved.get(key)!r} -> {now.get(key)!r}" for key in changed)
        raise UserError(
            f"resume=true with a config that differs from the checkpoint's ({detail}); only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change when resuming"
        )


def check_checkpoint(checkpoint: Checkpoint, state: dict[str, Any], cfg: TrainConfig, market: MarketData) -> None:
    """A checkpoint resumes only the run that wrote it: same hierl, config, observation shape and data."""
    check_hierl_version(checkpoint, state)
    expected = (cfg.env.window * market.n_features + len(CONTEXT_NAMES),)
    if tuple(state["observation_shape"]) != expected:
        raise UserError(
            f"the checkpoint {checkpoint.path} expects observations of shape {tuple(state['observation_shape'])} "
            f"but this data and env config give {expected}; resume with the features and env.window it was "
            "trained with, or start a new run folder"
        )
    if state["market_fingerprint"] != market.fingerprint:
        raise UserError(
            f"the checkpoint {checkpoint.path} was trained on other data (fingerprint {state['market_fingerprint']}"
            f", now {market.fingerprint}); resume with the data.* settings it was trained with"
        )
    check_same_config(checkpoint, state, cfg)


def sb3_logger(cfg: TrainConfig, run_dir: Path, resumed_at: int | None) -> Logger:
    """SB3's logger with the outputs the `logger` option asks for; a resumed run appends a new CSV file."""
    outputs = []
    for kind in sb3_output_formats(cfg.logger):
        folder = run_dir / TENSORBOARD_DIR if kind == "tensorboard" else run_dir
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f"_resumed_{resumed_at}" if resumed_at is not None else ""
        outputs.append(make_output_format(kind, str(folder), log_suffix=suffix))
    return Logger(folder=str(run_dir), output_formats=outputs)


def train_asset_agent(cfg: TrainConfig, run_dir: Path, market: MarketData | None = None) -> RunOutcome:
    """The whole single-asset-class experiment; every file of the run-folder contract is written here.

    `market` is this config's `load_run_market(cfg)` when the caller already holds it (the PPO stage loads it
    once for training and signals); by default it is loaded here, after the config checks.
    """
    check_trainable(cfg)
    checkpoint = find_resume_checkpoint(run_dir) if cfg.resume else None
    set_random_seed(cfg.seed)
    validator = SafetyValidator.from_config(cfg.safety)
    if market is None:
        market = load_run_market(cfg)
    write_data_fingerprint(run_dir, market)
    train_dates = market.dates[market.block("train")]
    log.info(
        "%s: %d symbols, %d features, train %s..%s",
        market.asset_class,
        market.n_assets,
        market.n_features,
        train_dates[0],
        train_dates[-1],
    )
    state = checkpoint.state() if checkpoint else None
    if checkpoint and state is not None:
        check_checkpoint(checkpoint, state, cfg, market)

    with tracked_run(cfg, run_dir) as tracker:
        return _train_and_evaluate(cfg, run_dir, market, tracker, validator, checkpoint, state)


@dataclass
class Training:
    """A trained model (PPO here, SAC in the hierarchy), its validation record, the seconds it took, and the
    torch threads it trained with."""

    model: BaseAlgorithm
    validation: ValidationCallback
    seconds: float
    threads: ThreadChoice


def learn_to_budget(
    model: BaseAlgorithm,
    total_timesteps: int,
    callbacks: list[BaseCallback],
    interrupt: StopOnSignalCallback,
    resumed: bool,
    progress: bool,
) -> None:
    """Train up to `total_timesteps` in all, counting the steps a resumed model already has.

    `interrupt` (one of `callbacks`) installed signal handlers; they are restored however training ends.
    `progress` draws a bar in a terminal; elsewhere training logs a heartbeat line (see `TrainingProgress`).
    """
    remaining = total_timesteps - model.num_timesteps
    if remaining <= 0:
        return
    try:
        model.learn(
            total_timesteps=remaining,
            callback=CallbackList([*callbacks, TrainingProgress(show_bar=progress)]),
            reset_num_timesteps=not resumed,
        )
    finally:
        interrupt.restore_handlers()


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    market: MarketData,
    track: Tracker,
    checkpoint: Checkpoint | None,
    state: dict[str, Any] | None,
) -> Training:
    agent_cfg = cfg.agent
    assert isinstance(agent_cfg, PPOConfig)
    threads = use_ppo_threads(cfg, market)
    vec_env = PPOAgentFactory(agent_cfg).training_env(market, cfg.env, cfg.reward, cfg.seed)
    if checkpoint is not None:
        model = PPO.load(checkpoint.model_path, env=vec_env, device="cpu")
        log.info("resuming from %s at %d steps", checkpoint.path, model.num_timesteps)
    else:
        model = PPOAgentFactory(agent_cfg).build(vec_env, cfg.seed)
        if agent_cfg.init_from:
            # A fresh run starts from the CQL policy; a resumed one already carries those weights.
            from hierl.agents.warm_start import INIT_FILE, cloning_observations, warm_start_ppo

            cql_run = Path(agent_cfg.init_from)
            observations = cloning_observations(cql_run, market, cfg.env, cfg.reward)
            record = warm_start_ppo(model, cql_run, observations, seed=cfg.seed)
            write_json(run_dir / INIT_FILE, record)
            log.info("warm-started from %s (action correlation %.3f)", cql_run, record["action_correlation"])
    model.set_logger(sb3_logger(cfg, run_dir, checkpoint.timesteps if checkpoint else None))

    def validation_scores(current: BaseAlgorithm) -> dict[str, float]:
        # Scored with the observation statistics of this moment, the ones saved beside the model if it is best.
        backtest = policy_backtest(predictor(current, model_scaling(current)), market, "val", cfg.env, cfg.reward)
        scores = backtest.metrics()
        track.log({f"val/{k}": v for k, v in scores.items()}, step=current.num_timesteps)
        return scores

    validation = ValidationCallback(
        validation_scores,
        VALIDATION_METRIC,
        agent_cfg.eval_freq,
        run_dir / BEST_MODEL_FILE,
        patience=agent_cfg.early_stopping_patience,
        reporter=current_trial_reporter(),
        evaluate_at_end=False,
    )
    stateful = {"validation": validation}
    checkpoints = RolloutCheckpointCallback(
        run_dir / CHECKPOINT_DIR,
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
    return Training(model, validation, time.perf_counter() - started, threads)


def _train_and_evaluate(
    cfg: TrainConfig,
    run_dir: Path,
    market: MarketData,
    track: Tracker,
    validator: SafetyValidator,
    checkpoint: Checkpoint | None,
    state: dict[str, Any] | None,
) -> RunOutcome:
    training = _train(cfg, run_dir, market, track, checkpoint, state)
    save_model(training.model, run_dir / MODEL_FILE)

    best_path = run_dir / BEST_MODEL_FILE
    best = predictor(PPO.load(best_path, device="cpu"), read_scaling(best_path))
    title = f"{cfg.asset.name} / {cfg.agent.name} / seed {cfg.seed}"
    metrics = evaluate_gated(best, market, cfg, validator, run_dir, title)
    metrics.update(
        {
            "train/timesteps": float(training.model.num_timesteps),
            "train/seconds": training.seconds,
            "train/best_timestep": float(training.validation.best_timestep),
            "train/torch_threads": float(training.threads.threads),
        }
    )
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "validation_history.json", training.validation.history)
    track.summary(metrics)
    log_run_artifacts(track, run_dir, best_path)
    if scaling_path(best_path).is_file():
        track.log_artifact("best_model_obs_scaling", "model", [scaling_path(best_path)])
    return RunOutcome(run_dir, metrics)
