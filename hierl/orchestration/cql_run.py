"""`agent=cql`: collect an offline dataset, pretrain CQL on it, select on validation, test once, write the run.

The run folder has the same evaluation files as a PPO run (metrics.json, backtests, baselines, plots, safety
report), so CQL runs compare with PPO runs, plus the CQL policy files and the offline dataset.
"""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
from d3rlpy.algos import CQL

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
from hierl.agents.training import VALIDATION_METRIC
from hierl.config.cql import CQLConfig
from hierl.config.run import CQLRunConfig, TrainConfig
from hierl.config.stages import cql_run
from hierl.data.market import MarketData
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.orchestration.asset_run import load_run_market
from hierl.orchestration.policy_evaluation import (
    check_safety_split,
    evaluate_gated,
    policy_backtest,
    write_data_fingerprint,
)
from hierl.run.folder import RunFolder
from hierl.run.lifecycle import RunOutcome, TrainedPolicy, log_run_artifacts, run_stage
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator
from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import (
    Tracker,
    check_logger,
    tracked_run,
)

log = get_logger("cql")


def check_cql_run(config: TrainConfig) -> CQLConfig:
    """Every config mistake this stage can see, raised before data is loaded."""
    cfg = cql_run(config)
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
    """The whole CQL pretraining run (see `hierl.run.lifecycle.run_stage`)."""
    return run_stage(CQLStage(cql_run(cfg), RunFolder(run_dir)))


@dataclass(frozen=True)
class CQLData:
    """The class's market, the optional PPO behaviour policy, and the thread choice for the CQL networks."""

    market: MarketData
    ppo: PredictorPolicy | None
    threads: ThreadChoice


def collect_dataset(
    cfg: CQLRunConfig, agent: CQLConfig, market: MarketData, ppo: PredictorPolicy | None
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


@dataclass
class CQLStage:
    """The CQL steps of the run lifecycle: collect an offline dataset, train d3rlpy's CQL, validate every epoch,
    keep the best weights. A CQL run has no checkpoint to resume."""

    cfg: CQLRunConfig
    run: RunFolder

    @property
    def agent(self) -> CQLConfig:
        return self.cfg.agent

    def check(self) -> None:
        check_cql_run(self.cfg)

    def find_checkpoint(self) -> Checkpoint | None:
        return None

    def seed(self) -> None:
        d3rlpy.seed(self.cfg.seed)

    def load_data(self) -> CQLData:
        cfg, agent = self.cfg, self.agent
        market = load_run_market(cfg)
        observation_shape = (cfg.env.window * market.n_features + len(CONTEXT_NAMES),)
        threads = use_cql_threads(cfg, agent, observation_shape[0])
        ppo: PredictorPolicy | None = None
        if agent.behaviour_ppo_run is not None:
            ppo = load_ppo_behaviour(Path(agent.behaviour_ppo_run), observation_shape)
        return CQLData(market, ppo, threads)

    def record_data(self, data: CQLData) -> None:
        write_data_fingerprint(self.run.path, data.market)

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], data: CQLData) -> None:
        raise AssertionError("a CQL run has no checkpoint to resume")

    def tracked(self) -> AbstractContextManager[Tracker]:
        return tracked_run(self.cfg, self.run.path)

    def train(
        self, data: CQLData, track: Tracker, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        """Collect the dataset, train CQL, validate each epoch and keep the best weights (`cql_weights.pt`)."""
        cfg, agent, run_dir, market = self.cfg, self.agent, self.run.path, data.market
        env_cfg = cfg.env
        started = time.perf_counter()
        dataset = collect_dataset(cfg, agent, market, data.ppo)
        write_offline_dataset(dataset, market, run_dir)
        mdp = dataset.to_mdp_dataset()
        algo = build_cql(agent, mdp)
        policy = CQLPolicy(algo, tuple(dataset.observations.shape[1:]))
        history: list[dict[str, float]] = []
        best: dict[str, Any] = {"score": -math.inf, "step": None}

        def on_epoch(step: int, losses: dict[str, float]) -> None:
            scores = policy_backtest(policy.predict, market, "val", env_cfg, cfg.reward).metrics()
            score = scores[VALIDATION_METRIC]
            history.append({"step": float(step), **{f"loss/{k}": v for k, v in losses.items()}, **scores})
            track.log(
                {**{f"train/{k}": v for k, v in losses.items()}, **{f"val/{k}": v for k, v in scores.items()}}, step
            )
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
        metrics = {
            "train/gradient_steps": float(agent.n_steps),
            "train/seconds": train_seconds,
            "train/best_step": float(best["step"]),
            "train/torch_threads": float(data.threads.threads),
            "dataset/transitions": float(len(dataset)),
            "dataset/episodes": float(dataset.n_episodes),
            **{f"dataset/share/{name}": share for name, share in dataset.policy_shares().items()},
        }
        return TrainedPolicy(_TrainedCQL(algo, policy, best["step"]), history, metrics)

    def select_and_test(
        self, data: CQLData, trained: TrainedPolicy, validator: SafetyValidator, tracker: Tracker
    ) -> dict[str, float]:
        """The best-validation weights, saved as the run's CQL policy, gated and tested."""
        cfg, agent, run_dir, market = self.cfg, self.agent, self.run.path, data.market
        cql = trained.model
        assert isinstance(cql, _TrainedCQL)
        load_weights(cql.algo, run_dir / CQL_WEIGHTS_FILE)
        save_cql_run(
            cql.algo,
            agent,
            run_dir,
            {
                "asset_class": market.asset_class,
                "window": cfg.env.window,
                "max_leverage": cfg.env.max_leverage,
                "feature_names": list(market.feature_names),
                "data_fingerprint": market.fingerprint,
                "selected_step": cql.selected_step,
                "selected_by": f"val/{VALIDATION_METRIC}",
            },
        )
        title = f"{cfg.asset.name} / {agent.name} / seed {cfg.seed}"
        return evaluate_gated(cql.policy.predict, market, cfg, validator, run_dir, title)

    def log_artifacts(self, tracker: Tracker) -> None:
        log_run_artifacts(tracker, self.run, self.run.path / CQL_WEIGHTS_FILE)


@dataclass(frozen=True)
class _TrainedCQL:
    algo: CQL
    policy: CQLPolicy
    selected_step: int
