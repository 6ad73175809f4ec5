"""`agent=cql`: collect an offline dataset, pretrain CQL on it, select on validation, test once, write the run.

The run folder has the same evaluation files as a PPO run (metrics.json, backtests, baselines, plots, safety
report), so CQL runs compare with PPO runs, plus the CQL policy files and the offline dataset.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import d3rlpy

from hierl.agents.behaviour_policies import PredictorPolicy, check_mix, load_ppo_behaviour, make_behaviour_policies
from hierl.agents.cql import (
    CHECKPOINT_DIR,
    CQL_WEIGHTS_FILE,
    CQLPolicy,
    build_cql,
    check_cql_config,
    load_weights,
    save_cql_run,
    save_weights,
    train_cql,
)
from hierl.agents.offline_dataset import (
    DATASET_SPLIT,
    OfflineDataset,
    OfflineDatasetSpec,
    build_offline_dataset,
    write_offline_dataset,
)
from hierl.config.cql import CQLConfig
from hierl.config.env import EnvConfig
from hierl.config.run import TrainConfig
from hierl.data.market import MarketData
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.errors import ConfigError
from hierl.orchestration.asset_run import RunOutcome, load_run_market
from hierl.orchestration.policy_evaluation import (
    check_safety_split,
    evaluate_gated,
    policy_backtest,
    write_data_fingerprint,
)
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator
from hierl.tracking.files import write_json
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import (
    Tracker,
    check_logger,
    log_run_artifacts,
    tracked_run,
)

log = get_logger("cql")

VALIDATION_METRIC = "sharpe"
VALIDATION_HISTORY_FILE = "validation_history.json"


def check_cql_run(cfg: TrainConfig) -> CQLConfig:
    """Every config mistake this stage can see, raised before data is loaded."""
    if not isinstance(cfg.agent, CQLConfig):
        raise ConfigError(f"pretrain_cql needs agent=cql, got agent={cfg.agent.name}")
    if not isinstance(cfg.env, EnvConfig):
        raise ConfigError(f"agent=cql pretrains single-asset policies in env=trading, not env={cfg.env.name}")
    check_safety_split(cfg.safety.split)
    check_cql_config(cfg.agent)
    check_mix(cfg.agent.behaviour_mix, cfg.agent.behaviour_ppo_run)
    check_logger(cfg.logger)
    parse_torch_threads(cfg.runtime.torch_threads)
    return cfg.agent


def use_cql_threads(cfg: TrainConfig, agent: CQLConfig, n_observations: int) -> ThreadChoice:
    """The thread policy for d3rlpy's CQL: a Gaussian actor and `n_critics` Q-functions of `agent.net_arch`."""
    actor = mlp_parameters(n_observations, agent.net_arch, 2)
    critics = agent.n_critics * mlp_parameters(n_observations + 1, agent.net_arch, 1)
    return apply_thread_policy(cfg.runtime.torch_threads, actor + critics)


def pretrain_cql(cfg: TrainConfig, run_dir: Path) -> RunOutcome:
    """The whole CQL pretraining run; every file of the run-folder contract is written here."""
    agent = check_cql_run(cfg)
    d3rlpy.seed(cfg.seed)
    validator = SafetyValidator.from_config(cfg.safety)
    market = load_run_market(cfg)
    observation_shape = (cfg.env.window * market.n_features + len(CONTEXT_NAMES),)
    threads = use_cql_threads(cfg, agent, observation_shape[0])
    ppo: PredictorPolicy | None = None
    if agent.behaviour_ppo_run is not None:
        ppo = load_ppo_behaviour(Path(agent.behaviour_ppo_run), observation_shape)
    write_data_fingerprint(run_dir, market)
    with tracked_run(cfg, run_dir) as tracker:
        return _pretrain_and_evaluate(cfg, agent, run_dir, market, ppo, tracker, validator, threads)


def collect_dataset(
    cfg: TrainConfig, agent: CQLConfig, market: MarketData, ppo: PredictorPolicy | None
) -> OfflineDataset:
    """The offline dataset of the run's training block, logged with its actual policy shares."""
    shares = check_mix(agent.behaviour_mix, agent.behaviour_ppo_run)
    spec = OfflineDatasetSpec(agent.total_timesteps, shares, agent.behaviour_noise, cfg.seed)
    policies = make_behaviour_policies(shares, agent.momentum_lookback, agent.reversion_lookback, ppo)
    dataset = build_offline_dataset(market, cfg.env, cfg.reward, spec, policies)
    log.info(
        "offline dataset: %d transitions in %d episodes of the %s block (%s)",
        len(dataset),
        dataset.n_episodes,
        DATASET_SPLIT,
        ", ".join(f"{name} {share:.0%}" for name, share in dataset.policy_shares().items()),
    )
    return dataset


def _pretrain_and_evaluate(
    cfg: TrainConfig,
    agent: CQLConfig,
    run_dir: Path,
    market: MarketData,
    ppo: PredictorPolicy | None,
    track: Tracker,
    validator: SafetyValidator,
    threads: ThreadChoice,
) -> RunOutcome:
    started = time.perf_counter()
    dataset = collect_dataset(cfg, agent, market, ppo)
    write_offline_dataset(dataset, market, run_dir)
    mdp = dataset.to_mdp_dataset()
    algo = build_cql(agent, mdp)
    policy = CQLPolicy(algo, tuple(dataset.observations.shape[1:]))
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"score": -math.inf, "step": None}

    def on_epoch(step: int, losses: dict[str, float]) -> None:
        scores = policy_backtest(policy.predict, market, "val", cfg.env, cfg.reward).metrics()
        score = scores[VALIDATION_METRIC]
        history.append({"step": float(step), **{f"loss/{k}": v for k, v in losses.items()}, **scores})
        track.log({**{f"train/{k}": v for k, v in losses.items()}, **{f"val/{k}": v for k, v in scores.items()}}, step)
        if best["step"] is None or score > best["score"]:
            best.update(score=score, step=step)
            save_weights(algo, run_dir / CQL_WEIGHTS_FILE)
        log.info(
            "step %d/%d: critic_loss=%.4g actor_loss=%.4g, validation %s=%.3f (best %.3f at %d)",
            step,
            agent.n_steps,
            losses.get("critic_loss", math.nan),
            losses.get("actor_loss", math.nan),
            VALIDATION_METRIC,
            score,
            best["score"],
            best["step"],
        )

    def on_checkpoint(step: int) -> None:
        save_weights(algo, run_dir / CHECKPOINT_DIR / f"cql_{step}.pt")

    train_cql(algo, mdp, agent, on_epoch, on_checkpoint)
    train_seconds = time.perf_counter() - started
    load_weights(algo, run_dir / CQL_WEIGHTS_FILE)
    save_cql_run(
        algo,
        agent,
        run_dir,
        {
            "asset_class": market.asset_class,
            "window": cfg.env.window,
            "max_leverage": cfg.env.max_leverage,
            "feature_names": list(market.feature_names),
            "data_fingerprint": market.fingerprint,
            "selected_step": best["step"],
            "selected_by": f"val/{VALIDATION_METRIC}",
        },
    )

    title = f"{cfg.asset.name} / {agent.name} / seed {cfg.seed}"
    metrics = evaluate_gated(policy.predict, market, cfg, validator, run_dir, title)
    metrics.update(
        {
            "train/gradient_steps": float(agent.n_steps),
            "train/seconds": train_seconds,
            "train/best_step": float(best["step"]),
            "train/torch_threads": float(threads.threads),
            "dataset/transitions": float(len(dataset)),
            "dataset/episodes": float(dataset.n_episodes),
            **{f"dataset/share/{name}": share for name, share in dataset.policy_shares().items()},
        }
    )
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / VALIDATION_HISTORY_FILE, history)
    track.summary(metrics)
    log_run_artifacts(track, run_dir, run_dir / CQL_WEIGHTS_FILE)
    return RunOutcome(run_dir, metrics)
