"""The headline: `python -m hierl.benchmark` at smoke budgets on a synthetic market; every number traced back to the
walk-forward's out-of-sample record."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO
from runs import WALK_FORWARD_SMOKE, experiment, read_json, run_ok

from hierl.config.data import SyntheticConfig
from hierl.data.sources.synthetic import generate_synthetic
from hierl.errors import HeadlineInputError
from hierl.evaluation.metrics import sharpe_ratio
from hierl.reports.headline import (
    HIERARCHY,
    MEAN_BLOCK,
    N_RESAMPLES,
    build_headline,
    resampled_sharpe,
    stationary_bootstrap_indices,
)

SEEDS = (0, 1)
TABLE = ("ann_return", "ann_volatility", "sharpe", "sortino", "max_drawdown", "cvar_95", "turnover")
SMOKE = (*WALK_FORWARD_SMOKE, "multistage.distributed=false", f"walk_forward.seeds=[{','.join(map(str, SEEDS))}]")


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("benchmark")
    prices = root / "prices.parquet"
    generate_synthetic(SyntheticConfig(n_assets=2, n_days=700, asset_classes=["equity", "commodity"])).write_parquet(
        prices
    )
    run_ok(
        experiment(
            "benchmark", *SMOKE, f"data.path={prices}", f"paths.root_dir={root}", f"hydra.run.dir={root / 'run'}"
        ),
        cwd=REPO,
    )
    return root, read_json(root / "docs" / "results" / "headline.json")


def record_metrics(root: Path) -> dict[str, float]:
    metrics: dict[str, float] = read_json(root / "run" / "metrics.json")
    return metrics


def strategy_days(root: Path, seed: int, strategy: str) -> pl.DataFrame:
    """One strategy's out-of-sample days in one seed, in date order, from the walk-forward's record."""
    if strategy == HIERARCHY:
        frame = pl.read_parquet(root / "run" / "oos_backtest.parquet")
    else:
        frame = pl.read_parquet(root / "run" / "oos_baselines.parquet").filter(pl.col("strategy") == strategy)
    return frame.filter(pl.col("seed") == seed).sort("date")


def independent_sharpe(days: pl.DataFrame) -> float:
    """Annualised Sharpe ratio over cash written out: mean over sample standard deviation times sqrt(252)."""
    excess = (days["return"] - days["cash_return"]).to_list()
    mean = sum(excess) / len(excess)
    std = math.sqrt(sum((x - mean) ** 2 for x in excess) / (len(excess) - 1))
    return mean / std * math.sqrt(252)


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
def test_the_table_is_the_out_of_sample_record_measured_and_averaged_over_seeds(benchmark: tuple[Path, dict]) -> None:
    root, headline = benchmark
    strategies = headline["strategies"]
    metrics = record_metrics(root)
    # The hierarchy, each sleeve alone and the allocators, all over both seeds.
    expected = {HIERARCHY, "sleeve_equity", "sleeve_commodity", "equal_weight", "inverse_volatility", "hrp"}
    assert expected <= set(strategies)
    assert headline["seeds"] == list(SEEDS)
    # The record: every fold's test block once, in order, and nothing else.
    folds = read_json(root / "run" / "walk_forward.json")["folds"]
    record = headline["out_of_sample"]
    assert [f["test_start"] for f in record["folds"]] == [f["test_start"] for f in folds]
    assert (record["start"], record["end"]) == (folds[0]["test_start"], folds[-1]["test_end"])
    assert record["days"] == strategy_days(root, SEEDS[0], HIERARCHY).height
    # Each fold names the machine every unit ran on: per seed, each class's PPO and inner PPO unit, and SAC.
    for fold in folds:
        assert len(fold["nodes"]) == len(SEEDS) * (2 * (1 + len(fold["oof"])) + 1)
        assert all(node == {"hostname": socket.gethostname()} for node in fold["nodes"].values())
    resampled = {}
    for name, row in strategies.items():
        prefix = "oos" if name == HIERARCHY else f"oos/baseline/{name}"
        assert row["seeds"] == list(SEEDS) and sorted(row["per_seed"]) == [str(seed) for seed in SEEDS]
        for seed in SEEDS:
            sharpe = row["per_seed"][str(seed)]["sharpe"]
            assert sharpe == pytest.approx(independent_sharpe(strategy_days(root, seed, name)), rel=1e-9)
        for metric in TABLE:
            # The walk-forward measured its record with the same means over seeds.
            assert row["mean"][metric] == pytest.approx(metrics[f"{prefix}/{metric}"], rel=1e-12, abs=1e-15), metric
        # The interval recomputed from the record's daily returns: the same resampled days, each resample's
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
        # The same paired test the walk-forward wrote into its metrics.json.
        assert comparison["ci95_low"] == pytest.approx(metrics[f"oos/baseline/{name}/sharpe_diff_ci95_low"])
        assert comparison["significant"] == (comparison["ci95_low"] > 0 or comparison["ci95_high"] < 0)
    markdown = (root / "docs" / "results" / "headline.md").read_text()
    assert f"| {HIERARCHY} | {strategies[HIERARCHY]['mean']['ann_return']:.2%} |" in markdown
    assert "stationary bootstrap" in markdown and "validation block" in markdown and "walk-forward" in markdown
    assert f"{metrics['oos/dsr']:.2f}" in markdown.split("Deflated Sharpe ratio")[1]
    assert (root / "docs" / "results" / "headline.png").stat().st_size > 10_000


def test_a_folder_without_an_out_of_sample_record_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "sac" / "seed_0").mkdir(parents=True)  # a pipeline run, not a walk-forward
    with pytest.raises(HeadlineInputError, match="no out-of-sample record"):
        build_headline(tmp_path)


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
