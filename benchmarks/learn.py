"""Does default PPO learn? A planted signal against oracles, and the shipped sample data against naive baselines.

    nox -s learn                                   # the full benchmark: 27 runs, tens of minutes on 2 cores
    nox -s learn -- --workers 1                    # fewer parallel runs
    PYTHONPATH=. python benchmarks/learn.py --quick --out /tmp/learn   # a smoke run (seconds of training)

Every run is hierl's default PPO (`agent=ppo` as the config says when the benchmark runs: no hyperparameter is set
here), trained, selected on validation and tested once through the library, as `python -m hierl.train` would.

1. Planted signal: `data=synthetic` with a `signal` feature whose correlation with the next day's return is k,
   i.i.d. daily (`daily`, phi = 0) or an AR(1) with phi = PERSISTENT_PHI (`persistent`), k in STRENGTHS, seeds
   in SEEDS. The oracles trade the raw signal itself on exactly the test rows the agent was tested on, through
   hierl's own backtest and costs: `sign` holds sign(signal) x max_leverage per symbol, `clipped-linear`
   clip(signal, -1, 1) x max_leverage, both flat where a symbol has no price, equal capital per symbol.
   Target: PPO's test Sharpe over the sign oracle's >= RATIO_TARGETS[k].
2. Sample data: default PPO on each class of the shipped sample (`asset=equity|index|commodity`), seeds in
   SEEDS: test turnover against TURNOVER_TARGET, validation Sharpe against the best naive baseline on
   validation, and the test Sharpe beside that baseline's, as measured. The default safety gate stays on; a run
   it refuses is reported as refused, with the reason.

Each run has its own folder under `<out>/learning_runs/` (default `benchmarks/results/`, git-ignored). A folder
that holds a finished (or refused) run of the same config, hierl source and library versions is reused, so an
interrupted benchmark continues where it stopped; anything else in it is deleted and the run trained again.
Writes `<out>/learning.json` (every run's numbers) and `<out>/learning.md` (the tables), and, unless --quick,
fills the `learning` blocks of README.md and docs/learning.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.stats
import stable_baselines3
import torch
from bench_common import RESULTS_DIR, machine, markdown_table, verdict
from report import REPO, check_generated, describe_machine, replace_generated

from hierl.config.data import SyntheticConfig
from hierl.config.env import EnvConfig
from hierl.config.loading import flat_config, load_config
from hierl.config.run import PPORunConfig
from hierl.config.stages import ppo_run
from hierl.data.market import MarketData
from hierl.data.normalisation import normalise_feature
from hierl.data.sources.synthetic import generate_synthetic
from hierl.entrypoint import run_folder_bookkeeping
from hierl.envs.episodes import cost_model
from hierl.envs.vector_env import TradingVecEnv
from hierl.errors import SafetyViolationError
from hierl.evaluation.backtest import Backtest, run_backtest
from hierl.evaluation.metrics import annualised_cost
from hierl.orchestration.asset_run import load_run_market, train_asset_agent
from hierl.orchestration.policy_evaluation import read_normalisation
from hierl.run.folder import RunFolder
from hierl.tracking.logging import get_logger
from hierl.tracking.run_state import read_state

# The persistent signal's AR(1) coefficient: its sign lasts ~7 days on average, like a slow real-world signal.
PERSISTENT_PHI = 0.9
SIGNAL_TYPES = {"daily": 0.0, "persistent": PERSISTENT_PHI}
STRENGTHS = (0.05, 0.1, 0.25)
SEEDS = (0, 1, 2)
CLASSES = ("equity", "index", "commodity")
# Sized like the shipped equity sample (20 S&P 500 stocks, 4,779 trading days from 2000 to 2018): the generator
# spreads n_assets over its two default classes (equity, commodity), so 40 assets give `asset=equity` 20 symbols,
# and 4,750 business days are ~19 years. The agent then sees as many symbols and as long training, validation and
# test blocks as on the real data, so a result here says something about the same budget there.
SYNTHETIC_ASSETS = 40
SYNTHETIC_DAYS = 4750
# PPO test Sharpe / sign-oracle test Sharpe, per signal strength.
RATIO_TARGETS = {0.25: 0.8, 0.1: 0.7, 0.05: 0.5}
# Traded notional per year as a multiple of NAV, on the test block.
TURNOVER_TARGET = 10.0
CONFIDENCE = 0.95
BASELINES = ("buy_and_hold", "equal_weight", "inverse_volatility")
# What every run adds to the defaults: no console logger or progress bar, one torch thread per worker process.
COMMON = ("logger=none", "progress=false", "runtime.torch_threads=1")
# --quick: every budget tiny (two rollouts of 4 x 256 steps, validated after each), one strength, seed and class.
QUICK_BUDGET = ("agent.total_timesteps=2048", "agent.n_steps=256", "agent.eval_freq=1024", "agent.checkpoint_freq=2048")
QUICK_STRENGTHS = (0.25,)
QUICK_SEEDS = (0,)
QUICK_CLASSES = ("equity",)
UNIT_FILE = "benchmark_unit.json"
# The README is kept under 16 KB; its Learning block is the part of it this script writes.
README_LIMIT = 16_384
BLOCK = "learning"


@dataclass(frozen=True)
class Unit:
    """One training run of the benchmark: a synthetic signal (`signal` set) or a sample-data class."""

    asset: str
    seed: int
    signal: str | None = None
    strength: float | None = None

    @property
    def name(self) -> str:
        if self.signal is None:
            return f"sample-{self.asset}-seed{self.seed}"
        return f"synthetic-{self.signal}-k{self.strength:.2f}-seed{self.seed}"

    def overrides(self, quick: bool) -> list[str]:
        """The defaults plus data, seed and logging keys only (and the tiny budget of --quick)."""
        data: list[str] = []
        if self.signal is not None:
            data = [
                "data=synthetic",
                f"data.synthetic.n_assets={SYNTHETIC_ASSETS}",
                f"data.synthetic.n_days={SYNTHETIC_DAYS}",
                f"data.synthetic.signal_strength={self.strength}",
                f"data.synthetic.signal_persistence={SIGNAL_TYPES[self.signal]}",
            ]
        budget = list(QUICK_BUDGET) if quick else []
        return ["agent=ppo", f"asset={self.asset}", *data, f"seed={self.seed}", *COMMON, *budget]


def plan(quick: bool) -> list[Unit]:
    strengths, seeds, classes = (QUICK_STRENGTHS, QUICK_SEEDS, QUICK_CLASSES) if quick else (STRENGTHS, SEEDS, CLASSES)
    synthetic = [Unit("equity", seed, signal, k) for signal in SIGNAL_TYPES for k in strengths for seed in seeds]
    return synthetic + [Unit(asset, seed) for asset in classes for seed in seeds]


# ---------------------------------------------------------------------------------------------------- oracles


def planted_signal(synthetic: SyntheticConfig, market: MarketData) -> np.ndarray:
    """The raw `signal` [T, N] on the market's dates and symbols, regenerated by the seeded generator.

    Regenerated rather than de-normalised from the feature: the feature is float32 and clipped at
    `data.features.clip` standard deviations, the generator's float64 values are exact. Aligned by date and
    symbol (a join, not an assumption about row order); a date or symbol the generator lacks is an error.
    """
    frame = generate_synthetic(synthetic).filter(pl.col("symbol").is_in(list(market.symbols)))
    wide = frame.pivot(on="symbol", index="date", values="signal")
    dates = pl.DataFrame({"date": market.dates.astype("datetime64[D]")}).with_columns(pl.col("date").cast(pl.Date))
    aligned = dates.join(wide, on="date", how="left", maintain_order="left").select(list(market.symbols))
    if aligned.null_count().sum_horizontal().item() > 0:
        raise RuntimeError("the regenerated synthetic signal misses dates or symbols of the market")
    return aligned.to_numpy().astype(np.float64)


def check_signal_feature(raw: np.ndarray, market: MarketData, clip: float | None) -> None:
    """The regenerated signal, scaled as the data layer scales it, is the agent's `signal` feature (where priced).

    Guards the alignment: a shifted day or a swapped symbol would make the oracles trade another series."""
    feature = market.features[:, :, market.feature_names.index("signal")]
    scaled = normalise_feature(raw, market.normalisation["signal"], clip)
    if not np.allclose(scaled[market.mask], feature[market.mask], rtol=0.0, atol=1e-5):
        raise RuntimeError("the regenerated synthetic signal does not match the agent's `signal` feature")


def oracle_positions(raw: np.ndarray, mask: np.ndarray, max_leverage: float) -> dict[str, np.ndarray]:
    """Each symbol's position [K, N] (a fraction of its sleeve) of each oracle; flat where it has no price."""
    tradable = mask.astype(np.float64)
    return {
        "sign": np.sign(raw) * max_leverage * tradable,
        "clipped-linear": np.clip(raw, -1.0, 1.0) * max_leverage * tradable,
    }


def oracle_backtests(
    market: MarketData, raw: np.ndarray, rows: np.ndarray, env_cfg: EnvConfig, split: str = "test"
) -> dict[str, Backtest]:
    """The oracles on `rows` (the agent's decision rows), through hierl's backtest with the class's costs.

    Weights are positions / N, equal capital per symbol, as `PolicyPositions.portfolio_weights` gives the agent.
    """
    positions = oracle_positions(raw[rows], market.mask[rows], env_cfg.max_leverage)
    costs = cost_model(env_cfg)
    return {
        name: run_backtest(name, market, split, held / market.n_assets, costs, rows) for name, held in positions.items()
    }


def backtest_numbers(backtest: Backtest) -> dict[str, float]:
    """What the report shows of a backtest: the metrics of `metrics.json` plus the costs paid per year."""
    return backtest.metrics() | {"cost_annual": annualised_cost(backtest.result.cost)}


def agent_test_rows(market: MarketData, run: RunFolder) -> np.ndarray:
    """The decision rows of the agent's test backtest, read from its `backtest.parquet` (date = decision row + 1)."""
    test = pl.read_parquet(run.backtest_path).filter(pl.col("split") == "test")
    dates = test.get_column("date").to_numpy().astype("datetime64[D]")
    realised = np.searchsorted(market.dates, dates)
    if not np.array_equal(market.dates[realised], dates):
        raise RuntimeError(f"{run.backtest_path}: test dates that are not dates of the market")
    return realised - 1


def synthetic_oracles(cfg: PPORunConfig, folder: Path, finished: bool) -> dict[str, Any]:
    """Both oracles on the unit's test rows; for a finished run, also checks that the rows are the agent's and
    that hierl's backtest of the agent's saved positions gives its recorded test Sharpe (same rows, costs, cash)."""
    run = RunFolder(folder)
    market = load_run_market(cfg, read_normalisation(folder))
    raw = planted_signal(cfg.data.synthetic, market)
    check_signal_feature(raw, market, cfg.data.features.clip)
    env = TradingVecEnv(market, "test", cfg.env, cfg.reward, n_envs=market.n_assets, whole_block=True)
    rows = np.asarray(env.decision_rows)
    if finished:
        agent_rows = agent_test_rows(market, run)
        if not np.array_equal(agent_rows, rows):
            raise RuntimeError(f"{folder}: the agent's test rows differ from the env's whole-block decision rows")
        check_agent_backtest(market, run, rows, cfg.env)
    backtests = oracle_backtests(market, raw, rows, cfg.env)
    return {
        "decision_rows": [int(rows[0]), int(rows[-1])],
        "n_rows": int(rows.size),
        **{name: backtest_numbers(backtest) for name, backtest in backtests.items()},
    }


def check_agent_backtest(market: MarketData, run: RunFolder, rows: np.ndarray, env_cfg: EnvConfig) -> None:
    """The agent's test weights (`positions.parquet`) through the oracles' backtest give its recorded test Sharpe:
    the oracles and the agent are measured by the same rule."""
    positions = pl.read_parquet(run.positions_path).filter(pl.col("split") == "test")
    wide = positions.pivot(on="symbol", index="date", values="position").sort("date")
    weights = wide.select(list(market.symbols)).to_numpy()
    agent = run_backtest("agent", market, "test", weights, cost_model(env_cfg), rows)
    recorded = run.read_metrics()["test/sharpe"]
    if not np.isclose(agent.metrics()["sharpe"], recorded, rtol=0.0, atol=1e-9):
        raise RuntimeError(f"{run.path}: the agent's test Sharpe recomputed from its positions differs from metrics")


# ---------------------------------------------------------------------------------------------------- one unit


def source_fingerprint() -> str:
    """A hash of hierl's code and configs: a reused run must come from the code that would run now."""
    digest = hashlib.sha256()
    for root, pattern in ((REPO / "hierl", "*.py"), (REPO / "conf", "*.yaml")):
        for path in sorted(root.rglob(pattern)):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def unit_identity(overrides: list[str], cfg: PPORunConfig) -> dict[str, Any]:
    """What decides a run's numbers: the resolved config (without where files go), hierl's source, the libraries."""
    config = {key: value for key, value in flat_config(cfg).items() if not key.startswith("paths.")}
    return {
        "overrides": overrides,
        "config": json.loads(json.dumps(config, default=str)),
        "source": source_fingerprint(),
        "versions": {
            "torch": torch.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "numpy": np.__version__,
        },
    }


def run_status(folder: Path) -> str:
    """`finished`, `refused` (the safety gate stopped it), or what `run_state.json` says (`missing`, `failed`...)."""
    state = read_state(folder)
    if state["status"] == "failed" and str(state.get("error", "")).startswith(SafetyViolationError.__name__):
        return "refused"
    return str(state["status"])


def reusable(folder: Path, identity: dict[str, Any]) -> bool:
    """A finished or refused run of exactly this identity is in the folder."""
    path = folder / UNIT_FILE
    if not path.is_file() or run_status(folder) not in ("finished", "refused"):
        return False
    return bool(json.loads(path.read_text()).get("identity") == identity)


def quiet_console() -> None:
    """Warnings only on this worker's console; every record still goes to the run's `log.jsonl`."""
    for handler in get_logger().handlers:
        if getattr(handler, "_hierl_console", False):
            handler.setLevel(logging.WARNING)


def run_unit(unit: Unit, runs_dir: Path, quick: bool) -> dict[str, Any]:
    """Train (or reuse) one unit in its folder and return its record; runs in a worker process."""
    quiet_console()
    folder = runs_dir / unit.name
    overrides = unit.overrides(quick)
    cfg = ppo_run(load_config(overrides, output_dir=str(folder)))
    identity = unit_identity(overrides, cfg)
    reused = reusable(folder, identity)
    if not reused:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / UNIT_FILE).write_text(json.dumps({"identity": identity}, indent=1) + "\n")
        started = time.perf_counter()
        try:
            with run_folder_bookkeeping(folder):
                train_asset_agent(cfg, folder)
        except SafetyViolationError:
            pass  # a refusal is a result: run_state.json and safety_report.json say why, and the report shows it
        except Exception:
            # A failure is reported too (run_state.json holds its one line); the traceback is for whoever debugs it.
            traceback.print_exc()
        record = {"identity": identity, "wall_s": time.perf_counter() - started}
        (folder / UNIT_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return unit_record(unit, folder, cfg, reused, overrides)


def safety_summary(folder: Path) -> dict[str, Any] | None:
    """The gate's verdict on the selected policy: each breach in one line, and each waived limit."""
    path = RunFolder(folder).safety_report_path
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    breaches = [
        f"{v['limit']} {v['value']:.4g} > {v['threshold']:.4g} ({v['symbol_or_group']})" for v in report["violations"]
    ]
    waived = [e["limit"] for e in report.get("exemptions", []) if e["status"] == "waived"]
    return {"passed": report["passed"], "breaches": breaches, "waived": waived}


def unit_record(unit: Unit, folder: Path, cfg: PPORunConfig, reused: bool, overrides: list[str]) -> dict[str, Any]:
    status = run_status(folder)
    saved = json.loads((folder / UNIT_FILE).read_text())
    record: dict[str, Any] = {
        "name": unit.name,
        "part": "sample" if unit.signal is None else "synthetic",
        "asset": unit.asset,
        "signal": unit.signal,
        "persistence": None if unit.signal is None else SIGNAL_TYPES[unit.signal],
        "strength": unit.strength,
        "seed": unit.seed,
        "folder": str(folder),
        "overrides": overrides,
        "source": saved["identity"]["source"],
        "status": status,
        "reused": reused,
        "wall_s": saved.get("wall_s"),
        "safety": safety_summary(folder),
        "reason": None,
        "metrics": None,
        "oracles": None,
    }
    if status == "finished":
        record["metrics"] = RunFolder(folder).read_metrics()
    elif status == "refused":
        record["reason"] = "; ".join(record["safety"]["breaches"]) if record["safety"] else read_state(folder)["error"]
    else:
        record["reason"] = read_state(folder).get("error", f"run_state.json: {status}")
    if unit.signal is not None and status in ("finished", "refused"):
        record["oracles"] = synthetic_oracles(cfg, folder, status == "finished")
    return record


# ---------------------------------------------------------------------------------------------------- summary


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean over seeds, mean +- t(n - 1) s / sqrt(n); None below two values.

    With 3 seeds t is 4.30, so the interval is wide, and honestly so: hierl's percentile bootstrap of the mean
    (`hierl.evaluation.seeds`) is narrower than the seeds justify at this n."""
    array = np.asarray(values, dtype=np.float64)
    if array.size < 2:
        return None
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2.0, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size))
    return float(array.mean()) - half, float(array.mean()) + half


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, t-interval and the values themselves of one number over seeds (None mean when there are none)."""
    interval = t_interval(values)
    return {
        "mean": float(np.mean(values)) if len(values) else None,
        "ci95": None if interval is None else list(interval),
        "values": [float(v) for v in values],
    }


def metric_values(units: list[dict[str, Any]], key: str) -> list[float]:
    return [u["metrics"][key] for u in units if u["status"] == "finished" and key in u["metrics"]]


def counts(units: list[dict[str, Any]]) -> dict[str, int]:
    return {status: sum(u["status"] == status for u in units) for status in ("finished", "refused", "failed")} | {
        "other": sum(u["status"] not in ("finished", "refused", "failed") for u in units)
    }


def same_everywhere(values: list[Any], what: str) -> Any:
    """The one value all seeds share (oracles, baselines: they do not depend on the agent's seed)."""
    if any(value != values[0] for value in values[1:]):
        raise RuntimeError(f"{what} differs between seeds of the same data")
    return values[0]


def synthetic_summary(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for signal in SIGNAL_TYPES:
        strengths = sorted({u["strength"] for u in units if u["signal"] == signal})
        for k in strengths:
            group = [u for u in units if u["signal"] == signal and u["strength"] == k]
            with_oracles = [u["oracles"] for u in group if u["oracles"] is not None]
            oracles = same_everywhere(with_oracles, f"the oracles of {signal} k={k}") if with_oracles else None
            ppo = metric_values(group, "test/sharpe")
            sign = None if oracles is None else oracles["sign"]["sharpe"]
            ratios = [value / sign for value in ppo] if sign is not None and sign > 0.0 else []
            target = RATIO_TARGETS.get(k)
            ratio = float(np.mean(ratios)) if ratios else None
            rows.append(
                {
                    "signal": signal,
                    "persistence": SIGNAL_TYPES[signal],
                    "strength": k,
                    "seeds": [u["seed"] for u in group],
                    "counts": counts(group),
                    "ppo_test_sharpe": spread(ppo),
                    "ppo_test_turnover": spread(metric_values(group, "test/turnover")),
                    "val_sharpe": spread(metric_values(group, "val/sharpe")),
                    "val_sharpe_final": spread(metric_values(group, "val/sharpe_final")),
                    "oracles": oracles,
                    "ratio_to_sign_oracle": {"mean": ratio, "values": ratios},
                    "target": target,
                    "holds": None if ratio is None or target is None else ratio >= target,
                    "not_finished": {
                        u["name"]: f"{u['status']}: {u['reason']}" for u in group if u["status"] != "finished"
                    },
                }
            )
    return rows


def sample_summary(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for asset in [c for c in CLASSES if any(u["asset"] == c for u in units)]:
        group = [u for u in units if u["asset"] == asset]
        finished = [u for u in group if u["status"] == "finished"]
        best: dict[str, Any] | None = None
        if finished:
            # The baselines do not depend on the agent's seed: every seed's run reports the same numbers.
            scores = same_everywhere(
                [
                    {key: value for key, value in u["metrics"].items() if key.split("/")[1:2] == ["baseline"]}
                    for u in finished
                ],
                f"the baselines of {asset}",
            )
            name = max(BASELINES, key=lambda b: scores[f"val/baseline/{b}/sharpe"])
            best = {
                "name": name,
                "val_sharpe": scores[f"val/baseline/{name}/sharpe"],
                "test_sharpe": scores[f"test/baseline/{name}/sharpe"],
            }
        turnover = metric_values(group, "test/turnover")
        val_ppo = spread(metric_values(group, "val/sharpe"))
        rows.append(
            {
                "asset": asset,
                "seeds": [u["seed"] for u in group],
                "counts": counts(group),
                "test_turnover": spread(turnover) | {"max": max(turnover) if turnover else None},
                "turnover_target": TURNOVER_TARGET,
                "turnover_holds": bool(max(turnover) <= TURNOVER_TARGET) if turnover else None,
                "val_sharpe": val_ppo,
                "val_sharpe_final": spread(metric_values(group, "val/sharpe_final")),
                "test_sharpe": spread(metric_values(group, "test/sharpe")),
                "best_baseline": best,
                "sharpe_holds": None
                if best is None or val_ppo["mean"] is None
                else val_ppo["mean"] >= best["val_sharpe"],
                "not_finished": {
                    u["name"]: f"{u['status']}: {u['reason']}" for u in group if u["status"] != "finished"
                },
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------- report


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def with_interval(summary: dict[str, Any]) -> str:
    """`mean [low, high]`, or the mean alone for one seed."""
    text = number(summary["mean"])
    if summary["ci95"] is not None:
        text += f" [{number(summary['ci95'][0])}, {number(summary['ci95'][1])}]"
    return text


def seeds_cell(row: dict[str, Any]) -> str:
    """`3`, or `2/3 (1 refused)` when some seeds gave no test result."""
    n = len(row["seeds"])
    missing = {status: count for status, count in row["counts"].items() if status != "finished" and count}
    if not missing:
        return str(n)
    return f"{row['counts']['finished']}/{n} ({', '.join(f'{c} {s}' for s, c in missing.items())})"


def row_verdict(holds: bool | None, row: dict[str, Any]) -> str:
    if row["counts"]["finished"] == 0:
        return "no run finished"
    if holds is None and row.get("oracles") is not None and row["oracles"]["sign"]["sharpe"] <= 0.0:
        return "n/a (oracle <= 0)"
    return verdict(holds)


def synthetic_tables(rows: list[dict[str, Any]]) -> list[str]:
    recovery = [
        [
            r["signal"],
            f"{r['strength']:g}",
            seeds_cell(r),
            with_interval(r["ppo_test_sharpe"]),
            number(r["oracles"]["sign"]["sharpe"] if r["oracles"] else None),
            number(r["oracles"]["clipped-linear"]["sharpe"] if r["oracles"] else None),
            number(r["ratio_to_sign_oracle"]["mean"]),
            f">= {r['target']}",
            row_verdict(r["holds"], r),
        ]
        for r in rows
    ]
    trading = [
        [
            r["signal"],
            f"{r['strength']:g}",
            number(r["ppo_test_turnover"]["mean"], 1),
            number(r["oracles"]["sign"]["turnover"] if r["oracles"] else None, 1),
            number(r["oracles"]["clipped-linear"]["turnover"] if r["oracles"] else None, 1),
            with_interval(r["val_sharpe"]),
            with_interval(r["val_sharpe_final"]),
        ]
        for r in rows
    ]
    header = ["signal", "k", "seeds", "PPO test Sharpe", "sign oracle", "linear oracle", "PPO / sign", "target"]
    return [
        markdown_table([*header, "verdict"], recovery),
        "",
        "Turnover (test, x NAV a year) and validation Sharpe (the selected model, and the last one trained):",
        "",
        markdown_table(
            ["signal", "k", "PPO turnover", "sign turnover", "linear turnover", "val Sharpe", "val Sharpe (final)"],
            trading,
        ),
    ]


def sample_table(rows: list[dict[str, Any]]) -> str:
    table = []
    for r in rows:
        best = r["best_baseline"]
        table.append(
            [
                r["asset"],
                seeds_cell(r),
                f"{number(r['test_turnover']['mean'], 1)} (max {number(r['test_turnover']['max'], 1)})",
                f"<= {TURNOVER_TARGET:g}",
                verdict(r["turnover_holds"]) if r["counts"]["finished"] else "no run finished",
                with_interval(r["val_sharpe"]),
                "-" if best is None else f"{number(best['val_sharpe'])} ({best['name']})",
                verdict(r["sharpe_holds"]) if r["counts"]["finished"] else "no run finished",
                with_interval(r["test_sharpe"]),
                "-" if best is None else number(best["test_sharpe"]),
            ]
        )
    header = ["class", "seeds", "test turnover", "target", "verdict", "val Sharpe", "best baseline (val)", "verdict"]
    return markdown_table([*header, "test Sharpe", "that baseline (test)"], table)


def not_finished_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"- `{name}`: {why}" for row in rows for name, why in row["not_finished"].items()]
    return ["Runs without a test result:", "", *lines, ""] if lines else []


def shown_path(path: Path) -> str:
    """`path` relative to the repository when it is inside it (as the docs name it), else absolute."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def provenance(payload: dict[str, Any]) -> str:
    run = payload["run"]
    reused = f", {run['reused']} reused from an earlier invocation" if run["reused"] else ""
    sources = len({unit["source"] for unit in payload["units"]})
    mixed = (
        f" WARNING: hierl's code or configs changed while the runs were trained; they come from {sources} versions "
        "of it (`source` of each run in learning.json)."
        if sources > 1
        else ""
    )
    return (
        f"Measured on {payload['machine']['measured_at'][:10]} ({describe_machine(payload['machine'])}), hierl "
        f"{payload['commit']}, {run['workers']} worker processes of one torch thread each. Wall time "
        f"{run['wall_s'] / 60:.1f} min for {run['units']} runs{reused}; the runs themselves took "
        f"{run['unit_s'] / 60:.1f} min of worker time ({run['unit_s'] / max(run['trained'], 1):.0f} s per run). "
        f"Command: `{payload['command']}`.{mixed}"
    )


def render_report(payload: dict[str, Any]) -> str:
    """The full report: learning.md and the block of docs/learning.md."""
    cfg = payload["config"]
    lines = [provenance(payload), ""]
    lines += [
        f"### Planted signal (`data=synthetic`, {cfg['synthetic_symbols']} equity symbols x {cfg['synthetic_days']:,} "
        "days)",
        "",
        f"Test Sharpe net of costs; PPO's is the mean over seeds with a {CONFIDENCE:.0%} t-interval; PPO / sign is the "
        "mean over seeds of each seed's test Sharpe over the sign oracle's:",
        "",
        *synthetic_tables(payload["synthetic"]),
        "",
        *not_finished_lines(payload["synthetic"]),
        "### Sample data (default PPO per class, default safety gate)",
        "",
        "Test turnover: mean over seeds (max; the target must hold for every seed). Validation Sharpe: PPO's "
        "selected model against the best naive baseline on validation (mean over seeds against it). Test Sharpe: "
        "as measured, beside the test Sharpe of that baseline:",
        "",
        sample_table(payload["sample"]),
        "",
        *not_finished_lines(payload["sample"]),
        f"Every run's numbers, per seed: `{payload['out']}/learning.json`; the run folders: "
        f"`{payload['out']}/learning_runs/`.",
    ]
    return "\n".join(lines)


def best_val(row: dict[str, Any]) -> float | None:
    return None if row["best_baseline"] is None else row["best_baseline"]["val_sharpe"]


def readme_summary(payload: dict[str, Any]) -> str:
    """The README's part, kept small (the README stays under 16 KB): per strength, PPO's and the sign oracle's test
    Sharpe and their ratio for each signal; per class, the worst test turnover and the validation Sharpe."""
    by_key = {(r["signal"], r["strength"]): r for r in payload["synthetic"]}
    signal = []
    for k in sorted({r["strength"] for r in payload["synthetic"]}):
        cells = [f"{k:g}", f">= {RATIO_TARGETS[k]}"]
        for name in SIGNAL_TYPES:
            r = by_key[(name, k)]
            oracle = r["oracles"]["sign"]["sharpe"] if r["oracles"] else None
            ratio = r["ratio_to_sign_oracle"]["mean"]
            shown = row_verdict(r["holds"], r) if ratio is None else f"{number(ratio)} {verdict(r['holds'])}"
            cells += [f"{number(r['ppo_test_sharpe']['mean'])} / {number(oracle)}", shown]
        signal.append(cells)
    sample = [
        [
            r["asset"],
            f"{number(r['test_turnover']['max'], 1)} {verdict(r['turnover_holds'])}",
            f"{number(r['val_sharpe']['mean'])} / {number(best_val(r))} {verdict(r['sharpe_holds'])}",
        ]
        for r in payload["sample"]
    ]
    date, n_seeds = payload["machine"]["measured_at"][:10], len(payload["config"]["seeds"])
    header = ["k", "target"]
    for name in SIGNAL_TYPES:
        header += [f"{name}: PPO / oracle", "ratio"]
    return "\n".join(
        [
            f"`nox -s learn`, {date}, default PPO, {n_seeds} seeds. Planted signal, mean test Sharpe vs the sign "
            "oracle:",
            "",
            markdown_table(header, signal),
            "",
            "Sample data: max test turnover (target <= 10), mean val Sharpe / best baseline's:",
            "",
            markdown_table(["class", "turnover", "val Sharpe"], sample),
            "",
            "Details: [docs/learning.md](docs/learning.md).",
        ]
    )


def commit() -> str:
    """The checked-out commit, marked when the working tree differs from it (the numbers are of the tree)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


# ---------------------------------------------------------------------------------------------------- main


def run_all(units: list[Unit], runs_dir: Path, quick: bool, workers: int) -> list[dict[str, Any]]:
    """Every unit in its own worker process (one torch thread each), at most `workers` at a time.

    "spawn" starts each process clean (no torch state forked from the parent) and `max_tasks_per_child=1` gives
    every unit a fresh one, so a unit's numbers cannot depend on which units its worker ran before."""
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the workers before they import torch
    context = multiprocessing.get_context("spawn")
    records: dict[str, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_unit, unit, runs_dir, quick): unit for unit in units}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                record = future.result()
                records[record["name"]] = record
                how = "reused" if record["reused"] else f"{record['wall_s']:.0f} s"
                shown = record["metrics"]["test/sharpe"] if record["metrics"] else None
                print(
                    f"[{done}/{len(units)}] {record['name']}: {record['status']} ({how}), test Sharpe {number(shown)}"
                )
        except KeyboardInterrupt:
            # Start nothing new; the running units stop at their own Ctrl-C and are trained again next time.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [records[unit.name] for unit in units]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budgets, one strength, seed and class")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel runs (default: CPUs)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/)")
    args = parser.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="hierl-learn-")) if args.quick else RESULTS_DIR)
    docs = [] if args.quick else [REPO / "README.md", REPO / "docs" / "learning.md"]
    for path in docs:  # before hours of training, not after
        check_generated(path, BLOCK)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    units = plan(args.quick)
    records = run_all(units, out / "learning_runs", args.quick, args.workers)
    trained = [r for r in records if not r["reused"]]
    payload: dict[str, Any] = {
        "benchmark": "learning",
        "machine": machine(),
        "commit": commit(),
        "command": " ".join(["python", "benchmarks/learn.py", *sys.argv[1:]]),
        "out": shown_path(out.resolve()),
        "config": {
            "quick": args.quick,
            "signal_types": SIGNAL_TYPES,
            "strengths": sorted({u.strength for u in units if u.strength is not None}),
            "seeds": sorted({u.seed for u in units}),
            "classes": sorted({u.asset for u in units if u.signal is None}),
            "synthetic_assets": SYNTHETIC_ASSETS,
            "synthetic_symbols": SYNTHETIC_ASSETS // len(SyntheticConfig().asset_classes),
            "synthetic_days": SYNTHETIC_DAYS,
            "ratio_targets": {str(k): v for k, v in RATIO_TARGETS.items()},
            "turnover_target": TURNOVER_TARGET,
            "interval": f"{CONFIDENCE:.0%} Student-t interval of the mean over seeds",
        },
        "run": {
            "workers": args.workers,
            "wall_s": time.perf_counter() - started,
            "units": len(records),
            "reused": len(records) - len(trained),
            "trained": len(trained),
            "unit_s": sum(r["wall_s"] or 0.0 for r in trained),
        },
        "synthetic": synthetic_summary([r for r in records if r["part"] == "synthetic"]),
        "sample": sample_summary([r for r in records if r["part"] == "sample"]),
        "units": records,
    }
    report = render_report(payload)
    (out / "learning.json").write_text(json.dumps(payload, indent=1) + "\n")
    (out / "learning.md").write_text(f"## Learning\n\n{report}\n")
    print(report)
    print(f"wrote {out / 'learning.json'} and {out / 'learning.md'}")
    if docs:
        replace_generated(REPO / "docs" / "learning.md", report, BLOCK)
        replace_generated(REPO / "README.md", readme_summary(payload), BLOCK)
        print("wrote docs/learning.md and the README's Learning section")
        size = (REPO / "README.md").stat().st_size
        if size > README_LIMIT:
            print(f"warning: README.md is now {size:,} bytes, over {README_LIMIT:,}; shorten readme_summary")
    if any(r["status"] not in ("finished", "refused") for r in records):
        raise SystemExit("some runs failed; see `Runs without a test result` above")


if __name__ == "__main__":
    main()
