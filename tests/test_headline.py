"""The headline: experiments/benchmark.py at smoke budgets; every number traced back to the run folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from runs import experiment, read_json, run_ok

from hierl.evaluation.headline import HIERARCHY, resampled_sharpe, stationary_bootstrap_indices
from hierl.evaluation.metrics import sharpe_ratio

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


@pytest.mark.slow
def test_the_table_is_the_run_folders_metrics_averaged_over_seeds(benchmark: tuple[Path, dict]) -> None:
    root, headline = benchmark
    strategies = headline["strategies"]
    # The hierarchy, each sleeve alone, the S&P 500 held alone and the allocators, all over both seeds.
    expected = {HIERARCHY, "sleeve_equity", "sleeve_index", "sleeve_commodity", "buy_and_hold_SP500"}
    expected |= {"equal_weight", "inverse_volatility", "hrp", "min_cvar"}
    assert expected <= set(strategies)
    for name, row in strategies.items():
        prefix = "test" if name == HIERARCHY else f"test/baseline/{name}"
        for metric in TABLE:
            per_seed = [run_metrics(root, seed)[f"{prefix}/{metric}"] for seed in SEEDS]
            assert row["per_seed"]["0"][metric] == pytest.approx(per_seed[0], rel=1e-12, abs=1e-15)
            assert row["mean"][metric] == pytest.approx(np.mean(per_seed), rel=1e-12, abs=1e-15)
        low, high = row["sharpe_ci95"]
        assert low < high
    for name, comparison in headline["significance"]["versus_hierarchy"].items():
        difference = strategies[HIERARCHY]["mean"]["sharpe"] - strategies[name]["mean"]["sharpe"]
        assert comparison["sharpe_difference"] == pytest.approx(difference)
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
