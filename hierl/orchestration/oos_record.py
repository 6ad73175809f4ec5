"""The out-of-sample record of a walk-forward run: each fold's test segment, stitched, and what it measures.

Stitching: a fold's segment is the `test` rows of its record unit's tables (the SAC meta-controller's run, or the
one PPO agent's with `walk_forward.stages=[ppo]`) dated within the fold's test block (`test_start`..`test_end`
of `walk_forward.json`: days, or on intraday bars timestamps, so a block ends at its own bar). The folds' test
blocks tile the calendar, so one seed's segments form one record with every day (bar) once; its `date` columns
keep the runs' unit (Date for daily bars, Datetime for intraday ones). Each segment starts from cash (its first day
pays the fold's entry trades); `nav` is compounded again over the whole record. Baselines (`baselines.parquet`) and
positions (`positions.parquet`) are stitched the same way.

Measures (`record_metrics`, written to `metrics.json`), all on the stitched days:

- `oos/<metric>` and `oos/baseline/<name>/<metric>`: `compute_metrics` of each seed's record (Sharpe over the
  cash rate), averaged over seeds; `oos/seed_<s>/sharpe` per seed, `oos/fold_<k>/sharpe` per fold (mean over seeds);
- `oos/baseline/<name>/sharpe_diff` and its `_ci95_low`, `_ci95_high`, `_p_value`: the agent's Sharpe minus the
  baseline's, with a paired stationary bootstrap of the days (`hierl.reports.headline`'s: blocks of mean
  `MEAN_BLOCK` days, the same resampled days for both and for every seed, the mean over seeds of each resample's
  Sharpe); the p-value is two-sided, 2 x min(share of differences <= 0, share >= 0);
- `oos/dsr` and `oos/dsr_trials`: the deflated Sharpe ratio (`hierl.evaluation.deflated_sharpe`) of the best
  seed's record on returns over cash, among every seed's record (each seed is one configuration tried).

Annualised measures count a year in bars of the record's calendar (`bars_per_year`: the plan's, the densest
class's bars a year; the deflated Sharpe ratio is per bar and needs none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hierl.data.timestamps import between, numpy_dates
from hierl.envs.market_core import SimulationResult
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.deflated_sharpe import DeflatedSharpeInputError, deflated_sharpe_ratio, per_period_sharpe
from hierl.evaluation.metrics import DAILY_BARS_PER_YEAR, METRIC_KEYS, compute_metrics, sharpe_ratio
from hierl.evaluation.plots import plot_equity_curves
from hierl.evaluation.seeds import percentile_interval
from hierl.reports.headline import CONFIDENCE, MEAN_BLOCK, N_RESAMPLES, resampled_sharpe, stationary_bootstrap_indices
from hierl.run.folder import RunFolder
from hierl.tracking.files import write_parquet

RECORD_COLUMNS = ["date", "fold", "seed", "nav", "return", "turnover", "cost", "cash_return"]
AGENT = "agent"


@dataclass(frozen=True)
class Segment:
    """One fold's test segment of one seed: the record unit's folder and the fold's test block."""

    fold: int
    seed: int
    run_dir: Path
    test_start: str
    test_end: str

    def rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The test rows of `frame` inside the fold's test block, with `fold` and `seed` and without `split`."""
        inside = (pl.col("split") == "test") & between(self.test_start, self.test_end, frame.schema["date"])
        return (
            frame.filter(inside)
            .drop("split")
            .with_columns(pl.lit(self.fold, pl.Int64).alias("fold"), pl.lit(self.seed, pl.Int64).alias("seed"))
        )


@dataclass(frozen=True)
class OOSRecord:
    """The stitched agent, baselines (with `strategy`) and positions of every seed."""

    backtest: pl.DataFrame
    baselines: pl.DataFrame
    positions: pl.DataFrame


def _compounded(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """`nav` compounded from 1 over each group's whole record, in date order."""
    frame = frame.sort([*by, "date"])
    return frame.with_columns((1.0 + pl.col("return")).cum_prod().over(by).alias("nav"))


def _check_each_day_once(frame: pl.DataFrame, by: list[str], what: str) -> None:
    if frame.select([*by, "date"]).is_duplicated().any():
        raise ValueError(f"the stitched {what} holds a day twice: the folds' test blocks overlap")


def stitch(segments: Sequence[Segment]) -> OOSRecord:
    """Every segment's agent, baseline and position rows, as one record per seed (see the module docstring)."""
    backtests, baselines, positions = [], [], []
    for segment in segments:
        run = RunFolder(segment.run_dir)
        backtests.append(segment.rows(pl.read_parquet(run.backtest_path)))
        baselines.append(segment.rows(pl.read_parquet(run.baselines_path)))
        positions.append(segment.rows(pl.read_parquet(run.positions_path)))
    backtest = _compounded(pl.concat(backtests), ["seed"]).select(RECORD_COLUMNS)
    baseline = _compounded(pl.concat(baselines), ["strategy", "seed"]).select(["strategy", *RECORD_COLUMNS])
    position = pl.concat(positions)
    position = position.select(["date", "fold", "seed", *(c for c in position.columns if c not in RECORD_COLUMNS)])
    _check_each_day_once(backtest, ["seed"], "record")
    _check_each_day_once(baseline, ["strategy", "seed"], "baselines")
    return OOSRecord(backtest, baseline, position.sort(["seed", "date"]))


@dataclass(frozen=True)
class SeedDays:
    """One strategy's stitched days in one seed, as arrays, on a calendar of `bars_per_year` bars a year."""

    dates: np.ndarray
    returns: np.ndarray
    turnover: np.ndarray
    cash_return: np.ndarray
    bars_per_year: float = DAILY_BARS_PER_YEAR

    @property
    def excess(self) -> np.ndarray:
        return self.returns - self.cash_return

    def metrics(self) -> dict[str, float]:
        return compute_metrics(self.returns, self.turnover, self.bars_per_year, self.cash_return)


def _by_seed(frame: pl.DataFrame, bars_per_year: float) -> dict[int, SeedDays]:
    days = {}
    for (seed,), rows in frame.sort("date").group_by("seed", maintain_order=True):
        days[int(seed)] = SeedDays(
            numpy_dates(rows["date"]),
            rows["return"].to_numpy(),
            rows["turnover"].to_numpy(),
            rows["cash_return"].to_numpy(),
            bars_per_year,
        )
    return dict(sorted(days.items()))


def _mean_metrics(per_seed: dict[int, SeedDays]) -> dict[str, float]:
    metrics = [days.metrics() for days in per_seed.values()]
    return {key: float(np.mean([m[key] for m in metrics])) for key in METRIC_KEYS}


def _mean_resampled_sharpe(per_seed: dict[int, SeedDays], indices: np.ndarray) -> np.ndarray:
    """The mean over seeds of each resample's annualised Sharpe ratio."""
    return np.asarray(
        np.mean([resampled_sharpe(days.excess, indices, days.bars_per_year) for days in per_seed.values()], axis=0)
    )


def _deflated_sharpe(per_seed: dict[int, SeedDays]) -> dict[str, float]:
    """`oos/dsr` of the best seed among every seed's record; empty when no record has a Sharpe ratio."""
    trials = {}
    for seed, days in per_seed.items():
        try:
            trials[seed] = per_period_sharpe(days.excess)
        except DeflatedSharpeInputError:  # a flat record (all cash) has no Sharpe ratio, so it is no trial
            continue
    if not trials:
        return {}
    best = max(trials, key=lambda seed: trials[seed])
    value = deflated_sharpe_ratio(per_seed[best].excess, np.array(list(trials.values())))
    return {"oos/dsr": value, "oos/dsr_trials": float(len(trials))}


def record_metrics(
    record: OOSRecord, n_resamples: int = N_RESAMPLES, seed: int = 0, bars_per_year: float = DAILY_BARS_PER_YEAR
) -> dict[str, float]:
    """Every `oos/...` key of metrics.json (see the module docstring); `bars_per_year` is the record's calendar
    (`WalkForwardPlan.bars_per_year`)."""
    agent = _by_seed(record.backtest, bars_per_year)
    reference = next(iter(agent.values())).dates
    for days in agent.values():
        if not np.array_equal(days.dates, reference):
            raise ValueError("the seeds' out-of-sample records cover different days")
    metrics = {f"oos/{key}": value for key, value in _mean_metrics(agent).items()}
    metrics.update({f"oos/seed_{s}/sharpe": days.metrics()["sharpe"] for s, days in agent.items()})
    for (fold,), rows in record.backtest.sort("date").group_by("fold", maintain_order=True):
        sharpes = [
            sharpe_ratio(r["return"].to_numpy(), r["cash_return"].to_numpy(), bars_per_year)
            for _, r in rows.group_by("seed")
        ]
        metrics[f"oos/fold_{fold}/sharpe"] = float(np.mean(sharpes))
    indices = stationary_bootstrap_indices(len(reference), n_resamples, MEAN_BLOCK, seed)
    agent_resampled = _mean_resampled_sharpe(agent, indices)
    for (name,), rows in record.baselines.group_by("strategy", maintain_order=True):
        baseline = _by_seed(rows, bars_per_year)
        if baseline.keys() != agent.keys() or any(
            not np.array_equal(days.dates, reference) for days in baseline.values()
        ):
            raise ValueError(f"baseline {name} does not cover the agent's out-of-sample days in every seed")
        prefix = f"oos/baseline/{name}"
        mean = _mean_metrics(baseline)
        metrics.update({f"{prefix}/{key}": value for key, value in mean.items()})
        difference = agent_resampled - _mean_resampled_sharpe(baseline, indices)
        low, high = percentile_interval(difference, CONFIDENCE)
        metrics[f"{prefix}/sharpe_diff"] = metrics["oos/sharpe"] - mean["sharpe"]
        metrics[f"{prefix}/sharpe_diff_ci95_low"] = low
        metrics[f"{prefix}/sharpe_diff_ci95_high"] = high
        metrics[f"{prefix}/sharpe_diff_p_value"] = min(
            1.0, 2.0 * min(float(np.mean(difference <= 0.0)), float(np.mean(difference >= 0.0)))
        )
    metrics.update(_deflated_sharpe(agent))
    return dict(sorted(metrics.items()))


def _mean_over_seeds(name: str, frame: pl.DataFrame) -> Backtest:
    """One curve for the figure: the mean over seeds of each day's return (exactly the record with one seed)."""
    days = frame.group_by("date").agg(pl.col("return", "turnover", "cost", "cash_return").mean()).sort("date")
    returns = days["return"].to_numpy()
    empty = np.zeros((len(days), 0))
    result = SimulationResult(
        np.cumprod(1.0 + returns), returns, days["turnover"].to_numpy(), days["cost"].to_numpy(), empty
    )
    dates = numpy_dates(days["date"])
    return Backtest(name, dates, (), empty, result, days["cash_return"].to_numpy())


def write_record(run: RunFolder, record: OOSRecord, title: str) -> None:
    """oos_backtest.parquet, oos_baselines.parquet, oos_positions.parquet and oos_equity.png."""
    write_parquet(run.oos_backtest_path, record.backtest)
    write_parquet(run.oos_baselines_path, record.baselines)
    write_parquet(run.oos_positions_path, record.positions)
    curves = [_mean_over_seeds(AGENT, record.backtest)]
    for (name,), rows in record.baselines.group_by("strategy", maintain_order=True):
        curves.append(_mean_over_seeds(str(name), rows))
    n_seeds = record.backtest["seed"].n_unique()
    suffix = "" if n_seeds == 1 else f" (mean daily return over {n_seeds} seeds)"
    plot_equity_curves(curves, run.oos_equity_path, f"{title}{suffix}")
