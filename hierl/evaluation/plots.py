"""The figures of a run folder: equity curves against the baselines, positions, and the learning curve.

Every figure is drawn on an explicit Agg canvas (`matplotlib.figure.Figure` + `FigureCanvasAgg`) instead of
pyplot, so it works headless and never switches the global backend of anyone else using matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from hierl.evaluation.backtest import Backtest
from hierl.evaluation.metrics import drawdown_series
from hierl.tracking.files import write_atomic


class PlotInputError(ValueError):
    """Nothing, or something unplottable, was passed to a plot."""


def axis_dates(dates: np.ndarray) -> np.ndarray:
    """The x values of rows dated `dates`: days when every row falls on a midnight (daily bars, drawn as every
    figure always drew them), seconds otherwise (intraday bars, which days would stack on one another)."""
    days = np.asarray(dates).astype("datetime64[D]")
    return days if np.array_equal(days, dates) else np.asarray(dates).astype("datetime64[s]")


def label_nav_and_drawdown(nav_axes: Axes, drawdown_axes: Axes, title: str, drawdown_label: str) -> None:
    """Titles, the NAV = 1 line, legend and grids of a NAV panel over a drawdown panel.

    Shared with the headline figure so every equity-curve figure of hierl reads the same way.
    """
    nav_axes.set_title(title)
    nav_axes.set_ylabel("NAV")
    nav_axes.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
    nav_axes.legend(loc="best", fontsize="small")
    nav_axes.grid(alpha=0.3)
    drawdown_axes.set_ylabel(drawdown_label)
    drawdown_axes.grid(alpha=0.3)


def plot_equity_curves(backtests: Sequence[Backtest], path: Path, title: str) -> Path:
    """NAV curves (top) and drawdowns (bottom) of every backtest, written atomically to `path`.

    The image format follows the file suffix (png by default). Returns `path`.
    """
    if not backtests:
        raise PlotInputError("plot_equity_curves needs at least one backtest")
    figure = Figure(figsize=(10, 6.5), constrained_layout=True)
    FigureCanvasAgg(figure)
    nav_axes, drawdown_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for backtest in backtests:
        dates = axis_dates(backtest.dates)
        nav_axes.plot(dates, backtest.result.nav, label=backtest.name, linewidth=1.2)
        drawdown_axes.plot(dates, -100.0 * drawdown_series(backtest.result.returns), linewidth=1.0)
    label_nav_and_drawdown(nav_axes, drawdown_axes, title, "Drawdown (%)")
    drawdown_axes.set_ylim(top=0.0 + np.finfo(float).eps)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    """Write `figure` atomically in the format of the file suffix (png by default); every run figure at one dpi."""
    path = Path(path)
    image_format = path.suffix.lstrip(".").lower() or "png"
    return write_atomic(path, lambda target: figure.savefig(target, format=image_format, dpi=120))


# A heatmap names every symbol up to this many rows; beyond, every k-th so the labels stay legible.
_MAX_SYMBOL_LABELS = 40


def plot_positions(backtest: Backtest, path: Path, title: str) -> Path:
    """Exposure over time (top) and a symbols x dates heatmap of the weights (bottom), written to `path`.

    Gross exposure is sum_i |w_i| and net exposure sum_i w_i of the weights held over each row; the heatmap cell
    of row k spans the holding period from the previous date to `dates[k]`, so gaps (weekends) stay gaps.
    """
    weights = np.asarray(backtest.weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] == 0:
        raise PlotInputError(f"plot_positions needs weights [K, N] with K >= 1, got shape {weights.shape}")
    dates = axis_dates(backtest.dates)
    figure = Figure(figsize=(10, 7), constrained_layout=True)
    FigureCanvasAgg(figure)
    exposure_axes, heat_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    exposure_axes.plot(dates, np.abs(weights).sum(axis=1), label="gross (sum |w|)", linewidth=1.1)
    exposure_axes.plot(dates, weights.sum(axis=1), label="net (sum w)", linewidth=1.1)
    exposure_axes.axhline(0.0, color="grey", linewidth=0.6, linestyle="--")
    exposure_axes.set_title(title)
    exposure_axes.set_ylabel("exposure (fraction of NAV)")
    exposure_axes.legend(loc="best", fontsize="small")
    exposure_axes.grid(alpha=0.3)

    day_numbers = np.asarray(date2num(dates), dtype=np.float64)
    # The first cell spans one bar before the first date: a day of daily bars, the first spacing of intraday ones.
    daily = dates.dtype == np.dtype("datetime64[D]")
    first_width = 1.0 if daily or len(day_numbers) < 2 else day_numbers[1] - day_numbers[0]
    edges = np.concatenate(([day_numbers[0] - first_width], day_numbers))
    limit = float(np.abs(weights).max()) or 1.0  # all-zero weights (cash) still get a symmetric scale
    mesh = heat_axes.pcolormesh(
        edges,
        np.arange(len(backtest.symbols) + 1) - 0.5,
        weights.T,
        cmap="RdBu",
        vmin=-limit,
        vmax=limit,
        shading="flat",
        rasterized=True,
    )
    every = max(1, -(-len(backtest.symbols) // _MAX_SYMBOL_LABELS))
    ticks = np.arange(0, len(backtest.symbols), every)
    heat_axes.set_yticks(ticks, [backtest.symbols[i] for i in ticks], fontsize="x-small")
    heat_axes.set_ylim(len(backtest.symbols) - 0.5, -0.5)
    heat_axes.set_ylabel("symbol")
    figure.colorbar(mesh, ax=heat_axes, label="weight (fraction of NAV)")
    return _save(figure, path)


def plot_learning_curve(
    timesteps: np.ndarray,
    validation_sharpe: np.ndarray,
    train_reward: np.ndarray,
    baseline_sharpe: Mapping[str, float],
    selected_timestep: float,
    path: Path,
    title: str,
) -> Path:
    """Validation Sharpe at every evaluation against training steps, the baselines' validation Sharpe as
    horizontal lines and the selected evaluation marked (top); the training reward at the same steps (bottom).

    The selected model is the best of these evaluations, so its validation Sharpe is a maximum over them: the
    figure shows how far it stands above the rest, the last model and the baselines. A NaN training reward (no
    training step since the previous evaluation) leaves a gap.
    """
    timesteps = np.asarray(timesteps, dtype=np.float64)
    if timesteps.size == 0:
        raise PlotInputError("plot_learning_curve needs at least one evaluation")
    validation_sharpe = np.asarray(validation_sharpe, dtype=np.float64)
    train_reward = np.asarray(train_reward, dtype=np.float64)
    if validation_sharpe.shape != timesteps.shape or train_reward.shape != timesteps.shape:
        raise PlotInputError(
            f"timesteps {timesteps.shape}, validation_sharpe {validation_sharpe.shape} and train_reward "
            f"{train_reward.shape} must hold one value per evaluation"
        )
    figure = Figure(figsize=(10, 6.5), constrained_layout=True)
    FigureCanvasAgg(figure)
    sharpe_axes, reward_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    sharpe_axes.plot(timesteps, validation_sharpe, color="C0", marker="o", linewidth=1.2, label="agent")
    selected = timesteps == selected_timestep
    sharpe_axes.plot(
        timesteps[selected],
        validation_sharpe[selected],
        color="black",
        linestyle="none",
        marker="*",
        markersize=14,
        label="selected model",
    )
    for index, (name, value) in enumerate(baseline_sharpe.items()):
        # C0 and C1 are the agent's; the baselines cycle through the other eight, dotted once those are used.
        colour, style = f"C{2 + index % 8}", "--" if index < 8 else ":"
        sharpe_axes.axhline(value, color=colour, linewidth=1.0, linestyle=style, label=name)
    sharpe_axes.set_title(title)
    sharpe_axes.set_ylabel("validation Sharpe")
    # Beside the axes: a hierarchy has a dozen baselines, whose legend would hide the curve.
    sharpe_axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    sharpe_axes.grid(alpha=0.3)
    reward_axes.plot(timesteps, train_reward, marker=".", linewidth=1.0, color="C1")
    reward_axes.set_ylabel("training reward\n(mean per step)")
    reward_axes.set_xlabel("training steps")
    reward_axes.grid(alpha=0.3)
    return _save(figure, path)
