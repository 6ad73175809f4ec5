"""Equity-curve figure of a strategy against its baselines.

The figure is drawn on an explicit Agg canvas (`matplotlib.figure.Figure` + `FigureCanvasAgg`) instead of
pyplot, so it works headless and never switches the global backend of anyone else using matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hierl.evaluation.backtest import Backtest
from hierl.evaluation.metrics import drawdown_series
from hierl.tracking.files import write_atomic


class PlotInputError(ValueError):
    """Nothing, or something unplottable, was passed to a plot."""


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
    path = Path(path)
    image_format = path.suffix.lstrip(".").lower() or "png"

    figure = Figure(figsize=(10, 6.5), constrained_layout=True)
    FigureCanvasAgg(figure)
    nav_axes, drawdown_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for backtest in backtests:
        dates = backtest.dates.astype("datetime64[D]")
        nav_axes.plot(dates, backtest.result.nav, label=backtest.name, linewidth=1.2)
        drawdown_axes.plot(dates, -100.0 * drawdown_series(backtest.result.returns), linewidth=1.0)
    label_nav_and_drawdown(nav_axes, drawdown_axes, title, "Drawdown (%)")
    drawdown_axes.set_ylim(top=0.0 + np.finfo(float).eps)

    return write_atomic(path, lambda target: figure.savefig(target, format=image_format, dpi=120))
