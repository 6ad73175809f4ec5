"""benchmarks/learn.py: its oracles agree with a plain-numpy book, its interval is the t-interval, its smoke run writes
both results files (and leaves README.md and docs/ alone), and a file without markers is refused."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.stats

from hierl.config.data import SyntheticConfig
from hierl.config.env import EnvConfig
from hierl.config.loading import load_config
from hierl.config.stages import ppo_run
from hierl.data.market import MarketData
from hierl.data.sources.synthetic import generate_synthetic
from hierl.orchestration.asset_run import load_run_market

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import learn  # noqa: E402  (a script of benchmarks/, imported by path)
import report  # noqa: E402

DAYS_PER_YEAR = 252


def numpy_book(
    weights: np.ndarray, next_returns: np.ndarray, next_cash: np.ndarray, cost_bps: float, borrow_bps: float
) -> dict[str, np.ndarray]:
    """The book of target weights [K, N] written out by hand: trade from the drifted weights to the target, pay
    cost_bps on the notional traded and borrow_bps a year on shorts, earn cash on the NAV plus each position's
    return over cash, then let the weights drift with prices."""
    held = np.zeros(weights.shape[1])
    traded, gross, net = [], [], []
    for target, returns, cash in zip(weights, next_returns, next_cash, strict=True):
        turnover = float(np.sum(np.abs(target - held)))
        cost = turnover * cost_bps / 1e4 + float(np.sum(np.maximum(-target, 0.0))) * borrow_bps / 1e4 / DAYS_PER_YEAR
        before_costs = cash + float(np.sum(target * (returns - cash)))
        traded.append(turnover)
        gross.append(before_costs)
        net.append(before_costs - cost)
        held = target * (1.0 + returns) / (1.0 + net[-1])
    return {"turnover": np.array(traded), "gross": np.array(gross), "net": np.array(net)}


def numpy_sharpe(net: np.ndarray, cash: np.ndarray) -> float:
    excess = net - cash
    return float(excess.mean() / excess.std(ddof=1) * math.sqrt(DAYS_PER_YEAR))


def small_market(seed: int = 3) -> MarketData:
    """Five symbols over 300 days, two of them unpriced on some days, with a cash rate: every term of the book."""
    rng = np.random.default_rng(seed)
    n_days, n_assets = 300, 5
    returns = rng.normal(0.0003, 0.012, size=(n_days, n_assets))
    returns[0] = 0.0
    mask = np.ones((n_days, n_assets), dtype=bool)
    mask[50:80, 1] = False
    mask[200:230, 4] = False
    returns[~mask] = 0.0
    return MarketData(
        asset_class="equity",
        dates=np.datetime64("2001-01-01") + np.arange(n_days).astype("timedelta64[D]"),
        symbols=tuple(f"S{i}" for i in range(n_assets)),
        feature_names=("signal",),
        features=np.zeros((n_days, n_assets, 1), dtype=np.float32),
        returns=returns,
        prices=100.0 * np.cumprod(1.0 + returns, axis=0),
        mask=mask,
        cash_return=np.full(n_days, 1.5e-4),
        split_bounds={"train": (0, 100), "val": (110, 200), "test": (40, 300)},
        fingerprint="learning-test",
    )


@pytest.mark.parametrize(("name", "position"), [("sign", np.sign), ("clipped-linear", lambda s: np.clip(s, -1, 1))])
def test_oracle_backtest_equals_a_numpy_book(name: str, position: object) -> None:
    market = small_market()
    raw = np.random.default_rng(5).normal(0.0, 1.3, size=market.returns.shape)
    rows = np.arange(45, 299)  # unpriced rows of both symbols inside, the last row of the block excluded
    env_cfg = EnvConfig(max_leverage=1.5, cost_bps=7.0, slippage_bps=1.0, borrow_bps_annual=80.0)
    backtest = learn.oracle_backtests(market, raw, rows, env_cfg)[name]

    assert callable(position)
    weights = np.where(market.mask[rows], position(raw[rows]) * 1.5, 0.0) / market.n_assets
    book = numpy_book(weights, market.returns[rows + 1], market.cash_return[rows + 1], 8.0, 80.0)
    np.testing.assert_allclose(backtest.weights, weights, rtol=0, atol=0)
    np.testing.assert_allclose(backtest.result.turnover, book["turnover"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(backtest.result.returns + backtest.result.cost, book["gross"], rtol=0, atol=1e-14)
    numbers = learn.backtest_numbers(backtest)
    assert numbers["turnover"] == pytest.approx(book["turnover"].mean() * DAYS_PER_YEAR, rel=1e-12)
    assert numbers["sharpe"] == pytest.approx(numpy_sharpe(book["net"], market.cash_return[rows + 1]), rel=1e-10)
    # The unpriced days are flat, and the oracle does trade (the book is not trivially empty).
    assert np.all(backtest.weights[~market.mask[rows]] == 0.0)
    assert book["turnover"].mean() > 0.1


def test_interval_is_the_student_t_interval_of_the_mean() -> None:
    values = [0.3, 1.1, -0.4]
    low, high = learn.t_interval(values)
    expected = scipy.stats.t.interval(0.95, 2, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert (low, high) == pytest.approx(expected, rel=1e-12)
    assert high - low == pytest.approx(2 * 4.302653 * np.std(values, ddof=1) / math.sqrt(3), rel=1e-6)
    assert learn.t_interval([0.5]) is None


@pytest.mark.parametrize(
    "text",
    [
        "# Project\n\n## Learning\n\nno markers here\n",
        "<!-- learning:end -->\nreversed\n<!-- learning:begin -->\n",
        "<!-- learning:begin -->\n<!-- learning:end -->\n<!-- learning:begin -->\n<!-- learning:end -->\n",
        "<!-- performance:begin -->\nanother block\n<!-- performance:end -->\n",
    ],
)
def test_marker_filling_refuses_a_file_without_one_learning_block(text: str, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(SystemExit, match=r"README\.md has no <!-- learning:begin --> \.\.\. <!-- learning:end -->"):
        report.replace_generated(readme, "tables", "learning")
    assert readme.read_text() == text


def test_marker_filling_replaces_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- learning:begin -->\nold\n<!-- learning:end -->\n\n## Performance\nkept\n")
    report.replace_generated(readme, "new tables\n", "learning")
    assert (
        readme.read_text()
        == "intro\n<!-- learning:begin -->\nnew tables\n<!-- learning:end -->\n\n## Performance\nkept\n"
    )


def independent_sign_oracle(unit: dict[str, object]) -> tuple[float, float]:
    """The sign oracle's test Sharpe and turnover for one synthetic unit of a finished benchmark, rebuilt without the
    benchmark's code: the generator's draws laid out by hand, the test rows read from the run's backtest, the
    book in numpy. The market arrays (returns, prices, cash) come from hierl's data layer."""
    overrides = unit["overrides"]
    assert isinstance(overrides, list)
    cfg = ppo_run(load_config(overrides, output_dir=str(unit["folder"])))
    market = load_run_market(cfg)
    synthetic: SyntheticConfig = cfg.data.synthetic
    frame = generate_synthetic(synthetic)  # days in order, every symbol on each day
    names = frame["symbol"][: synthetic.n_assets].to_list()
    signal = frame["signal"].to_numpy().reshape(synthetic.n_days, synthetic.n_assets)
    days = frame["date"][:: synthetic.n_assets].to_numpy().astype("datetime64[D]")
    day_index = {day: i for i, day in enumerate(days)}
    raw = signal[[day_index[d] for d in market.dates.astype("datetime64[D]")]][
        :, [names.index(s) for s in market.symbols]
    ]

    test = pl.read_parquet(Path(str(unit["folder"])) / "backtest.parquet").filter(pl.col("split") == "test")
    row_of = {day: i for i, day in enumerate(market.dates.astype("datetime64[D]"))}
    rows = np.array([row_of[d] - 1 for d in test["date"].to_numpy().astype("datetime64[D]")])

    leverage = cfg.env.max_leverage
    weights = np.where(market.mask[rows], np.sign(raw[rows]) * leverage, 0.0) / market.n_assets
    cash = market.cash_return[rows + 1]
    book = numpy_book(
        weights, market.returns[rows + 1], cash, cfg.env.cost_bps + cfg.env.slippage_bps, cfg.env.borrow_bps_annual
    )
    return numpy_sharpe(book["net"], cash), float(book["turnover"].mean() * DAYS_PER_YEAR)


@pytest.mark.slow
def test_quick_run_writes_both_files_and_its_oracle_is_reproduced(tmp_path: Path) -> None:
    guarded = [REPO / "README.md", REPO / "docs" / "learning.md"]
    before = [path.read_bytes() for path in guarded]
    command = [sys.executable, "benchmarks/learn.py", "--quick", "--workers", "2", "--out", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [path.read_bytes() for path in guarded] == before  # --quick leaves the README and docs alone

    payload = json.loads((tmp_path / "learning.json").read_text())
    assert {"machine", "commit", "command", "config", "run", "synthetic", "sample", "units"} <= set(payload)
    assert payload["config"]["quick"] is True
    assert payload["run"]["wall_s"] > 0 and payload["machine"]["cpu_count"] >= 1
    assert [u["name"] for u in payload["units"]] == [
        "synthetic-daily-k0.25-seed0",
        "synthetic-persistent-k0.25-seed0",
        "sample-equity-seed0",
    ]
    assert all(u["status"] in ("finished", "refused") for u in payload["units"])
    for row in payload["synthetic"]:
        assert {"ppo_test_sharpe", "ppo_test_turnover", "val_sharpe", "val_sharpe_final", "oracles"} <= set(row)
        assert {"ratio_to_sign_oracle", "target", "holds"} <= set(row)
        assert row["target"] == 0.8 and row["oracles"]["n_rows"] > 100
        for oracle in ("sign", "clipped-linear"):
            assert {"sharpe", "turnover"} <= set(row["oracles"][oracle])
    (sample,) = payload["sample"]
    assert sample["asset"] == "equity"
    assert {"test_turnover", "turnover_holds", "val_sharpe", "test_sharpe", "best_baseline", "sharpe_holds"} <= set(
        sample
    )

    markdown = (tmp_path / "learning.md").read_text()
    for expected in ("Wall time", "Command: `python benchmarks/learn.py --quick", "sign oracle", "| equity |"):
        assert expected in markdown

    # The benchmark's sign oracle equals one built independently from the run's folder and the generator.
    unit = payload["units"][0]
    sharpe, turnover = independent_sign_oracle(unit)
    assert unit["oracles"]["sign"]["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert unit["oracles"]["sign"]["turnover"] == pytest.approx(turnover, rel=1e-9)
