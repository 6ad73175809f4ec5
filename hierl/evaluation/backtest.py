"""Backtest a sequence of target weights on one split, with the same accounting as the envs.

A backtest row k is decided at the close of `decision_rows[k]` (a row index into the `MarketData` arrays) and
realised at the close of the next row, so its date is `market.dates[decision_rows[k] + 1]`. The accounting is
`simulate_portfolio` from the market core; this module only selects rows, validates and tabulates. A backtest
keeps its market's calendar (`bars_per_year`): its metrics, diagnostics and the safety gate annualise with it, and
its borrow fee is charged per bar of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hierl.data.market import MarketData
from hierl.data.timestamps import column_type
from hierl.envs.market_core import DAILY_BARS_PER_YEAR, CostModel, SimulationResult, simulate_portfolio
from hierl.evaluation.metrics import compute_metrics


class BacktestInputError(ValueError):
    """Weights or decision rows that cannot be backtested on the requested split."""


def table_dates(dates: np.ndarray) -> np.ndarray:
    """`dates` as the output tables hold them: days (a polars Date) when every one is a midnight (daily bars, as
    the tables always held them), else microsecond timestamps (a polars Datetime; polars reads no seconds unit), so
    intraday bars stay distinct rows."""
    values = np.asarray(dates)
    days = values.astype("datetime64[D]")
    return days if np.array_equal(days, values) else values.astype("datetime64[us]")


@dataclass(frozen=True)
class Backtest:
    """One simulated strategy on one split.

    Attributes:
        name: strategy name, e.g. "agent" or "equal_weight".
        dates: datetime64 [K], the bar each row's return is realised at (the bar after the decision; days for
            daily bars).
        symbols: N asset names, the columns of `weights`.
        weights: [K, N] target weights held over each row.
        result: the market-core accounting of the rows.
        cash_return: [K] return of cash over each row: the risk-free rate Sharpe and Sortino are measured against.
        bars_per_year: bars in a year of the calendar the rows are bars of (`MarketData.bars_per_year`; the
            hierarchy's is its decision calendar's), what every annualised number of the backtest counts.
    """

    name: str
    dates: np.ndarray
    symbols: tuple[str, ...]
    weights: np.ndarray
    result: SimulationResult
    cash_return: np.ndarray
    bars_per_year: float = DAILY_BARS_PER_YEAR

    def metrics(self) -> dict[str, float]:
        return compute_metrics(
            self.result.returns, self.result.turnover, periods_per_year=self.bars_per_year, risk_free=self.cash_return
        )

    def to_frame(self) -> pl.DataFrame:
        """One row per realised date: date, nav (after the row), return, turnover, cost, cash_return (fractions)."""
        return pl.DataFrame(
            {
                "date": table_dates(self.dates),
                "nav": self.result.nav,
                "return": self.result.returns,
                "turnover": self.result.turnover,
                "cost": self.result.cost,
                "cash_return": self.cash_return,
            }
        )

    def positions_frame(self) -> pl.DataFrame:
        """Long table date, symbol, position: the target weight held over the row realised on `date`.

        `date` is the realised-row date, the same dates as `to_frame`, so the two tables join on it; the
        weight was chosen at the close of the decision row before it.
        """
        n_rows, n_assets = self.weights.shape
        dates = table_dates(self.dates)
        date_type = column_type(dates)
        return pl.DataFrame(
            {
                "date": np.repeat(dates, n_assets),
                "symbol": np.tile(np.asarray(self.symbols, dtype=object), n_rows).tolist(),
                "position": self.weights.reshape(-1).astype(np.float64),
            },
            schema={"date": date_type, "symbol": pl.String, "position": pl.Float64},
        )


def default_decision_rows(market: MarketData, split: str) -> np.ndarray:
    """Every row of the split block except its last, which has no next return inside the block."""
    block = market.block(split)
    return np.arange(block.start, block.stop - 1)


def validate_decision_rows(market: MarketData, split: str, decision_rows: np.ndarray) -> np.ndarray:
    """Check that rows are integers, strictly increasing, and each has its next row inside the split block."""
    block = market.block(split)
    rows = np.asarray(decision_rows)
    if rows.ndim != 1 or rows.size == 0:
        raise BacktestInputError(f"decision_rows must be a non-empty 1-D array of row indices, got shape {rows.shape}")
    if not np.issubdtype(rows.dtype, np.integer):
        raise BacktestInputError(f"decision_rows must hold integer row indices, got dtype {rows.dtype}")
    if np.any(np.diff(rows) <= 0):
        raise BacktestInputError("decision_rows must be strictly increasing (one holding period per row)")
    if rows[0] < block.start or rows[-1] >= block.stop:
        raise BacktestInputError(
            f"decision_rows span [{rows[0]}, {rows[-1]}] but split {split!r} covers rows [{block.start}, {block.stop})"
        )
    if rows[-1] == block.stop - 1:
        raise BacktestInputError(
            f"decision row {rows[-1]} is the last row of split {split!r} and has no next return "
            "in the block; drop it (the default decision rows stop one row early)"
        )
    return rows.astype(np.int64)


def run_backtest(
    name: str,
    market: MarketData,
    split: str,
    target_weights: np.ndarray,
    costs: CostModel,
    decision_rows: np.ndarray | None = None,
) -> Backtest:
    """Simulate `target_weights[k]` chosen at the close of `decision_rows[k]`, earning the next row's returns.

    `decision_rows` are row indices into the market arrays inside the split block; by default every row of the
    block except its last. The borrow fee is charged per bar of the market's calendar (`costs.on_calendar`).
    """
    rows = default_decision_rows(market, split) if decision_rows is None else decision_rows
    rows = validate_decision_rows(market, split, rows)
    weights = np.asarray(target_weights, dtype=np.float64)
    expected = (rows.size, market.n_assets)
    if weights.shape != expected:
        raise BacktestInputError(
            f"target_weights for {name!r} have shape {weights.shape}, expected {expected} "
            "(one row per decision row, one column per symbol)"
        )
    if not np.all(np.isfinite(weights)):
        raise BacktestInputError(f"target_weights for {name!r} contain NaN or inf; use 0 for no position")
    cash_return = np.asarray(market.cash_return[rows + 1], dtype=np.float64)
    result = simulate_portfolio(weights, market.returns[rows + 1], cash_return, costs.on_calendar(market.bars_per_year))
    return Backtest(
        name=name,
        dates=np.asarray(market.dates[rows + 1]),
        symbols=tuple(market.symbols),
        weights=weights,
        result=result,
        cash_return=cash_return,
        bars_per_year=market.bars_per_year,
    )
