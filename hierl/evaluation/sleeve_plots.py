"""Sleeve weights over time: a stacked area per sleeve, cash as the rest, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hierl.evaluation.plots import axis_dates
from hierl.tracking.files import write_atomic


def plot_sleeve_weights(dates: np.ndarray, weights: np.ndarray, sleeves: Sequence[str], path: Path, title: str) -> Path:
    """Stacked sleeve weights [K, C] against `dates` [K] (explicit Agg canvas, as `plot_equity_curves`); intraday
    bars keep their time of day on the axis (`axis_dates`), so a day's bars do not stack on one x."""
    figure = Figure(figsize=(10, 4), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.stackplot(axis_dates(dates), np.asarray(weights).T, labels=list(sleeves), alpha=0.8)
    axes.set_title(title)
    axes.set_ylabel("weight (fraction of NAV)")
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    path = Path(path)
    image_format = path.suffix.lstrip(".") or "png"
    return write_atomic(path, lambda target: figure.savefig(target, format=image_format, dpi=110))
