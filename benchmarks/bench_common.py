"""What the benchmark scripts share: the machine description, the median of repeated timings, and the results files.

Every script writes `benchmarks/results/<name>.json` (numbers, for `report.py` and for comparing runs) and
`<name>.md` (the same numbers as Markdown tables). Both are overwritten by each run, so a results folder always
describes one run on one machine; `machine()` is stored with them because absolute rates mean nothing without it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from hierl.data.market import MarketData

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """`platform.processor()`, or on Linux (where it is often empty) the CPU model name from /proc/cpuinfo."""
    cpuinfo = Path("/proc/cpuinfo")
    if not platform.processor() and cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where the numbers were measured: absolute rates mean nothing without it."""
    return {
        "processor": cpu_model(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `repeats` calls of `run` (and all the times): the median ignores one slow outlier."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; cells are printed with `str`, so format numbers before passing them."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(holds: bool | None) -> str:
    """How a target reads in tables: None means it could not be measured in this run (a baseline was skipped)."""
    return "n/a" if holds is None else ("holds" if holds else "MISSED")


def write_results(name: str, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write `<name>.json` and `<name>.md` into the results folder, creating it, and return both paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{name}.json"
    md_path = RESULTS_DIR / f"{name}.md"
    json_path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return json_path, md_path


def synthetic_market(n_days: int, n_assets: int, n_features: int, seed: int) -> MarketData:
    """Gaussian returns and features with every asset priced every day: the env benchmarks time the step
    loop, so the data only has to have the shapes of a real class, not its statistics."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.01, size=(n_days, n_assets))
    returns[0] = 0.0
    return MarketData(
        asset_class="synthetic",
        dates=np.datetime64("2000-01-03") + np.arange(n_days).astype("timedelta64[D]"),
        symbols=tuple(f"A{i}" for i in range(n_assets)),
        feature_names=tuple(f"f{j}" for j in range(n_features)),
        features=rng.normal(size=(n_days, n_assets, n_features)).astype(np.float32),
        returns=returns,
        prices=100.0 * np.cumprod(1.0 + returns, axis=0),
        mask=np.ones((n_days, n_assets), dtype=bool),
        cash_return=np.full(n_days, 1e-4),
        split_bounds={"train": (0, n_days), "val": (0, n_days), "test": (0, n_days)},
        fingerprint="bench",
    )


class NoOpEnv(gymnasium.Env):
    """The spaces of another env and nothing else: a constant observation, zero reward, fixed-length episodes."""

    def __init__(self, observation_space: gymnasium.spaces.Box, action_space: gymnasium.spaces.Box, length: int):
        self.observation_space = observation_space
        self.action_space = action_space
        self._observation = np.zeros(observation_space.shape, dtype=np.float32)
        self._length = length
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._steps = 0
        return self._observation, {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._steps += 1
        return self._observation, 0.0, False, self._steps >= self._length, {}
