"""Level 2 of the hierarchy: PPO sleeves per asset class -> SAC meta-controller -> evaluation, one run folder.

SAC trains on the train block's decision rows, the best model is chosen by validation Sharpe, and the chosen
model is tested once on the test block against allocators on the same sleeves (`hierarchy_baselines`).
See `sleeve_signals` for where the signals come from and how in-sample signals are handled.

Long runs: checkpoints at rollout boundaries (`hierl.agents.sac.SACCheckpointCallback`), SIGINT/SIGTERM save one
and stop (state "interrupted"), and `resume=true` continues from the newest one to the same step count and the
same metrics as an uninterrupted run; the checks are the PPO stage's (`hierl.run.resume`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.model_files import load_model
from hierl.agents.observation_scaling import write_model
from hierl.agents.replay_prefill import prefill_replay_buffer
from hierl.agents.rollout import Predict, predictor
from hierl.agents.sac import (
    SACCheckpointCallback,
    StopAtCheckpoint,
    build_sac,
    restore_sac_training,
    validate_sac_config,
)
from hierl.agents.stop_signal import TrainingInterrupted
from hierl.agents.training import VALIDATION_METRIC, finished_training, learn_to_budget, sb3_logger
from hierl.agents.trial_reporting import report_to_trial
from hierl.agents.validation import ValidationCallback
from hierl.config.env import RewardConfig
from hierl.config.run import SACRunConfig, TrainConfig
from hierl.config.sac import PortfolioEnvConfig, SACConfig
from hierl.config.stages import ppo_run, sac_run
from hierl.data.market import MarketData
from hierl.data.pipeline import available_asset_classes, load_market_data
from hierl.envs.episodes import cost_model
from hierl.envs.portfolio_env import PortfolioEnv, allocation_limits, validate_portfolio_config
from hierl.envs.sleeves import SleeveUniverse, build_universe, simulate_class_book, simulate_hierarchy
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.hierarchy_baselines import hierarchy_baseline_weights
from hierl.evaluation.plots import plot_equity_curves
from hierl.evaluation.sleeve_plots import plot_sleeve_weights
from hierl.orchestration.policy_evaluation import (
    AGENT,
    check_safety_split,
    evaluated_splits,
    split_metrics,
    write_backtest_tables,
    write_learning_curve,
)
from hierl.orchestration.signals import SOURCE_FOLD, read_signals
from hierl.orchestration.sleeve_signals import class_configs, class_signals, train_sleeve_signals
from hierl.run.folder import PREFILL_FILE, SIGNALS_FILE, RunFolder
from hierl.run.lifecycle import RunOutcome, TrainedPolicy, log_run_artifacts, run_stage
from hierl.run.resume import check_checkpoint, optional_resume_checkpoint, resume_state
from hierl.runtime import ThreadChoice, apply_thread_policy, mlp_parameters, parse_torch_threads
from hierl.safety import SafetyValidator, apply_safety_gate
from hierl.tracking.checkpoints import Checkpoint
from hierl.tracking.files import write_parquet
from hierl.tracking.logging import get_logger
from hierl.tracking.trackers import Tracker, tracked_run

log = get_logger("hierarchy")

# Market indices a hierarchy must beat to be worth running: when a sleeve trades one of them, the test also holds
# it alone (fully invested from the first decision row, net of its class's costs) as `buy_and_hold_<symbol>`.
MARKET_BENCHMARKS = ("SP500",)


@dataclass(frozen=True)
class HierarchyEvaluation:
    """The meta-controller and its baselines on one split; weights are sleeve weights, except the market
    benchmarks' (`buy_and_hold_<symbol>`), which hold their one index."""

    split: str
    agent: Backtest
    asset_level: Backtest
    baselines: dict[str, Backtest]

    def metrics(self) -> dict[str, float]:
        return split_metrics(self.split, self.agent, self.baselines)


def check_config(config: TrainConfig) -> tuple[SACConfig, PortfolioEnvConfig]:
    """Both schemas and every value that can be checked before data is loaded."""
    cfg = sac_run(config)
    validate_sac_config(cfg.agent)
    validate_portfolio_config(cfg.env)
    check_safety_split(cfg.safety.split)
    parse_torch_threads(cfg.runtime.torch_threads)
    if cfg.agent.init_from is not None:
        # d3rlpy (seconds to import) only for warm-started runs; refuses a CQL run of the wrong kind before data.
        from hierl.agents.warm_start import check_meta_controller_init

        check_meta_controller_init(cfg)
    return cfg.agent, cfg.env


def use_sac_threads(cfg: SACRunConfig, n_observations: int, n_actions: int) -> ThreadChoice:
    """The thread policy for the meta-controller: SB3's SAC has an actor and two critics of `agent.net_arch`."""
    actor = mlp_parameters(n_observations, cfg.agent.net_arch, 2 * n_actions)
    critics = 2 * mlp_parameters(n_observations + n_actions, cfg.agent.net_arch, 1)
    return apply_thread_policy(cfg.runtime.torch_threads, actor + critics)


def sleeve_backtests(
    universe: SleeveUniverse, split: str, name: str, sleeve_weights: np.ndarray
) -> tuple[Backtest, Backtest]:
    """The same simulation seen at sleeve level (weights per sleeve) and at asset level (weights per symbol)."""
    rows = universe.decision_rows[split]
    result, _ = simulate_hierarchy(universe, sleeve_weights, rows)
    dates, cash, bars = universe.dates[rows + 1], universe.cash_return[rows + 1], universe.bars_per_year
    sleeve = Backtest(name, dates, universe.classes, np.asarray(sleeve_weights), result, cash, bars)
    asset = Backtest(name, dates, universe.symbols, result.weights, result, cash, bars)
    return sleeve, asset


def market_benchmarks(universe: SleeveUniverse, split: str) -> dict[str, Backtest]:
    """`buy_and_hold_<symbol>` of each market index in the universe, on the same rows and calendar as the agent.

    Weight 1 on the index every row: for a single fully invested asset this is buy-and-hold (the drifted weight
    stays 1; only the first row's cost moves it, by about the cost rate), charged the index class's costs. On a
    bar where the index's class has no bar of its own it holds, as every closed class does (`sleeves`).
    """
    rows = universe.decision_rows[split]
    dates, cash = universe.dates[rows + 1], universe.cash_return[rows + 1]
    backtests = {}
    for symbol in MARKET_BENCHMARKS:
        if symbol not in universe.symbols:
            continue
        i = universe.symbols.index(symbol)
        c = int(universe.sleeve_of_asset[i])
        costs = universe.sleeve_costs(universe.classes[c])
        returns = universe.asset_returns[rows + 1][:, [i]]
        weights = np.ones((len(rows), 1))
        result = simulate_class_book(
            weights, returns, cash, costs, universe.has_bar[rows, c], universe.has_bar[rows + 1, c]
        )
        name = f"buy_and_hold_{symbol}"
        backtests[name] = Backtest(name, dates, (symbol,), weights, result, cash, universe.bars_per_year)
    return backtests


def rollout_sleeve_weights(
    predict: Predict, universe: SleeveUniverse, split: str, env_cfg: PortfolioEnvConfig, reward_cfg: RewardConfig
) -> np.ndarray:
    """The policy's deterministic sleeve weights [K, C] on every decision row of `split`."""
    env = PortfolioEnv(universe, split, env_cfg, reward_cfg, evaluation=True)
    observation, _ = env.reset()
    weights = np.zeros((len(env.decision_rows), universe.n_sleeves))
    for k in range(len(weights)):
        action = predict(observation[None, :])[0]
        observation, _, terminated, _, info = env.step(action)
        weights[k] = info["sleeve_weights"]
        if terminated and k != len(weights) - 1:
            weights[k + 1 :] = 0.0  # the book is wiped out; every later row holds cash
            break
    return weights


def evaluate_hierarchy(
    predict: Predict, universe: SleeveUniverse, split: str, env_cfg: PortfolioEnvConfig, reward_cfg: RewardConfig
) -> HierarchyEvaluation:
    limits = allocation_limits(env_cfg, universe.n_sleeves)
    agent, asset_level = sleeve_backtests(
        universe, split, AGENT, rollout_sleeve_weights(predict, universe, split, env_cfg, reward_cfg)
    )
    baselines = {
        name: sleeve_backtests(universe, split, name, weights)[0]
        for name, weights in hierarchy_baseline_weights(universe, split, limits).items()
    }
    baselines.update(market_benchmarks(universe, split))
    return HierarchyEvaluation(split, agent, asset_level, baselines)


def in_sample_warning(frame: pl.DataFrame, path: str, sac_signals: str) -> str | None:
    """What to tell a user whose signals file cannot show that its training rows are out of fold, when the run
    asks for out-of-fold training signals (`multistage.sac_signals`); None when it can, or when it is not asked."""
    if SOURCE_FOLD in frame.columns or sac_signals != "out_of_fold":
        return None
    return (
        f"{path} does not say which model produced each signal (no {SOURCE_FOLD} column), so its training rows are "
        "taken to be the sleeves' in-sample signals: the meta-controller learns to trust them too much. Pass the "
        "signals.parquet of an experiment=hierarchy run (out of fold), or set multistage.sac_signals=in_sample"
    )


def load_universe(
    cfg: SACRunConfig, run_dir: Path, class_cfgs: Mapping[str, TrainConfig] | None = None
) -> tuple[SleeveUniverse, dict[str, MarketData]]:
    """Signals (read or trained here), each class's market and costs, aligned into one `SleeveUniverse`.

    `class_cfgs` are the PPO configs the signals were produced with (their env.window decides each class's split
    blocks, their env the costs); by default each class's own `class_config`.
    """
    cache_dir = Path(cfg.paths.cache_dir)
    if class_cfgs is None:
        chosen = cfg.multistage.asset_classes
        classes = list(chosen) if chosen else available_asset_classes(cfg.data, cache_dir)
        class_cfgs = class_configs(cfg, classes)
    classes = list(class_cfgs)
    if cfg.agent.signals_path is not None:
        frame = read_signals(cfg.agent.signals_path)
        warning = in_sample_warning(frame, cfg.agent.signals_path, cfg.multistage.sac_signals)
        if warning is not None:
            log.warning(warning)
    else:
        sleeve_cfgs = {name: ppo_run(class_cfg) for name, class_cfg in class_cfgs.items()}
        frame = train_sleeve_signals(cfg, run_dir, classes, sleeve_cfgs)
    write_parquet(run_dir / SIGNALS_FILE, frame)
    markets, signals, costs = {}, {}, {}
    for name, class_cfg in class_cfgs.items():
        class_env = ppo_run(class_cfg).env
        # The class's own env.window, so its split blocks are those its PPO signals were produced on.
        markets[name] = load_market_data(
            cfg.data, name, class_env.window, cache_dir, class_cfg.asset.symbols, calendar=class_cfg.asset.calendar
        )
        signals[name] = class_signals(frame, markets[name])
        costs[name] = cost_model(class_env, markets[name].bars_per_year)
    return build_universe(markets, signals, costs, cfg.env.window), markets


def write_fingerprint(run: RunFolder, universe: SleeveUniverse, markets: dict[str, MarketData]) -> None:
    run.write_data_fingerprint(
        {
            "fingerprint": {name: market.fingerprint for name, market in markets.items()},
            "asset_class": list(universe.classes),
            "symbols": list(universe.symbols),
            "calendar": calendar_note(universe),
            "splits": {
                split: {
                    "start": str(universe.dates[rows[0]]),
                    "end": str(universe.dates[rows[-1] + 1]),
                    "rows": len(rows),
                }
                for split, rows in universe.decision_rows.items()
            },
        },
    )


def calendar_note(universe: SleeveUniverse) -> str:
    """How the classes' calendars were aligned, for data_fingerprint.json. When every class has every bar, the union
    of their bars is also their intersection, and the note keeps the words runs before the union rule recorded."""
    if universe.has_bar.all():
        return "intersection of the classes' trading days"
    return f"union of the classes' bars ({universe.bars_per_year:g} a year); a class without a bar holds its positions"


def data_identity(universe: SleeveUniverse, markets: Mapping[str, MarketData]) -> dict[str, str]:
    """What a checkpoint's data must match: each class's market fingerprint and a digest of the signals."""
    signals = hashlib.sha256(np.ascontiguousarray(universe.signals).tobytes()).hexdigest()[:16]
    return {**{name: market.fingerprint for name, market in markets.items()}, "signals": signals}


def train_meta_controller(
    cfg: TrainConfig, run_dir: Path, class_cfgs: Mapping[str, TrainConfig] | None = None
) -> RunOutcome:
    """The whole level-2 experiment (see `hierl.run.lifecycle.run_stage`).

    `class_cfgs`: see `load_universe` (a pipeline passes the configs its PPO stage trained the sleeves with).
    With `resume=true` training continues from the run folder's newest checkpoint; a pipeline unit without one
    starts afresh.
    """
    return run_stage(SACStage(sac_run(cfg), RunFolder(run_dir), class_cfgs))


Sleeves = tuple[SleeveUniverse, dict[str, MarketData]]


@dataclass
class SACStage:
    """The SAC steps of the run lifecycle: a meta-controller over the PPO sleeves, validated every
    `agent.eval_freq` steps, checkpointed at rollout boundaries with its replay buffer."""

    cfg: SACRunConfig
    run: RunFolder
    class_cfgs: Mapping[str, TrainConfig] | None = None

    def check(self) -> None:
        check_config(self.cfg)

    def find_checkpoint(self) -> Checkpoint | None:
        return optional_resume_checkpoint(self.cfg, self.run.path, required=self.class_cfgs is None)

    def seed(self) -> None:
        set_random_seed(self.cfg.seed)

    def load_data(self) -> Sleeves:
        universe, markets = load_universe(self.cfg, self.run.path, self.class_cfgs)
        allocation_limits(self.cfg.env, universe.n_sleeves)  # impossible limits fail before training
        return universe, markets

    def record_data(self, data: Sleeves) -> None:
        universe, markets = data
        write_fingerprint(self.run, universe, markets)
        log.info("sleeves %s on %d aligned bars", ", ".join(universe.classes), len(universe.dates))

    def check_checkpoint(self, checkpoint: Checkpoint, state: dict[str, Any], data: Sleeves) -> None:
        """Same hierl, observation shape, data and signals, and config as the run that wrote it."""
        universe, markets = data
        expected = PortfolioEnv(universe, "train", self.cfg.env, self.cfg.reward).observation_space.shape
        assert expected is not None
        check_checkpoint(
            checkpoint,
            state,
            self.cfg,
            expected,
            "the asset classes, signals and env settings it was trained with",
            ("data", data_identity(universe, markets)),
            "the data.* settings and agent.signals_path it was trained with",
        )

    def tracked(self) -> AbstractContextManager[Tracker]:
        return tracked_run(self.cfg, self.run.path, scope="hierarchy")

    def train(
        self, data: Sleeves, track: Tracker, checkpoint: Checkpoint | None, state: dict[str, Any] | None
    ) -> TrainedPolicy:
        """SAC from scratch (after the optional replay prefill) or from `checkpoint`, to `agent.total_timesteps`."""
        universe, markets = data
        cfg, run_dir = self.cfg, self.run.path
        agent_cfg, env_cfg = cfg.agent, cfg.env

        def make_env(seed: int) -> PortfolioEnv:
            return PortfolioEnv(universe, "train", env_cfg, cfg.reward, seed=seed)

        vec_env = DummyVecEnv([lambda i=i: make_env(cfg.seed + i) for i in range(agent_cfg.n_envs)])  # type: ignore[misc]
        observation_size, action_size = vec_env.observation_space.shape, vec_env.action_space.shape
        assert observation_size is not None and action_size is not None
        threads = use_sac_threads(cfg, observation_size[0], action_size[0])
        if checkpoint is not None:
            model = load_model(SAC, checkpoint.model_path, env=vec_env, known={"train_freq": agent_cfg.train_freq})
            log.info("resuming from %s at %d steps", checkpoint.path, model.num_timesteps)
        else:
            model = build_sac(agent_cfg, vec_env, cfg.seed)
            if agent_cfg.init_from is not None:
                # A fresh run starts from the CQL policy; a resumed one already carries those weights.
                from hierl.agents.warm_start import warm_start_meta_controller

                init = warm_start_meta_controller(model, agent_cfg.init_from, universe, env_cfg, cfg.reward, cfg.seed)
                self.run.write_init(init)
                log.info("warm-started from %s (%s)", agent_cfg.init_from, init["method"])
            if agent_cfg.prefill_steps > 0:
                # A resumed run's buffer already holds these transitions (the checkpoint carries the buffer).
                assert model.replay_buffer is not None
                record = prefill_replay_buffer(
                    model.replay_buffer,
                    universe,
                    env_cfg,
                    cfg.reward,
                    agent_cfg.prefill_policies,
                    agent_cfg.prefill_steps,
                    cfg.seed,
                )
                self.run.write_prefill(record)
                log.info("replay buffer prefilled with %d transitions (%s)", record["steps"], PREFILL_FILE)

        model.set_logger(sb3_logger(cfg, run_dir, checkpoint.timesteps if checkpoint else None))

        def validation_scores(current: BaseAlgorithm) -> dict[str, float]:
            weights = rollout_sleeve_weights(predictor(current), universe, "val", env_cfg, cfg.reward)
            scores = sleeve_backtests(universe, "val", AGENT, weights)[0].metrics()
            track.log({f"val/{k}": v for k, v in scores.items()}, step=current.num_timesteps)
            return scores

        validation = ValidationCallback(
            validation_scores,
            VALIDATION_METRIC,
            agent_cfg.eval_freq,
            self.run.best_model_path,
            after_validation=report_to_trial(run_dir),  # a sweep's pruner, after each validation
            evaluate_at_end=False,
        )
        stateful = {"validation": validation}
        interrupt = StopAtCheckpoint()
        checkpoints = SACCheckpointCallback(
            self.run.checkpoints_dir,
            agent_cfg.checkpoint_freq,
            agent_cfg.keep_checkpoints,
            stateful,
            interrupt,
            extra_state=resume_state(cfg, data=data_identity(universe, markets)),
        )
        if checkpoint is not None and state is not None:
            restore_sac_training(model, checkpoint, state, stateful, checkpoints)
        started = time.perf_counter()
        # Validate first, then checkpoint (so a checkpoint holds its boundary's validation).
        callbacks: list[BaseCallback] = [validation, checkpoints, interrupt]
        learn_to_budget(model, agent_cfg.total_timesteps, callbacks, interrupt, checkpoint is not None, cfg.progress)
        if interrupt.received is not None:
            raise TrainingInterrupted(interrupt.received, checkpoints.last_checkpoint)
        validation.evaluate_final()
        return finished_training(model, validation, started, threads)

    def select_and_test(
        self, data: Sleeves, trained: TrainedPolicy, validator: SafetyValidator, tracker: Tracker
    ) -> dict[str, float]:
        universe, _ = data
        cfg, run_dir = self.cfg, self.run.path
        env_cfg = cfg.env
        write_model(trained.model, self.run.model_path)
        best = load_model(SAC, self.run.best_model_path, known={"train_freq": cfg.agent.train_freq})
        evaluations = []
        for split in evaluated_splits(cfg, run_dir):
            evaluation = evaluate_hierarchy(predictor(best), universe, split, env_cfg, cfg.reward)
            if split == cfg.safety.split:
                classes = {
                    symbol: universe.classes[c]
                    for symbol, c in zip(universe.symbols, universe.sleeve_of_asset, strict=True)
                }
                apply_safety_gate(validator, evaluation.asset_level, classes, run_dir)
            evaluations.append(evaluation)
        metrics = write_hierarchy_evaluation(run_dir, universe, evaluations)
        write_learning_curve(self.run, trained, metrics, hierarchy_title(universe))
        return metrics

    def log_artifacts(self, tracker: Tracker) -> None:
        """The selected meta-controller, its metrics, plots and tables, as every stage logs them."""
        log_run_artifacts(tracker, self.run, self.run.best_model_path)


def _positions_frame(universe: SleeveUniverse, evaluation: HierarchyEvaluation) -> pl.DataFrame:
    """Long table split, date, level (sleeve/asset), sleeve, symbol, position (fractions of portfolio NAV)."""
    sleeve = evaluation.agent.positions_frame().with_columns(
        pl.lit("sleeve").alias("level"), pl.col("symbol").alias("sleeve")
    )
    classes = pl.DataFrame(
        {"symbol": list(universe.symbols), "sleeve": [universe.classes[c] for c in universe.sleeve_of_asset]}
    )
    asset = (
        evaluation.asset_level.positions_frame()
        .join(classes, on="symbol", how="left")
        .with_columns(pl.lit("asset").alias("level"))
    )
    columns = ["date", "level", "sleeve", "symbol", "position"]
    frame = pl.concat([sleeve.select(columns), asset.select(columns)])
    return frame.with_columns(pl.lit(evaluation.split).alias("split")).select(["split", *columns])


def hierarchy_title(universe: SleeveUniverse) -> str:
    """What the hierarchy's figures are titled with: the meta-controller and the sleeves it allocates across."""
    return f"hierarchy / SAC over {', '.join(universe.classes)}"


def write_hierarchy_evaluation(
    run_dir: Path, universe: SleeveUniverse, evaluations: list[HierarchyEvaluation]
) -> dict[str, float]:
    """backtest.parquet, positions.parquet (sleeve and asset level), baselines.parquet, and the plots."""
    metrics: dict[str, float] = {}
    backtests, positions, baselines = [], [], []
    for evaluation in evaluations:
        split = evaluation.split
        metrics.update(evaluation.metrics())
        backtests.append(evaluation.agent.to_frame().with_columns(pl.lit(split).alias("split")))
        positions.append(_positions_frame(universe, evaluation))
        for name, backtest in evaluation.baselines.items():
            baselines.append(
                backtest.to_frame().with_columns(pl.lit(name).alias("strategy"), pl.lit(split).alias("split"))
            )
        plot_equity_curves(
            [evaluation.agent, *evaluation.baselines.values()],
            run_dir / f"equity_curve_{split}.png",
            f"{hierarchy_title(universe)} ({split})",
        )
        plot_sleeve_weights(
            evaluation.agent.dates,
            evaluation.agent.weights,
            universe.classes,
            run_dir / f"sleeve_weights_{split}.png",
            f"SAC sleeve weights ({split})",
        )
    write_backtest_tables(run_dir, backtests, positions, baselines)
    return metrics
