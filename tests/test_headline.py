"""The headline: experiments/benchmark.py at smoke budgets; every number traced back to the run folders."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO
from runs import experiment, read_json, run_ok

from hierl.evaluation.metrics import sharpe_ratio
from hierl.reports.headline import (
    HIERARCHY,
    MEAN_BLOCK,
    N_RESAMPLES,
    resampled_sharpe,
    stationary_bootstrap_indices,
)

SEEDS = (0, 1)
TABLE = ("ann_return", "ann_volatility", "sharpe", "sortino", "max_drawdown", "cvar_95", "turnover")


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("benchmark")
    seeds = f"seeds=[{','.join(map(str, SEEDS))}]"
    run_ok(
        experiment("benchmark", "debug=smoke", seeds, f"paths.root_dir={root}", f"hydra.run.dir={root / 'run'}"),
        cwd=REPO,
    )
    return root, read_json(root / "docs" / "results" / "headline.json")


def run_metrics(root: Path, seed: int) -> dict[str, float]:
    metrics: dict[str, float] = read_json(root / "run" / "sac" / f"seed_{seed}" / "metrics.json")
    return metrics


def strategy_days(root: Path, seed: int, strategy: str) -> pl.DataFrame:
    """One strategy's test-block days in one seed's run folder, in date order."""
    folder = root / "run" / "sac" / f"seed_{seed}"
    if strategy == HIERARCHY:
        frame = pl.read_parquet(folder / "backtest.parquet")
    else:
        frame = pl.read_parquet(folder / "baselines.parquet").filter(pl.col("strategy") == strategy)
    return frame.filter(pl.col("split") == "test").sort("date")


def mean_resampled_sharpe(root: Path, strategy: str) -> np.ndarray:
    """[resamples] annualised Sharpe ratio over cash of each stationary-bootstrap resample, averaged over seeds.

    The resampled days are the headline's (`stationary_bootstrap_indices`, checked on its own below); the Sharpe
    ratios are written out here: mean over sample standard deviation of the excess returns, 0 without dispersion.
    """
    per_seed = []
    for seed in SEEDS:
        days = strategy_days(root, seed, strategy)
        excess = (days["return"] - days["cash_return"]).to_numpy()
        indices = stationary_bootstrap_indices(len(excess), N_RESAMPLES, MEAN_BLOCK, seed=0)
        sharpes = []
        for draw in excess[indices]:
            mean = draw.sum() / draw.size
            std = math.sqrt(((draw - mean) ** 2).sum() / (draw.size - 1))
            sharpes.append(mean / std * math.sqrt(252) if std > 1e-12 else 0.0)
        per_seed.append(sharpes)
    return np.asarray(per_seed).mean(axis=0)


def central_interval(values: np.ndarray) -> tuple[float, float]:
    """The 2.5% and 97.5% quantiles, interpolated linearly between order statistics."""
    ordered = np.sort(values)

    def quantile(q: float) -> float:
        position = q * (ordered.size - 1)
        below = math.floor(position)
        above = min(below + 1, ordered.size - 1)
        return float(ordered[below] + (position - below) * (ordered[above] - ordered[below]))

    return quantile(0.025), quantile(0.975)


@pytest.mark.slow
def test_the_table_is_the_run_folders_metrics_averaged_over_seeds(benchmark: tuple[Path, dict]) -> None:
    root, headline = benchmark
    strategies = headline["strategies"]
    # The hierarchy, each sleeve alone, the S&P 500 held alone and the allocators, all over both seeds.
    expected = {HIERARCHY, "sleeve_equity", "sleeve_index", "sleeve_commodity", "buy_and_hold_SP500"}
    expected |= {"equal_weight", "inverse_volatility", "hrp", "min_cvar"}
    assert expected <= set(strategies)
    assert headline["seeds"] == list(SEEDS)
    resampled = {}
    for name, row in strategies.items():
        prefix = "test" if name == HIERARCHY else f"test/baseline/{name}"
        assert row["seeds"] == list(SEEDS) and sorted(row["per_seed"]) == [str(seed) for seed in SEEDS]
        for metric in TABLE:
            per_seed = [run_metrics(root, seed)[f"{prefix}/{metric}"] for seed in SEEDS]
            for seed, value in zip(SEEDS, per_seed, strict=True):
                assert row["per_seed"][str(seed)][metric] == pytest.approx(value, rel=1e-12, abs=1e-15), (seed, metric)
            assert row["mean"][metric] == pytest.approx(sum(per_seed) / len(per_seed), rel=1e-12, abs=1e-15)
        # The interval recomputed from the run folders' daily returns: the same resampled days, each resample's
        # Sharpe ratio averaged over the seeds, and the 2.5% and 97.5% order statistics of those means.
        resampled[name] = mean_resampled_sharpe(root, name)
        low, high = row["sharpe_ci95"]
        assert (low, high) == pytest.approx(central_interval(resampled[name]), rel=1e-9, abs=1e-12)
        assert low < high
    for name, comparison in headline["significance"]["versus_hierarchy"].items():
        difference = strategies[HIERARCHY]["mean"]["sharpe"] - strategies[name]["mean"]["sharpe"]
        assert comparison["sharpe_difference"] == pytest.approx(difference)
        paired = central_interval(resampled[HIERARCHY] - resampled[name])
        assert (comparison["ci95_low"], comparison["ci95_high"]) == pytest.approx(paired, rel=1e-9, abs=1e-12)
        assert comparison["significant"] == (comparison["ci95_low"] > 0 or comparison["ci95_high"] < 0)
    markdown = (root / "docs" / "results" / "headline.md").read_text()
    assert f"| {HIERARCHY} | {strategies[HIERARCHY]['mean']['ann_return']:.2%} |" in markdown
    assert "stationary bootstrap" in markdown and "validation block" in markdown
    assert (root / "docs" / "results" / "headline.png").stat().st_size > 10_000


def test_stationary_bootstrap_draws_wrapped_blocks_of_the_stated_mean_length() -> None:
    n_days = 300
    indices = stationary_bootstrap_indices(n_days, 400, 10, seed=0)
    assert indices.shape == (400, n_days) and indices.min() >= 0 and indices.max() < n_days
    continues = indices[:, 1:] == (indices[:, :-1] + 1) % n_days
    # A new block starts with probability 1/10 (and a fresh start equal to the next day looks like a continuation).
    assert 1.0 - continues.mean() == pytest.approx(0.1 * (1 - 1 / n_days), abs=0.005)


def test_resampled_sharpe_of_the_identity_resample_is_the_sharpe_ratio() -> None:
    rng = np.random.default_rng(1)
    returns, cash = rng.normal(0.0005, 0.01, 250), np.full(250, 0.0001)
    identity = np.arange(250)[None, :]
    assert resampled_sharpe(returns - cash, identity)[0] == pytest.approx(sharpe_ratio(returns, cash), rel=1e-12)
