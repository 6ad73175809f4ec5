"""The headline results: the hierarchy against each PPO sleeve alone and the baselines, out of sample, with intervals.

Built only from a walk-forward run's out-of-sample record (`hierl.orchestration.oos_record`: `oos_backtest.parquet`
for the hierarchy, `oos_baselines.parquet` for the sleeves alone, the allocators and the market buy-and-hold,
`oos_positions.parquet` for the sleeve weights, `walk_forward.json` for the folds), so anyone can regenerate it from
the outputs. Every strategy is measured on the same days (every fold's test block once, the same days in every
seed), net of costs, with `compute_metrics`, the function that measured the record's `metrics.json`.

Statistics (stated in the report as well):
- point estimates are means over seeds of the per-seed metrics;
- the Sharpe ratio's 95% interval is a stationary bootstrap (Politis and Romano, 1994; `arch.bootstrap`) of the
  record's days: blocks of geometric length (mean `MEAN_BLOCK` days) drawn with wrap-around, the same days for
  every seed, the mean over seeds of each resample's Sharpe ratio, and the 2.5% / 97.5% quantiles of those means;
- a difference is significant when the paired bootstrap of the Sharpe difference (hierarchy minus the other
  strategy, on the same resampled days) has a 95% interval excluding 0; the p-value is two-sided,
  2 x min(share of differences <= 0, share >= 0). These are the record's own `oos/baseline/<name>/sharpe_diff*`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hierl.data.timestamps import numpy_dates, rows_word
from hierl.errors import HeadlineInputError
from hierl.evaluation.metrics import DAILY_BARS_PER_YEAR, ZERO_DISPERSION, compute_metrics, drawdown_series
from hierl.evaluation.plots import label_nav_and_drawdown
from hierl.evaluation.seeds import percentile_interval, sample_std
from hierl.run.folder import RunFolder
from hierl.tracking.files import write_atomic, write_json

HIERARCHY = "hierarchy_sac"
TABLE_METRICS = ("ann_return", "ann_volatility", "sharpe", "sortino", "max_drawdown", "cvar_95", "turnover")
ALLOCATORS = ("equal_weight", "inverse_volatility", "hrp", "risk_parity", "min_cvar")
MEAN_BLOCK = 10
N_RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_method(rows: str = "days") -> str:
    """The bootstrap in words, its rows named `rows` ("days", or "bars" for a record of intraday bars)."""
    return (
        f"stationary bootstrap (Politis and Romano 1994) of the record's {rows}, mean block {MEAN_BLOCK} {rows}, "
        f"the same resampled {rows} for every seed and strategy"
    )


SIGNIFICANCE_METHOD = "paired stationary bootstrap of the Sharpe ratio difference (hierarchy minus strategy)"


@dataclass(frozen=True)
class SeedReturns:
    """One strategy's test-block days in one seed's run (`dates` as MarketData holds them: datetime64[D] days, or
    datetime64[s] timestamps for a record of intraday bars)."""

    dates: np.ndarray
    returns: np.ndarray
    turnover: np.ndarray
    cash_return: np.ndarray


def _seed_returns(frame: pl.DataFrame) -> SeedReturns:
    frame = frame.sort("date")
    return SeedReturns(
        numpy_dates(frame["date"]),
        frame["return"].to_numpy(),
        frame["turnover"].to_numpy(),
        frame["cash_return"].to_numpy(),
    )


def _record(run_dir: Path) -> RunFolder:
    """The walk-forward run folder, refused in one line when it holds no out-of-sample record."""
    run = RunFolder(run_dir)
    if not run.oos_backtest_path.is_file() or not run.oos_baselines_path.is_file():
        raise HeadlineInputError(
            f"{run_dir} holds no out-of-sample record ({run.oos_backtest_path.name}); run the walk-forward "
            "(python -m hierl.benchmark) into it first"
        )
    return run


def strategy_order(names: set[str]) -> list[str]:
    """The hierarchy, the sleeves alone, the market buy-and-hold, then the allocators (those present)."""
    sleeves = sorted(n for n in names if n.startswith("sleeve_"))
    markets = sorted(n for n in names if n.startswith("buy_and_hold"))
    allocators = [n for n in ALLOCATORS if n in names]
    rest = sorted(names - {HIERARCHY, *sleeves, *markets, *allocators})
    return [HIERARCHY, *sleeves, *markets, *allocators, *rest]


def collect_returns(run_dir: Path) -> dict[str, dict[int, SeedReturns]]:
    """strategy -> seed -> out-of-sample days; every strategy must cover the same dates in every seed."""
    run = _record(run_dir)
    collected: dict[str, dict[int, SeedReturns]] = {HIERARCHY: {}}
    for (seed,), frame in pl.read_parquet(run.oos_backtest_path).group_by("seed"):
        collected[HIERARCHY][int(seed)] = _seed_returns(frame)
    for (name, seed), frame in pl.read_parquet(run.oos_baselines_path).group_by("strategy", "seed"):
        collected.setdefault(str(name), {})[int(seed)] = _seed_returns(frame)
    reference = next(iter(collected[HIERARCHY].values())).dates
    for name, per_seed in collected.items():
        for seed, days in per_seed.items():
            if not np.array_equal(days.dates, reference):
                raise HeadlineInputError(f"{name} in seed {seed} is not on the same days as the hierarchy")
    return {name: collected[name] for name in strategy_order(set(collected))}


def stationary_bootstrap_indices(n_days: int, n_resamples: int, mean_block: int, seed: int) -> np.ndarray:
    """[n_resamples, n_days] day indices of `arch.bootstrap.StationaryBootstrap`: blocks start anywhere and
    continue with probability 1 - 1/mean_block, wrapping around. Indices rather than resampled returns, so every
    seed and strategy is resampled on the same days (the paired comparisons need that)."""
    # Imported here: `arch` imports its whole univariate package (over a second), which the pipeline that imports
    # this module needs only once the runs are done.
    from arch.bootstrap import StationaryBootstrap

    bootstrap = StationaryBootstrap(mean_block, np.arange(n_days), seed=seed)
    return np.stack([days for (days,), _ in bootstrap.bootstrap(n_resamples)])


def resampled_sharpe(excess: np.ndarray, indices: np.ndarray, bars_per_year: float = DAILY_BARS_PER_YEAR) -> np.ndarray:
    """Annualised Sharpe ratio of each resample of `excess` ([B]); 0 where a resample has no dispersion."""
    draws = excess[indices]
    std = draws.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > ZERO_DISPERSION, draws.mean(axis=1) / std * math.sqrt(bars_per_year), 0.0)
    return np.asarray(sharpe)


@dataclass
class Headline:
    """The table (per strategy: per-seed metrics, their means, the Sharpe interval) and the comparisons.

    `record` is the out-of-sample record's first and last day and its length; `folds` each fold's test block.
    `returns` keeps the days the table was built from, so the figure draws the same data without reading the run
    folder again; it is not part of `to_dict`. `bars_per_year` is the record's calendar, which every annualised
    number counts (`walk_forward.json`'s, 252 daily bars when it names none).
    """

    run_dir: Path
    seeds: list[int]
    record: tuple[str, str, int]
    folds: list[dict[str, Any]]
    rows: dict[str, dict[str, Any]]
    comparisons: dict[str, dict[str, float | bool]]
    returns: dict[str, dict[int, SeedReturns]] = field(repr=False)
    bars_per_year: float = DAILY_BARS_PER_YEAR

    @property
    def row_name(self) -> str:
        """What the record's rows are called: "days" for daily bars, "bars" for intraday ones."""
        return rows_word(next(iter(self.returns[HIERARCHY].values())).dates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "seeds": self.seeds,
            "out_of_sample": {
                "start": self.record[0],
                "end": self.record[1],
                "days": self.record[2],
                "folds": self.folds,
            },
            "bootstrap": {
                "method": bootstrap_method(self.row_name),
                "resamples": N_RESAMPLES,
                "confidence": CONFIDENCE,
            },
            "significance": {"method": SIGNIFICANCE_METHOD, "versus_hierarchy": self.comparisons},
            "strategies": self.rows,
        }


def build_headline(run_dir: Path, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Headline:
    """Metrics of every strategy in every seed, their means, Sharpe intervals and the paired comparisons."""
    returns = collect_returns(run_dir)
    seeds = sorted(returns[HIERARCHY])
    reference = returns[HIERARCHY][seeds[0]]
    n_days = len(reference.dates)
    if n_days < 2:
        raise HeadlineInputError("the out-of-sample record has fewer than two days; nothing to measure")
    indices = stationary_bootstrap_indices(n_days, n_resamples, MEAN_BLOCK, seed)
    bars_per_year = record_bars_per_year(run_dir)
    resampled: dict[str, np.ndarray] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name, per_seed in returns.items():
        strategy_seeds = sorted(per_seed)
        per_seed_metrics = {
            s: compute_metrics(d.returns, d.turnover, bars_per_year, d.cash_return) for s, d in per_seed.items()
        }
        mean = {k: float(np.mean([per_seed_metrics[s][k] for s in strategy_seeds])) for k in TABLE_METRICS}
        # The mean over seeds of each resample's Sharpe ratio: the distribution of the mean's sampling error.
        resampled[name] = np.mean(
            [
                resampled_sharpe(per_seed[s].returns - per_seed[s].cash_return, indices, bars_per_year)
                for s in strategy_seeds
            ],
            axis=0,
        )
        low, high = percentile_interval(resampled[name], CONFIDENCE)
        sharpes = [per_seed_metrics[s]["sharpe"] for s in strategy_seeds]
        rows[name] = {
            "mean": mean,
            "sharpe_ci95": [low, high],
            "sharpe_std_over_seeds": sample_std(sharpes),
            "seeds": strategy_seeds,
            "per_seed": {str(s): per_seed_metrics[s] for s in strategy_seeds},
        }
    comparisons: dict[str, dict[str, float | bool]] = {}
    for name in rows:
        if name == HIERARCHY:
            continue
        difference = resampled[HIERARCHY] - resampled[name]
        low, high = percentile_interval(difference, CONFIDENCE)
        p_value = min(1.0, 2.0 * min(float(np.mean(difference <= 0.0)), float(np.mean(difference >= 0.0))))
        comparisons[name] = {
            "sharpe_difference": rows[HIERARCHY]["mean"]["sharpe"] - rows[name]["mean"]["sharpe"],
            "ci95_low": low,
            "ci95_high": high,
            "p_value": p_value,
            "significant": bool(low > 0.0 or high < 0.0),
        }
    dates = reference.dates
    record = (str(dates[0]), str(dates[-1]), n_days)
    return Headline(run_dir, seeds, record, _fold_blocks(run_dir), rows, comparisons, returns, bars_per_year)


def record_bars_per_year(run_dir: Path) -> float:
    """The bars a year of the record's calendar, as `walk_forward.json` records them (daily when it does not: a
    record from before calendars was always daily)."""
    return float(RunFolder(run_dir).read_walk_forward().get("bars_per_year", DAILY_BARS_PER_YEAR))


def _fold_blocks(run_dir: Path) -> list[dict[str, Any]]:
    """Each fold's training start and test block, as `walk_forward.json` records them."""
    keys = ("fold", "train_start", "test_start", "test_end")
    return [{key: fold[key] for key in keys} for fold in RunFolder(run_dir).read_walk_forward()["folds"]]


def _verdict(name: str, comparison: dict[str, float | bool]) -> str:
    difference = float(comparison["sharpe_difference"])
    direction = "higher" if difference > 0 else "lower"
    if comparison["significant"]:
        word = "beats" if difference > 0 else "does not beat (it is significantly worse than)"
        return f"The hierarchy {word} {name}: Sharpe {direction} by {abs(difference):.2f}."
    return (
        f"The hierarchy does not significantly differ from {name}: Sharpe {direction} by {abs(difference):.2f}, "
        f"within noise (p = {float(comparison['p_value']):.2f})."
    )


def headline_markdown(headline: Headline, command: str, notes: str) -> str:
    """The report: what was run, how it is measured, the table, the comparisons in plain words."""
    start, end, days = headline.record
    unit = headline.row_name
    blocks = ", ".join(f"{fold['test_start']}..{fold['test_end']}" for fold in headline.folds)
    lines = [
        "# Headline results",
        "",
        f"Regenerate: `{command}`",
        "",
        f"Out-of-sample record: {start} to {end} ({days} {unit}), the test blocks of {len(headline.folds)} "
        f"walk-forward folds ({blocks}) stitched, each {unit[:-1]} tested once, the same {unit} for every strategy "
        "and seed, "
        f"net of trading costs and borrow fees. Seeds: {headline.seeds}. Metrics are means over seeds of each "
        f"seed's record (Sharpe and Sortino over the cash rate, annualised with {headline.bars_per_year:g} bars a "
        "year; max drawdown and "
        "CVaR 95% as positive losses; turnover annualised).",
        "",
        notes,
        "",
        f"Sharpe 95% interval: {bootstrap_method(unit)}, {N_RESAMPLES} resamples; the interval is that of the mean "
        "over seeds.",
        "",
        "| strategy | ann. return | volatility | Sharpe | Sharpe 95% CI | Sortino | max drawdown | CVaR 95 "
        "| turnover |",
        "| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in headline.rows.items():
        m = row["mean"]
        low, high = row["sharpe_ci95"]
        lines.append(
            f"| {name} | {m['ann_return']:.2%} | {m['ann_volatility']:.2%} | {m['sharpe']:.2f} | "
            f"[{low:.2f}, {high:.2f}] | {m['sortino']:.2f} | {m['max_drawdown']:.2%} | {m['cvar_95']:.2%} | "
            f"{m['turnover']:.2f} |"
        )
    lines += [
        "",
        f"## Is the hierarchy better? ({SIGNIFICANCE_METHOD}, 95%)",
        "",
        "| versus | Sharpe difference | 95% CI | p-value | significant |",
        "| --- | ---: | :---: | ---: | :---: |",
    ]
    for name, c in headline.comparisons.items():
        lines.append(
            f"| {name} | {float(c['sharpe_difference']):+.2f} | [{float(c['ci95_low']):+.2f}, "
            f"{float(c['ci95_high']):+.2f}] | {float(c['p_value']):.3f} | {'yes' if c['significant'] else 'no'} |"
        )
    lines += ["", *(f"- {_verdict(name, c)}" for name, c in headline.comparisons.items())]
    lines += ["", _deflated_sharpe_line(headline.run_dir)]
    lines += ["", "![equity curves, drawdowns and sleeve weights](headline.png)", ""]
    return "\n".join(lines)


def _deflated_sharpe_line(run_dir: Path) -> str:
    """The record's deflated Sharpe ratio (`oos/dsr` of its metrics.json), over every configuration it tried."""
    metrics = RunFolder(run_dir).read_metrics()
    if "oos/dsr" not in metrics:
        return "Deflated Sharpe ratio: not computed (the record's returns have no dispersion)."
    trials = int(metrics["oos/dsr_trials"])
    return (
        f"Deflated Sharpe ratio of the hierarchy (Bailey and Lopez de Prado 2014; the probability that its true "
        f"Sharpe ratio is above 0 given {trials} configuration(s) tried, one per seed): {metrics['oos/dsr']:.2f}."
    )


def _mean_sleeve_weights(run_dir: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    positions = pl.read_parquet(RunFolder(run_dir).oos_positions_path)
    mean = (
        positions.filter(pl.col("level") == "sleeve")
        .group_by("date", "sleeve")
        .agg(pl.col("position").mean())
        .pivot(on="sleeve", index="date", values="position")
        .sort("date")
    )
    sleeves = sorted(c for c in mean.columns if c != "date")
    return numpy_dates(mean["date"]), sleeves, mean.select(sleeves).to_numpy()


def plot_headline(headline: Headline, path: Path, shown: list[str]) -> Path:
    """Mean NAV over seeds with its min-max band, the mean curves' drawdowns, and the mean sleeve weights."""
    figure = Figure(figsize=(11, 10), constrained_layout=True)
    FigureCanvasAgg(figure)
    nav_axes, drawdown_axes, weight_axes = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 1.5]}
    )
    for name in shown:
        per_seed = headline.returns[name]
        navs = np.array([np.cumprod(1.0 + d.returns) for d in per_seed.values()])
        dates = next(iter(per_seed.values())).dates
        mean_nav = navs.mean(axis=0)
        (line,) = nav_axes.plot(dates, mean_nav, label=name, linewidth=2.0 if name == HIERARCHY else 1.1)
        if len(navs) > 1:
            nav_axes.fill_between(dates, navs.min(axis=0), navs.max(axis=0), color=line.get_color(), alpha=0.15)
        mean_returns = np.concatenate(([mean_nav[0] - 1.0], mean_nav[1:] / mean_nav[:-1] - 1.0))
        drawdown_axes.plot(dates, -100.0 * drawdown_series(mean_returns), color=line.get_color(), linewidth=1.0)
    label_nav_and_drawdown(
        nav_axes,
        drawdown_axes,
        f"Out of sample, {len(headline.folds)} walk-forward folds (dotted: fold starts), mean NAV over seeds "
        f"{headline.seeds} (band: min to max over seeds)",
        "Drawdown of mean NAV (%)",
    )
    for fold in headline.folds[1:]:
        for axes in (nav_axes, drawdown_axes):
            axes.axvline(np.datetime64(fold["test_start"]), color="grey", linestyle=":", linewidth=0.8)
    dates, sleeves, weights = _mean_sleeve_weights(headline.run_dir)
    weight_axes.stackplot(dates, weights.T, labels=sleeves, alpha=0.8)
    weight_axes.set_ylabel("SAC sleeve weight (mean over seeds)")
    weight_axes.legend(loc="upper left", fontsize="small")
    weight_axes.grid(alpha=0.3)

    return write_atomic(path, lambda target: figure.savefig(target, format="png", dpi=110))


def write_headline(headline: Headline, out_dir: Path, command: str, notes: str) -> list[Path]:
    """`headline.md`, `headline.json` and `headline.png` in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = [n for n in headline.rows if n == HIERARCHY or n.startswith(("sleeve_", "buy_and_hold"))]
    shown += [n for n in ("equal_weight", "hrp") if n in headline.rows]
    markdown = headline_markdown(headline, command, notes)
    md_path = out_dir / "headline.md"
    write_atomic(md_path, lambda target: target.write_text(markdown))
    json_path = write_json(out_dir / "headline.json", {**headline.to_dict(), "command": command, "notes": notes})
    png_path = plot_headline(headline, out_dir / "headline.png", shown)
    return [md_path, json_path, png_path]
