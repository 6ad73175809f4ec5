"""Diagnostics in every single-class run folder and the selection made visible.

The new metrics.json keys (`<split>/gross_sharpe`, `cost_annual`, `ic`, `position_autocorr`, for the agent and
each baseline; `val/sharpe_final`, `val/n_evaluations`) are recomputed here from the tables they describe
(backtest.parquet, baselines.parquet, positions.parquet and the market's own returns), with numpy and polars
written another way than the package's; the metric functions are checked against hand-computed values; the
figures must be real images.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import polars as pl
import pytest
from envs_fixtures import make_market
from PIL import Image
from plot_checks import svg_backend  # noqa: F401  (a fixture)
from runs import hierl_train, run_ok
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from training_checks import RolloutRewards

import hierl
from hierl.agents.checkpointing import RolloutCheckpointCallback, restore_training_state
from hierl.agents.model_files import load_model
from hierl.agents.ppo import PPOAgentFactory, make_training_vec_env
from hierl.agents.training import finished_training
from hierl.agents.validation import TRAIN_REWARD_KEY, ValidationCallback, selection_metrics
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.data.pipeline import load_market_data
from hierl.envs.market_core import CostModel, simulate_portfolio
from hierl.evaluation.backtest import Backtest
from hierl.evaluation.diagnostics import (
    DIAGNOSTIC_KEYS,
    RowReturns,
    backtest_diagnostics,
    information_coefficient,
    position_autocorrelation,
)
from hierl.evaluation.metrics import MetricInputError, annualised_cost, gross_sharpe_ratio, sharpe_ratio
from hierl.evaluation.plots import PlotInputError, plot_learning_curve, plot_positions
from hierl.evaluation.report import block_title, results_table
from hierl.orchestration.policy_evaluation import evaluate_split
from hierl.runtime import ThreadChoice
from hierl.tracking.checkpoints import list_checkpoints

SPLITS = ("val", "test")
T, F = True, False


# ---------------------------------------------------------------------------------------------------------------
# Independent recomputation from the tables of a run folder.


def recompute_cost_metrics(frame: pl.DataFrame) -> dict[str, float]:
    """gross_sharpe and cost_annual from one strategy's rows of backtest.parquet or baselines.parquet."""
    rows = frame.sort("date")
    gross = rows["return"].to_numpy() + rows["cost"].to_numpy()
    excess = gross - rows["cash_return"].to_numpy()
    spread = excess.std(ddof=1)
    return {
        "gross_sharpe": 0.0 if spread < 1e-12 else float(excess.mean() / spread * math.sqrt(252)),
        "cost_annual": float(rows["cost"].sum() / rows.height * 252),
    }


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """np.corrcoef, 0.0 where undefined (the documented convention)."""
    if x.size < 2 or np.std(x) < 1e-12 or np.std(y) < 1e-12:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def market_table(market: MarketData) -> pl.DataFrame:
    """date, symbol, return (the close-to-close return ending on `date`) and tradable (priced on `date` and on
    the trading day before it) of every row after the first, in long form."""
    dates = market.dates.astype("datetime64[D]")
    n_rows, n_assets = market.returns.shape
    return pl.DataFrame(
        {
            "date": np.repeat(dates[1:], n_assets),
            "symbol": list(market.symbols) * (n_rows - 1),
            "asset_return": market.returns[1:].reshape(-1),
            "tradable": (market.mask[1:] & market.mask[:-1]).reshape(-1),
        },
        schema={"date": pl.Date, "symbol": pl.String, "asset_return": pl.Float64, "tradable": pl.Boolean},
    )


def recompute_position_metrics(positions: pl.DataFrame, market: MarketData) -> dict[str, float]:
    """ic and position_autocorr from one strategy's rows of positions.parquet (date, symbol, position)."""
    joined = positions.join(market_table(market), on=["date", "symbol"], how="left").sort("symbol", "date")
    assert joined["asset_return"].null_count() == 0, "a position's date is not a market date"
    tradable = joined.filter(pl.col("tradable"))
    ic = pearson(tradable["position"].to_numpy(), tradable["asset_return"].to_numpy())
    pairs = joined.with_columns(
        pl.col("position").shift(1).over("symbol").alias("previous"),
        pl.col("tradable").shift(1).over("symbol").alias("previous_tradable"),
    ).filter(pl.col("tradable") & pl.col("previous_tradable"))
    autocorr = pearson(pairs["previous"].to_numpy(), pairs["position"].to_numpy())
    return {"ic": ic, "position_autocorr": autocorr}


def assert_close(metrics: dict[str, float], prefix: str, expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert metrics[f"{prefix}/{key}"] == pytest.approx(value, rel=1e-9, abs=1e-12), f"{prefix}/{key}"


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert image.format == "PNG" and width >= 600 and height >= 400, (path, image.size)
        # A blank canvas has one colour; a figure with axes, lines and text has many.
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50, path


# ---------------------------------------------------------------------------------------------------------------
# The metric functions against hand-computed numbers.


def test_cost_annual_is_the_mean_daily_cost_times_252() -> None:
    # (0.001 + 0.003 + 0 + 0.002) / 4 = 0.0015 a day; x 252 = 0.378 a year.
    assert annualised_cost(np.array([0.001, 0.003, 0.0, 0.002])) == pytest.approx(0.378, rel=1e-12)
    with pytest.raises(MetricInputError, match="cost"):
        annualised_cost(np.array([0.001, np.nan]))


def test_gross_sharpe_is_the_sharpe_of_net_return_plus_cost_over_cash() -> None:
    net = np.array([0.01, -0.02, 0.015, 0.0])
    cost = np.array([0.001, 0.002, 0.0, 0.001])
    cash = np.full(4, 1e-4)
    excess = np.array([0.0109, -0.0181, 0.0149, 0.0009])  # net + cost - cash, by hand
    expected = excess.mean() / excess.std(ddof=1) * math.sqrt(252)
    assert gross_sharpe_ratio(net, cost, cash) == pytest.approx(expected, rel=1e-10)
    assert gross_sharpe_ratio(net, np.zeros(4), cash) == sharpe_ratio(net, cash)
    with pytest.raises(MetricInputError, match="one value per period"):
        gross_sharpe_ratio(net, cost[:3], cash)


def test_ic_pools_the_tradable_symbol_days_into_one_correlation() -> None:
    weights = np.array([[1.0, 9.0], [9.0, 2.0], [3.0, 9.0]])
    returns = np.array([[1.0, 5.0], [5.0, 3.0], [2.0, 5.0]])
    tradable = np.array([[T, F], [F, T], [T, F]])
    # Pooled pairs (1, 1), (2, 3), (3, 2): centred (-1, -1), (0, 1), (1, 0); covariance 1/3 over variances 2/3.
    assert information_coefficient(weights, returns, tradable) == pytest.approx(0.5, rel=1e-12)
    # The untradable cells (9, 5) would pull it towards 1 if they were counted.
    assert information_coefficient(weights, returns, np.ones_like(tradable)) > 0.9


def test_position_autocorr_pairs_consecutive_rows_within_each_symbol() -> None:
    weights = np.array([[1.0, 5.0], [2.0, 1.0], [3.0, 3.0]])
    tradable = np.array([[T, F], [T, T], [T, T]])
    # Symbol 0 gives (1, 2), (2, 3); symbol 1, untradable on row 0, gives only (1, 3). Pooled: x = 1, 2, 1 and
    # y = 2, 3, 3, centred -1/3, 2/3, -1/3 and -2/3, 1/3, 1/3: covariance 1/3 over variances 2/3.
    assert position_autocorrelation(weights, tradable) == pytest.approx(0.5, rel=1e-12)
    # Pairs across symbols (a flattened array) or over the untradable row would give other numbers.
    assert position_autocorrelation(weights, np.ones_like(tradable)) == pytest.approx(
        np.corrcoef([1, 2, 5, 1], [2, 3, 1, 3])[0, 1], rel=1e-12
    )
    flipping = np.array([[0.5], [-0.5], [0.5], [-0.5]])
    assert position_autocorrelation(flipping, np.ones((4, 1), dtype=bool)) == -1.0


def test_undefined_correlations_are_reported_as_zero() -> None:
    constant = np.full((5, 2), 0.05)
    varying = np.arange(10.0).reshape(5, 2)
    everywhere, nowhere = np.ones((5, 2), dtype=bool), np.zeros((5, 2), dtype=bool)
    assert information_coefficient(constant, varying, everywhere) == 0.0
    assert information_coefficient(varying, varying, nowhere) == 0.0
    assert position_autocorrelation(constant, everywhere) == 0.0
    one_pair = np.zeros((5, 2), dtype=bool)
    one_pair[1:3, 0] = True
    assert position_autocorrelation(varying, one_pair) == 0.0


def test_row_returns_are_the_next_rows_return_and_tradable_at_both_ends() -> None:
    mask = np.ones((10, 2), dtype=bool)
    mask[3, 0] = False
    mask[6, 1] = False
    market = make_market(n_days=10, n_assets=2, mask=mask)
    rows = RowReturns.of(market, np.array([2, 3, 5]))
    np.testing.assert_array_equal(rows.returns, market.returns[[3, 4, 6]])
    np.testing.assert_array_equal(rows.tradable, [[F, T], [F, T], [T, F]])


def small_backtest(weights: np.ndarray) -> Backtest:
    returns = np.random.default_rng(1).normal(0.0, 0.01, size=weights.shape)
    result = simulate_portfolio(weights, returns, np.zeros(len(weights)), CostModel())
    dates = np.busday_offset(np.datetime64("2024-03-01"), np.arange(len(weights)), roll="forward")
    symbols = tuple(f"S{i}" for i in range(weights.shape[1]))
    return Backtest("agent", dates, symbols, weights, result, np.zeros(len(weights)))


def test_diagnostics_refuse_asset_rows_of_another_shape() -> None:
    backtest = small_backtest(np.full((6, 2), 0.25))
    with pytest.raises(ValueError, match="same backtest"):
        backtest_diagnostics(backtest, RowReturns(np.zeros((5, 2)), np.ones((5, 2), dtype=bool)))


def test_selection_metrics_are_the_last_score_and_the_count() -> None:
    history = [
        {"timestep": 64.0, "sharpe": 0.1},
        {"timestep": 128.0, "sharpe": 0.9},
        {"timestep": 192.0, "sharpe": 0.2},
    ]
    assert selection_metrics(history, "sharpe") == {"val/sharpe_final": 0.2, "val/n_evaluations": 3.0}
    assert selection_metrics([], "sharpe") == {}


# ---------------------------------------------------------------------------------------------------------------
# The evaluation of one split, on a market with missing prices: every strategy's diagnostics from its tables.


def gappy_market() -> MarketData:
    """200 days of 3 symbols: S1 lists 12 days into the test block, S2 misses three test days."""
    mask = np.ones((200, 3), dtype=bool)
    mask[:172, 1] = False
    mask[[175, 181, 190], 2] = False
    returns = np.random.default_rng(11).normal(0.0003, 0.01, size=(200, 3))
    returns[0] = 0.0
    returns[~mask] = 0.0
    returns[1:][~mask[:-1]] = 0.0  # no return on the first priced day after a gap
    return make_market(n_days=200, n_assets=3, n_features=2, seed=4, returns=returns, mask=mask)


def varying_policy(observations: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for a policy: positions that move with the first feature of the window."""
    return np.tanh(3.0 * observations[:, :1]).astype(np.float32)


def test_every_strategys_diagnostics_match_its_tables_on_a_market_with_gaps() -> None:
    market = gappy_market()
    env_cfg = EnvConfig(window=8, episode_length=100)
    evaluation = evaluate_split(varying_policy, market, "test", env_cfg, RewardConfig())
    metrics = evaluation.metrics()
    assert not evaluation.assets.tradable.all(), "the market must have untradable symbol-days"
    for name, backtest in {"agent": evaluation.agent, **evaluation.baselines}.items():
        prefix = "test" if name == "agent" else f"test/baseline/{name}"
        assert {f"{prefix}/{key}" for key in DIAGNOSTIC_KEYS} <= set(metrics)
        assert_close(metrics, prefix, recompute_cost_metrics(backtest.to_frame()))
        assert_close(metrics, prefix, recompute_position_metrics(backtest.positions_frame(), market))
    # The policy's positions vary, so its numbers are real correlations, not the 0.0 of an undefined one.
    assert metrics["test/ic"] != 0.0 and metrics["test/position_autocorr"] != 0.0
    assert metrics["test/cost_annual"] > 0.0
    # The existing metrics are the backtest's own, unchanged.
    assert metrics["test/sharpe"] == evaluation.agent.metrics()["sharpe"]


# ---------------------------------------------------------------------------------------------------------------
# The figures.


@pytest.mark.usefixtures("svg_backend")
def test_the_positions_figure_is_a_png_and_leaves_the_backend_alone(tmp_path: Path) -> None:
    weights = np.random.default_rng(2).uniform(-0.3, 0.3, size=(60, 4))
    written = plot_positions(small_backtest(weights), tmp_path / "positions_test.png", "positions")
    assert written == tmp_path / "positions_test.png"
    assert_valid_png(written)
    assert [p.name for p in tmp_path.iterdir()] == ["positions_test.png"]
    assert matplotlib.get_backend() == "svg"
    plot_positions(small_backtest(np.zeros((5, 2))), tmp_path / "cash.png", "all cash")  # no scale of zero width
    with pytest.raises(PlotInputError, match="weights"):
        plot_positions(small_backtest(np.zeros((0, 2))), tmp_path / "none.png", "empty")


@pytest.mark.usefixtures("svg_backend")
def test_the_learning_curve_is_a_png_with_a_gap_for_a_missing_reward(tmp_path: Path) -> None:
    path = plot_learning_curve(
        np.array([512.0, 1024.0, 1536.0]),
        np.array([0.2, 0.7, 0.4]),
        np.array([-0.3, np.nan, -0.1]),
        {"cash": 0.0, "buy_and_hold": 1.1},
        1024.0,
        tmp_path / "learning_curve.png",
        "learning",
    )
    assert_valid_png(path)
    assert matplotlib.get_backend() == "svg"
    with pytest.raises(PlotInputError, match="at least one evaluation"):
        plot_learning_curve(np.array([]), np.array([]), np.array([]), {}, 0.0, tmp_path / "x.png", "none")
    with pytest.raises(PlotInputError, match="one value per evaluation"):
        plot_learning_curve(np.ones(2), np.ones(3), np.ones(2), {}, 1.0, tmp_path / "x.png", "bad")


def test_the_results_table_names_the_block_dates_and_shows_costs_as_percent() -> None:
    from rich.console import Console

    title = block_title("equity / ppo / seed 0", "test", ("2017-09-18", "2018-12-31"))
    assert title == "equity / ppo / seed 0: test block 2017-09-18..2018-12-31"
    assert block_title("x", "test", None) == "x: test block"
    console = Console(record=True, width=160)
    console.print(results_table({"agent": {"sharpe": 0.5, "cost_annual": 0.0123}}, title))
    text = console.export_text()
    assert "2017-09-18..2018-12-31" in text and "cost_annual" in text and "1.23%" in text


# ---------------------------------------------------------------------------------------------------------------
# Validation: the training reward of each interval, and the selection metrics of a real training.

MARKET = make_market(n_days=400, n_assets=3, n_features=2)
# Episodes run the whole training block (232 steps), longer than the 160 steps each env trains below: no episode
# ends, so SB3's rollout buffer holds the raw rewards (no bootstrapped value added at a truncation).
ENV = EnvConfig(window=8, episode_length=500)
AGENT = PPOConfig(n_steps=32, batch_size=32, n_envs=2, n_epochs=1, net_arch=[8])
ROLLOUT = AGENT.n_steps * AGENT.n_envs


@pytest.mark.slow
def test_validation_rows_hold_the_training_reward_and_selection_reports_the_last_of_n(
    tmp_path: Path, one_torch_thread: None
) -> None:
    scores = iter([0.1, 0.5, 0.2])

    def score(model: BaseAlgorithm) -> dict[str, float]:
        return {"sharpe": next(scores)}

    model = PPOAgentFactory(AGENT).build(make_training_vec_env(MARKET, ENV, RewardConfig(), AGENT.n_envs, 0), seed=0)
    validation = ValidationCallback(score, "sharpe", 2 * ROLLOUT, tmp_path / "best.zip", evaluate_at_end=False)
    rewards = RolloutRewards()
    model.learn(5 * ROLLOUT, callback=CallbackList([validation, rewards]))
    validation.evaluate_final()
    # Validations at 2, 4 and 5 rollouts: the rewards of rollouts 1-2, 3-4 and 5.
    assert [row["timestep"] for row in validation.history] == [2 * ROLLOUT, 4 * ROLLOUT, 5 * ROLLOUT]
    expected = [np.mean(rewards.means[0:2]), np.mean(rewards.means[2:4]), np.mean(rewards.means[4:5])]
    measured = [row[TRAIN_REWARD_KEY] for row in validation.history]
    np.testing.assert_allclose(measured, expected, rtol=1e-6)

    trained = finished_training(model, validation, 0.0, ThreadChoice(threads=1, budget=1, source="auto"))
    assert trained.train_metrics["val/sharpe_final"] == 0.2
    assert trained.train_metrics["val/n_evaluations"] == 3.0
    assert trained.train_metrics["train/best_timestep"] == 4 * ROLLOUT


def sharpe_by_step(model: BaseAlgorithm) -> dict[str, float]:
    return {"sharpe": float(model.num_timesteps % 5)}


def validate_and_checkpoint(directory: Path) -> tuple[ValidationCallback, RolloutCheckpointCallback]:
    """Validation every 2 rollouts, a checkpoint every rollout: every other checkpoint falls between validations."""
    validation = ValidationCallback(sharpe_by_step, "sharpe", 2 * ROLLOUT, directory / "best.zip")
    checkpoints = RolloutCheckpointCallback(directory / "checkpoints", ROLLOUT, 10, {"validation": validation})
    return validation, checkpoints


@pytest.mark.slow
def test_a_resume_between_validations_records_the_same_training_reward(tmp_path: Path, one_torch_thread: None) -> None:
    env = make_training_vec_env(MARKET, ENV, RewardConfig(), AGENT.n_envs, 0)
    straight, checkpoints = validate_and_checkpoint(tmp_path / "straight")
    PPOAgentFactory(AGENT).build(env, seed=0).learn(5 * ROLLOUT, callback=CallbackList([straight, checkpoints]))

    checkpoint = next(c for c in list_checkpoints(tmp_path / "straight" / "checkpoints") if c.timesteps == 3 * ROLLOUT)
    state: dict[str, Any] = checkpoint.state()
    assert state["callbacks"]["validation"]["reward_steps"] == ROLLOUT, "the checkpoint must hold a partial sum"
    model = load_model(PPO, checkpoint.model_path, env=make_training_vec_env(MARKET, ENV, RewardConfig(), 2, 0))
    resumed, resumed_checkpoints = validate_and_checkpoint(tmp_path / "resumed")
    restore_training_state(model, state, {"validation": resumed}, resumed_checkpoints)
    model.learn(2 * ROLLOUT, callback=CallbackList([resumed, resumed_checkpoints]), reset_num_timesteps=False)

    assert [row["timestep"] for row in resumed.history] == [2 * ROLLOUT, 4 * ROLLOUT, 5 * ROLLOUT]
    assert resumed.history == straight.history


# ---------------------------------------------------------------------------------------------------------------
# A real smoke run: every new number of its metrics.json recomputed from its files.

SMOKE = ("agent=ppo", "asset=equity", "debug=smoke", "agent.eval_freq=512")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run_dir = tmp_path_factory.mktemp("diagnostics") / "run"
    return run_dir, run_ok(hierl_train(*SMOKE, f"hydra.run.dir={run_dir}"))


def read(run_dir: Path, name: str) -> Any:
    return json.loads((run_dir / name).read_text())


@pytest.fixture(scope="module")
def smoke_market(smoke_run: tuple[Path, subprocess.CompletedProcess[str]]) -> MarketData:
    """The run's market, from the feature cache the run filled (the same data, checked by its fingerprint)."""
    run_dir, _ = smoke_run
    config = hierl.load_config(list(SMOKE))
    market = load_market_data(
        config.data, config.asset.name, config.env.window, Path(config.paths.cache_dir), config.asset.symbols
    )
    assert market.fingerprint == read(run_dir, "data_fingerprint.json")["fingerprint"]
    return market


@pytest.mark.slow
def test_the_diagnostics_of_agent_and_baselines_match_backtest_and_baselines_parquet(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    metrics = read(run_dir, "metrics.json")
    backtest = pl.read_parquet(run_dir / "backtest.parquet")
    baselines = pl.read_parquet(run_dir / "baselines.parquet")
    names = sorted(baselines["strategy"].unique())
    assert {"cash", "buy_and_hold", "equal_weight", "inverse_volatility"} <= set(names)
    for split in SPLITS:
        assert_close(metrics, split, recompute_cost_metrics(backtest.filter(pl.col("split") == split)))
        for name in names:
            rows = baselines.filter((pl.col("split") == split) & (pl.col("strategy") == name))
            prefix = f"{split}/baseline/{name}"
            assert_close(metrics, prefix, recompute_cost_metrics(rows))
            assert {f"{prefix}/ic", f"{prefix}/position_autocorr"} <= set(metrics)
        assert metrics[f"{split}/cost_annual"] > 0.0
        assert metrics[f"{split}/baseline/cash/cost_annual"] == 0.0


@pytest.mark.slow
def test_ic_and_position_autocorr_match_positions_parquet_and_the_markets_returns(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]], smoke_market: MarketData
) -> None:
    run_dir, _ = smoke_run
    metrics = read(run_dir, "metrics.json")
    positions = pl.read_parquet(run_dir / "positions.parquet")
    for split in SPLITS:
        rows = positions.filter(pl.col("split") == split).drop("split")
        expected = recompute_position_metrics(rows, smoke_market)
        assert_close(metrics, split, expected)
        assert expected["position_autocorr"] != 0.0, "the agent's positions should move, and persist"


@pytest.mark.slow
def test_val_sharpe_is_the_best_of_the_validation_history_and_its_last_and_count_are_reported(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    metrics = read(run_dir, "metrics.json")
    history = read(run_dir, "validation_history.json")
    assert len(history) == 4  # 2048 steps, a validation every 512
    assert metrics["val/n_evaluations"] == len(history)
    assert metrics["val/sharpe_final"] == history[-1]["sharpe"]
    assert metrics["val/sharpe"] == pytest.approx(max(row["sharpe"] for row in history), rel=1e-12)
    best = next(row for row in history if row["timestep"] == metrics["train/best_timestep"])
    assert metrics["val/sharpe"] == pytest.approx(best["sharpe"], rel=1e-12)
    assert all(math.isfinite(row[TRAIN_REWARD_KEY]) for row in history)


@pytest.mark.slow
def test_the_run_writes_the_learning_curve_and_a_positions_figure_per_split(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, _ = smoke_run
    for name in ("learning_curve.png", "positions_val.png", "positions_test.png"):
        assert_valid_png(run_dir / name)


@pytest.mark.slow
def test_the_console_table_shows_the_test_dates_and_the_costs(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    run_dir, result = smoke_run
    block = read(run_dir, "data_fingerprint.json")["splits"]["test"]
    assert f"test block {block['start']}..{block['end']}" in result.stdout
    assert "cost_annual" in result.stdout
    agent_line = next(line for line in result.stdout.splitlines() if "│ agent" in line)
    assert f"{100 * read(run_dir, 'metrics.json')['test/cost_annual']:.2f}%" in agent_line
