"""Backtests of a trained policy and of the baselines on the same block, and the run-folder files they produce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hierl.agents.rollout import Predict, rollout_positions
from hierl.agents.training import VALIDATION_METRIC
from hierl.agents.validation import TRAIN_REWARD_KEY
from hierl.config.env import EnvConfig, RewardConfig
from hierl.config.run import TrainConfig
from hierl.data.market import MarketData
from hierl.data.normalisation import check_saved_stats
from hierl.envs.episodes import cost_model
from hierl.errors import ConfigError
from hierl.evaluation.backtest import Backtest, run_backtest
from hierl.evaluation.baselines import baseline_weights
from hierl.evaluation.diagnostics import RowReturns, backtest_diagnostics
from hierl.evaluation.plots import plot_equity_curves, plot_learning_curve, plot_positions
from hierl.evaluation.report import metrics_namespace
from hierl.run.folder import NORMALISATION_FILE as NORMALISATION_FILE  # re-exported for older callers
from hierl.run.folder import RunFolder
from hierl.run.lifecycle import TrainedPolicy
from hierl.safety import SafetyValidator, apply_safety_gate
from hierl.tracking.files import write_parquet
from hierl.tracking.logging import get_logger

log = get_logger("train")

AGENT = "agent"
EVALUATED_SPLITS = ("val", "test")
# What a run with `evaluate_test=false` backtests (a sweep's trials: they are chosen on this block only).
VALIDATION_ONLY = ("val",)
# The stages `hierl.evaluate` replays; any other is tested by re-running it with evaluate_test=true.
REPLAYABLE_AGENTS = frozenset({"ppo", "cql"})


def check_safety_split(split: str) -> None:
    """The safety gate checks one of the blocks a run evaluates; any other block would never be gated."""
    if split not in EVALUATED_SPLITS:
        raise ConfigError(f"safety.split={split!r} must be one of {EVALUATED_SPLITS} (usually val)")


def evaluated_splits(cfg: TrainConfig, run_dir: Path) -> tuple[str, ...]:
    """The blocks a run backtests: validation, and test unless `evaluate_test=false`.

    A sweep's trials skip the test block: choosing among trials by a test metric would make it one more validation
    block. The run then says on the console that its test block was not evaluated and how to test it once.
    """
    if cfg.evaluate_test:
        return EVALUATED_SPLITS
    if cfg.safety.split not in VALIDATION_ONLY:
        raise ConfigError(
            f"safety.split={cfg.safety.split!r} gates on the test block, which evaluate_test=false skips; "
            "set safety.split=val (or evaluate_test=true)"
        )
    log.info("test block not evaluated (evaluate_test=false); %s", untested_note(cfg.agent.name, run_dir))
    return VALIDATION_ONLY


def untested_note(agent: str, run_dir: Path) -> str:
    """How to test a run that skipped its test block, once its configuration is the one chosen."""
    if agent in REPLAYABLE_AGENTS:
        return f"to test this configuration once it is chosen: python -m hierl.evaluate run_dir={run_dir}"
    overrides = run_dir / ".hydra" / "overrides.yaml"
    return f"to test this configuration once it is chosen, re-run its overrides ({overrides}) with evaluate_test=true"


def policy_backtest(
    predict: Predict, market: MarketData, split: str, env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> Backtest:
    """The policy's deterministic backtest: one equal-capital sleeve per symbol, net of costs."""
    rollout = rollout_positions(predict, market, split, env_cfg, reward_cfg)
    costs = cost_model(env_cfg, market.bars_per_year)
    return run_backtest(AGENT, market, split, rollout.portfolio_weights(), costs, rollout.decision_rows)


@dataclass(frozen=True)
class SplitEvaluation:
    """The agent and its baselines on one split, on the same decision rows and costs; `assets` are the symbols'
    returns over those rows, which the position diagnostics compare every strategy's weights with."""

    split: str
    agent: Backtest
    baselines: dict[str, Backtest]
    assets: RowReturns

    def metrics(self) -> dict[str, float]:
        """`split_metrics`, and the diagnostics (`hierl.evaluation.diagnostics`) of the agent and each baseline
        under the same keys."""
        flat = split_metrics(self.split, self.agent, self.baselines)
        flat.update(metrics_namespace(self.split, backtest_diagnostics(self.agent, self.assets)))
        for name, backtest in self.baselines.items():
            flat.update(metrics_namespace(f"{self.split}/baseline/{name}", backtest_diagnostics(backtest, self.assets)))
        return flat


def split_metrics(split: str, agent: Backtest, baselines: dict[str, Backtest]) -> dict[str, float]:
    """`<split>/<metric>` for the agent, `<split>/baseline/<name>/<metric>` for each baseline."""
    flat = metrics_namespace(split, agent.metrics())
    for name, backtest in baselines.items():
        flat.update(metrics_namespace(f"{split}/baseline/{name}", backtest.metrics()))
    return flat


def evaluate_split(
    predict: Predict, market: MarketData, split: str, env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> SplitEvaluation:
    """Backtest the policy and the baselines on one split, on the same decision rows and costs."""
    rollout = rollout_positions(predict, market, split, env_cfg, reward_cfg)
    rows = rollout.decision_rows
    costs = cost_model(env_cfg, market.bars_per_year)
    agent = run_backtest(AGENT, market, split, rollout.portfolio_weights(), costs, rows)
    baselines = {
        name: run_backtest(name, market, split, weights, costs, rows)
        for name, weights in baseline_weights(market, split, rows, env_cfg.max_leverage, costs).items()
    }
    return SplitEvaluation(split, agent, baselines, RowReturns.of(market, rows))


def _with_split(frame: pl.DataFrame, split: str, strategy: str | None = None) -> pl.DataFrame:
    columns = [pl.lit(split).alias("split")]
    if strategy is not None:
        columns.insert(0, pl.lit(strategy).alias("strategy"))
    return frame.with_columns(columns).select([*(c.meta.output_name() for c in columns), *frame.columns])


def evaluate_gated(
    predict: Predict, market: MarketData, cfg: TrainConfig, validator: SafetyValidator, run_dir: Path, title: str
) -> dict[str, float]:
    """The selected single-asset policy on every evaluated split, gated, and written; the flat metrics.

    The gate sees the `safety.split` backtest before any later split is evaluated or any result is written; the test
    block is skipped with `evaluate_test=false` (`evaluated_splits`).
    """
    assert isinstance(cfg.env, EnvConfig)
    evaluations = []
    for split in evaluated_splits(cfg, run_dir):
        evaluation = evaluate_split(predict, market, split, cfg.env, cfg.reward)
        if split == cfg.safety.split:
            apply_safety_gate(validator, evaluation.agent, cfg.asset.name, run_dir)
        evaluations.append(evaluation)
    return write_evaluation(run_dir, evaluations, title)


def write_evaluation(run_dir: Path, evaluations: list[SplitEvaluation], title: str) -> dict[str, float]:
    """Write backtest.parquet, positions.parquet, baselines.parquet, and per split an equity-curve and a positions
    PNG."""
    run = RunFolder(run_dir)
    metrics: dict[str, float] = {}
    backtests, positions, baselines = [], [], []
    for evaluation in evaluations:
        metrics.update(evaluation.metrics())
        backtests.append(_with_split(evaluation.agent.to_frame(), evaluation.split))
        positions.append(_with_split(evaluation.agent.positions_frame(), evaluation.split))
        for name, backtest in evaluation.baselines.items():
            baselines.append(_with_split(backtest.to_frame(), evaluation.split, name))
        plot_equity_curves(
            [evaluation.agent, *evaluation.baselines.values()],
            run.equity_curve_path(evaluation.split),
            f"{title} ({evaluation.split})",
        )
        plot_positions(
            evaluation.agent, run.positions_plot_path(evaluation.split), f"{title}: positions ({evaluation.split})"
        )
    write_backtest_tables(run_dir, backtests, positions, baselines)
    return metrics


def write_learning_curve(
    run: RunFolder, trained: TrainedPolicy, metrics: Mapping[str, float], title: str
) -> Path | None:
    """learning_curve.png of a PPO or SAC run, from what the run already records: its validation history (the
    validation score and `TRAIN_REWARD_KEY` at every evaluation), `train/best_timestep` (the selected evaluation)
    and the split metrics (`val/baseline/<name>/sharpe` of each baseline). None, and no file, for a run that was
    never validated."""
    history = trained.history
    if not history:
        return None
    prefix, suffix = "val/baseline/", f"/{VALIDATION_METRIC}"
    baselines = {
        key[len(prefix) : -len(suffix)]: value
        for key, value in metrics.items()
        if key.startswith(prefix) and key.endswith(suffix)
    }
    return plot_learning_curve(
        np.array([row["timestep"] for row in history]),
        np.array([row[VALIDATION_METRIC] for row in history]),
        np.array([row.get(TRAIN_REWARD_KEY, np.nan) for row in history]),
        baselines,
        trained.train_metrics["train/best_timestep"],
        run.learning_curve_path,
        f"{title}: validation {VALIDATION_METRIC} and training reward",
    )


def write_backtest_tables(
    run_dir: Path, backtests: list[pl.DataFrame], positions: list[pl.DataFrame], baselines: list[pl.DataFrame]
) -> None:
    """The three tables of the run-folder contract, each the concatenation of its per-split frames."""
    run = RunFolder(run_dir)
    write_parquet(run.backtest_path, pl.concat(backtests))
    write_parquet(run.positions_path, pl.concat(positions))
    write_parquet(run.baselines_path, pl.concat(baselines))


def write_data_fingerprint(run_dir: Path, market: MarketData) -> None:
    """What data the run saw (enough to tell whether two runs are comparable) and how its features were scaled."""
    bounds = {
        split: {
            "start": str(market.dates[start]),
            "end": str(market.dates[stop - 1]),
            "rows": int(stop - start),
        }
        for split, (start, stop) in market.split_bounds.items()
    }
    run = RunFolder(run_dir)
    run.write_data_fingerprint(
        {
            "fingerprint": market.fingerprint,
            "asset_class": market.asset_class,
            "symbols": list(market.symbols),
            "features": list(market.feature_names),
            "splits": bounds,
        },
    )
    run.write_normalisation(market.normalisation)


def read_normalisation(run_dir: Path) -> dict[str, dict[str, float | bool]] | None:
    """The feature scaling a run was trained with (None for runs that predate the file)."""
    run = RunFolder(run_dir)
    saved = run.read_normalisation()
    if saved is None:
        return None
    return check_saved_stats(saved, str(run.normalisation_path))


def read_metrics(run_dir: Path) -> dict[str, float]:
    """metrics.json of a finished run (`RunFolder.read_metrics`; kept here for its callers)."""
    return RunFolder(run_dir).read_metrics()
