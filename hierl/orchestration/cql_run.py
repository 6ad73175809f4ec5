"""`agent=cql`: collect an offline dataset, pretrain CQL on it, select on validation, test once, write the run.

Two kinds of run, chosen by `env`:

- `env=trading` (`CQLStage`): TradingEnv episodes of one asset class under trading rules; the run folder has the
  same evaluation files as a PPO run (metrics.json, backtests, baselines, plots, safety report), so it compares
  with PPO runs, and it warm-starts PPO.
- `env=portfolio` (`PortfolioCQLStage`): PortfolioEnv episodes over the PPO sleeves' signals under allocation
  policies; the sleeves are trained here exactly as `experiment=hierarchy` trains them (same classes, budgets and
  seed, in `<run>/sleeves/`), the run folder has the same evaluation files as a SAC meta-controller run, and it
  warm-starts the meta-controller (`experiment=hierarchy agent.init_from=<run>`).

Both add the CQL policy files and the offline dataset.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
from d3rlpy.algos import CQL

from hierl.agents.behaviour_policies import (
    PredictorPolicy,
    check_allocation_mix,
    check_mix,
    load_ppo_behaviour,
    make_allocation_policies,
    make_behaviour_policies,
)
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
    PortfolioOfflineDataset,
    Transitions,
    build_offline_dataset,
    build_portfolio_dataset,
    write_dataset_files,
    write_offline_dataset,
)
from hierl.agents.rollout import Predict
from hierl.agents.training import VALIDATION_METRIC
from hierl.agents.trial_reporting import job_trial_reporter, report_score
from hierl.agents.warm_start import sleeve_identity
from hierl.config.cql import CQLConfig
from hierl.config.run import CQLRunConfig, RunSettings, SACRunConfig, TrainConfig
from hierl.config.sac import SACConfig
from hierl.config.stages import CQLPortfolioRunConfig, cql_portfolio_run, cql_trading_run, is_cql_portfolio_run
from hierl.data.market import MarketData
from hierl.envs.episodes import CONTEXT_NAMES
from hierl.envs.portfolio_env import PortfolioEnv, allocation_limits, validate_portfolio_config
from hierl.envs.sleeves import SleeveUniverse
from hierl.orchestration.asset_run import load_run_market
from hierl.orchestration.hierarchy_run import (
    HierarchyEvaluation,
    evaluate_hierarchy,
    load_universe,
    rollout_sleeve_weights,
    sleeve_backtests,
    write_fingerprint,
    write_hierarchy_evaluation,
)
from hierl.orchestration.policy_evaluation import (
    AGENT,
    check_safety_split,
    evaluate_gated,
    evaluated_splits,
    policy_backtest,
    write_data_fingerprint,
)
from hierl.run.folder import RunFolder
from hierl.run.lifecycle import RunOutcome, TrainedPolicy, log_run_artifacts, run_stage
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator, apply_safety_gate
from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import (
    Tracker,
    check_logger,
    tracked_run,
)

log = get_logger("cql")


def check_cql_run(config: TrainConfig) -> CQLConfig:
    """Every config mistake the TradingEnv stage can see, raised before data is loaded."""
    cfg = cql_trading_run(config)
    check_safety_split(cfg.safety.split)
    check_cql_config(cfg.agent)
    check_mix(cfg.agent.behaviour_mix, cfg.agent.behaviour_ppo_run)
    check_logger(cfg.logger)
    parse_torch_threads(cfg.runtime.torch_threads)
    return cfg.agent


def check_portfolio_cql_run(config: TrainConfig) -> CQLConfig:
    """Every config mistake the PortfolioEnv stage can see, raised before any sleeve is trained."""
    cfg = cql_portfolio_run(config)
    check_safety_split(cfg.safety.split)
    check_cql_config(cfg.agent)
    check_allocation_mix(cfg.agent.behaviour_mix, cfg.agent.behaviour_ppo_run)
    validate_portfolio_config(cfg.env)
    check_logger(cfg.logger)
    parse_torch_threads(cfg.runtime.torch_threads)
    return cfg.agent


def use_cql_threads(cfg: TrainConfig, agent: CQLConfig, n_observations: int, n_actions: int = 1) -> ThreadChoice:
    """The thread policy for d3rlpy's CQL: a Gaussian actor and `n_critics` Q-functions of `agent.net_arch`."""
    actor = mlp_parameters(n_observations, agent.net_arch, 2 * n_actions)
    critics = agent.n_critics * mlp_parameters(n_observations + n_actions, agent.net_arch, 1)
    return apply_thread_policy(cfg.runtime.torch_threads, actor + critics)


def pretrain_cql(cfg: TrainConfig, run_dir: Path) -> RunOutcome:
    """The whole CQL pretraining run (see `hierl.run.lifecycle.run_stage`): on TradingEnv for `env=trading`, on the
    meta-controller's PortfolioEnv for `env=portfolio`; any other pairing is one ConfigError."""
    if is_cql_portfolio_run(cfg):
        return run_stage(PortfolioCQLStage(cfg, RunFolder(run_dir)))
    return run_stage(CQLStage(cql_trading_run(cfg), RunFolder(run_dir)))


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

        def validate(policy: CQLPolicy) -> dict[str, float]:
            return policy_backtest(policy.predict, market, "val", env_cfg, cfg.reward).metrics()

        return fit_cql(agent, dataset, validate, run_dir, track, data.threads, started)

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


def fit_cql(
    agent: CQLConfig,
    dataset: Transitions,
    validate: Callable[[CQLPolicy], dict[str, float]],
    run_dir: Path,
    track: Tracker,
    threads: ThreadChoice,
    started: float,
) -> TrainedPolicy:
    """Train CQL on `dataset`, score the policy on the validation block (`validate`: its backtest's metrics) every
    `agent.eval_freq` gradient steps and keep the best-scoring weights (`cql_weights.pt`); one loop for both
    envs."""
    mdp = dataset.to_mdp_dataset()
    algo = build_cql(agent, mdp)
    policy = CQLPolicy(algo, tuple(dataset.observations.shape[1:]))
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"score": -math.inf, "step": None}
    # In a sweep, each validation score is the trial's intermediate value (steps are gradient steps), so a pruner
    # can stop a CQL trial as it stops PPO and SAC trials.
    reporter = job_trial_reporter(run_dir)

    def on_epoch(step: int, losses: dict[str, float]) -> None:
        scores = validate(policy)
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
        report_score(reporter, score, step)

    def on_checkpoint(step: int) -> None:
        save_weights(algo, run_dir / CHECKPOINT_DIR / f"cql_{step}.pt")

    train_cql(algo, mdp, agent, on_epoch, on_checkpoint)
    train_seconds = time.perf_counter() - started
    metrics = {
        "train/gradient_steps": float(agent.n_steps),
        "train/seconds": train_seconds,
        "train/best_step": float(best["step"]),
        "train/torch_threads": float(threads.threads),
        "dataset/transitions": float(len(dataset)),
        "dataset/episodes": float(dataset.n_episodes),
        **{f"dataset/share/{name}": share for name, share in dataset.policy_shares().items()},
    }
    return TrainedPolicy(_TrainedCQL(algo, policy, best["step"]), history, metrics)


# --- env=portfolio: CQL for the SAC meta-controller. ---


def sleeves_config(cfg: CQLPortfolioRunConfig) -> SACRunConfig:
    """The meta-controller's config with this run's settings and portfolio env, for `load_universe`: it reads the
    sleeves' classes, data, seed, debug preset and execution from the run settings, `env.window` from the env, and
    `agent.signals_path` (null here: the sleeves are trained in this run, as `experiment=hierarchy` trains them)."""
    settings = {field.name: getattr(cfg, field.name) for field in dataclasses.fields(RunSettings)}
    return TrainConfig(agent=SACConfig(), env=cfg.env, **settings)


@dataclass(frozen=True)
class PortfolioCQLData:
    """The sleeves (aligned universe and each class's market) and the thread choice for the CQL networks."""

    universe: SleeveUniverse
    markets: dict[str, MarketData]
    threads: ThreadChoice


def collect_portfolio_dataset(cfg: CQLPortfolioRunConfig, universe: SleeveUniverse) -> PortfolioOfflineDataset:
    """The PortfolioEnv offline dataset of the training block, logged with its actual policy shares."""
    agent = cfg.agent
    shares = check_allocation_mix(agent.behaviour_mix, agent.behaviour_ppo_run)
    spec = OfflineDatasetSpec(agent.total_timesteps, shares, agent.behaviour_noise, cfg.seed)
    limits = allocation_limits(cfg.env, universe.n_sleeves)
    policies = make_allocation_policies(shares, universe, limits, DATASET_SPLIT)
    dataset = build_portfolio_dataset(universe, cfg.env, cfg.reward, spec, policies)
    log.info(
        "offline dataset: %d PortfolioEnv transitions in %d episodes of the %s block (%s)",
        len(dataset),
        dataset.n_episodes,
        DATASET_SPLIT,
        ", ".join(f"{name} {share:.0%}" for name, share in dataset.policy_shares().items()),
    )
    return dataset


def evaluate_meta_policy(
    predict: Predict,
    universe: SleeveUniverse,
    cfg: CQLPortfolioRunConfig,
    validator: SafetyValidator,
    run_dir: Path,
) -> list[HierarchyEvaluation]:
    """The policy as a meta-controller on every evaluated split (`evaluated_splits`; `evaluate_hierarchy`: its
    sleeve weights against the allocators), its asset-level positions gated on `safety.split` before any later
    split is evaluated, as the SAC stage does."""
    sleeves = zip(universe.symbols, universe.sleeve_of_asset, strict=True)
    classes = {symbol: universe.classes[c] for symbol, c in sleeves}
    evaluations = []
    for split in evaluated_splits(cfg, run_dir):
        evaluation = evaluate_hierarchy(predict, universe, split, cfg.env, cfg.reward)
        if split == cfg.safety.split:
            apply_safety_gate(validator, evaluation.asset_level, classes, run_dir)
        evaluations.append(evaluation)
    return evaluations


@dataclass
class PortfolioCQLStage:
    """CQL on the meta-controller's PortfolioEnv: train the PPO sleeves (as `experiment=hierarchy` does), collect
    allocation-policy episodes on the training block, train d3rlpy's CQL, keep the best-validation weights, and
    evaluate the policy as a meta-controller. A CQL run has no checkpoint to resume."""

    cfg: CQLPortfolioRunConfig
    run: RunFolder

    @property
    def agent(self) -> CQLConfig:
        return self.cfg.agent

    def check(self) -> None:
        check_portfolio_cql_run(self.cfg)

    def find_checkpoint(self) -> Checkpoint | None:
        return None

    def seed(self) -> None:
        d3rlpy.seed(self.cfg.seed)

    def load_data(self) -> PortfolioCQLData:
        cfg = self.cfg
        universe, markets = load_universe(sleeves_config(cfg), self.run.path)
        allocation_limits(cfg.env, universe.n_sleeves)  # impossible limits fail before any episode is played
        shape = PortfolioEnv(universe, DATASET_SPLIT, cfg.env, cfg.reward).observation_space.shape
        assert shape is not None
        threads = use_cql_threads(cfg, self.agent, shape[0], universe.n_sleeves + 1)
        return PortfolioCQLData(universe, markets, threads)

    def record_data(self, data: PortfolioCQLData) -> None:
        write_fingerprint(self.run, data.universe, data.markets)
        log.info("sleeves %s on %d aligned days", ", ".join(data.universe.classes), len(data.universe.dates))

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], data: PortfolioCQLData) -> None:
        raise AssertionError("a CQL run has no checkpoint to resume")

    def tracked(self) -> AbstractContextManager[Tracker]:
        return tracked_run(self.cfg, self.run.path, scope="hierarchy")

    def train(
        self, data: PortfolioCQLData, track: Tracker, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        """Collect the dataset, train CQL, validate each epoch like the meta-controller (the sleeve-level backtest
        of its deterministic weights on the validation block) and keep the best weights."""
        cfg, universe = self.cfg, data.universe
        started = time.perf_counter()
        dataset = collect_portfolio_dataset(cfg, universe)
        write_dataset_files(dataset, dataset.to_frame(universe), self.run.path)

        def validate(policy: CQLPolicy) -> dict[str, float]:
            weights = rollout_sleeve_weights(policy.predict, universe, "val", cfg.env, cfg.reward)
            return sleeve_backtests(universe, "val", AGENT, weights)[0].metrics()

        return fit_cql(self.agent, dataset, validate, self.run.path, track, data.threads, started)

    def select_and_test(
        self, data: PortfolioCQLData, trained: TrainedPolicy, validator: SafetyValidator, tracker: Tracker
    ) -> dict[str, float]:
        """The best-validation weights, saved as the run's CQL policy with what a warm start checks
        (`sleeve_identity`), gated and tested as a meta-controller."""
        cfg, run_dir, universe = self.cfg, self.run.path, data.universe
        cql = trained.model
        assert isinstance(cql, _TrainedCQL)
        load_weights(cql.algo, run_dir / CQL_WEIGHTS_FILE)
        details = {
            **sleeve_identity(universe, cfg.env, cfg.reward),
            "data_fingerprint": {name: market.fingerprint for name, market in data.markets.items()},
            "allocation_mix": check_allocation_mix(self.agent.behaviour_mix, self.agent.behaviour_ppo_run),
            "selected_step": cql.selected_step,
            "selected_by": f"val/{VALIDATION_METRIC}",
        }
        save_cql_run(cql.algo, self.agent, run_dir, details)
        evaluations = evaluate_meta_policy(cql.policy.predict, universe, cfg, validator, run_dir)
        return write_hierarchy_evaluation(run_dir, universe, evaluations)

    def log_artifacts(self, tracker: Tracker) -> None:
        log_run_artifacts(tracker, self.run, self.run.path / CQL_WEIGHTS_FILE)


@dataclass(frozen=True)
class _TrainedCQL:
    algo: CQL
    policy: CQLPolicy
    selected_step: int
