"""The sleeves' PPO signals: read from a signals Parquet file, or trained on the fly by the PPO stage.

Signals table: see `hierl.orchestration.signals` (one row per decision date and symbol, `signal` in [-1, 1], the
signal at date d uses data up to d).

Honesty: a PPO's signals on its own training block are in-sample, so sleeves look better on the train block
than they will out of sample. The meta-controller still trains on the train block (the only block long enough
for SAC), but its model is selected on the validation block, where the PPO signals are out of sample, and it is
tested once on the test block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from hydra.core.global_hydra import GlobalHydra

from hierl.config.loading import load_config
from hierl.config.run import PPORunConfig, TrainConfig
from hierl.config.stages import ppo_run
from hierl.data.market import MarketData
from hierl.envs.sleeves import ClassSignals
from hierl.errors import UserError
from hierl.orchestration.ppo_stage import (
    compose_ppo_config,
    execution_config,
    plan_ppo_jobs,
    train_ppo_stage,
)
from hierl.orchestration.signals import SIGNALS_FILE, read_signals
from hierl.tracking.logging import get_logger

log = get_logger("sleeves")

SLEEVES_DIR = "sleeves"


def class_signals(frame: pl.DataFrame, market: MarketData) -> ClassSignals:
    """One class's signals on its own calendar ([T, N], NaN where no row), for `build_universe`."""
    rows = frame.filter(pl.col("asset_class") == market.asset_class)
    if rows.is_empty():
        raise UserError(f"the signals table has no rows for asset class {market.asset_class!r}")
    symbols = set(rows["symbol"].unique().to_list())
    if not symbols <= set(market.symbols):
        raise UserError(
            f"signals of {market.asset_class!r} name symbols {sorted(symbols - set(market.symbols))} that the data "
            "does not have; produce signals from the same data config"
        )
    dates = rows["date"].to_numpy().astype(market.dates.dtype)
    t = np.searchsorted(market.dates, dates)
    t_safe = np.minimum(t, len(market.dates) - 1)
    if not np.array_equal(market.dates[t_safe], dates):
        raise UserError(f"signals of {market.asset_class!r} have dates that are not trading days of its data")
    i = np.array([market.symbols.index(s) for s in rows["symbol"].to_list()])
    values = np.full(market.returns.shape, np.nan)
    values[t, i] = rows["signal"].to_numpy()
    split = np.full(len(market.dates), "", dtype=object)
    split[t] = np.asarray(rows["split"].to_list(), dtype=object)
    return ClassSignals(values=values, split=split)


def class_config(outer: TrainConfig, asset_class: str) -> PPORunConfig:
    """The PPO config of one class (`agent=ppo env=trading asset=<class>` with this run's `debug` preset).

    Data, paths, seed, logger and progress come from the meta-controller's run, so every sleeve sees the same
    data; the agent, env costs, reward and safety limits are the class's own (its YAML, hence one composition).
    """
    overrides = ["agent=ppo", "env=trading", f"asset={asset_class}"]
    if outer.debug_name is not None:
        overrides.append(f"debug={outer.debug_name}")
    if GlobalHydra.instance().is_initialized():
        composed = compose_ppo_config([*overrides, f"paths.output_dir={outer.paths.output_dir}"])
    else:
        composed = ppo_run(load_config(overrides, output_dir=outer.paths.output_dir))
    return dataclasses.replace(
        composed, data=outer.data, paths=outer.paths, seed=outer.seed, logger=outer.logger, progress=outer.progress
    )


def class_configs(outer: TrainConfig, asset_classes: Sequence[str]) -> dict[str, PPORunConfig]:
    """`class_config` of every class, composed once each."""
    return {asset_class: class_config(outer, asset_class) for asset_class in asset_classes}


def train_sleeve_signals(
    outer: TrainConfig,
    run_dir: Path,
    asset_classes: Sequence[str],
    class_cfgs: Mapping[str, PPORunConfig] | None = None,
) -> pl.DataFrame:
    """One PPO per class in `<run_dir>/sleeves/<class>/` (the PPO stage, this run's seed), and their signals.

    `class_cfgs`: the sleeves' configs when the caller composed them already (`class_configs`); composed here
    otherwise. Finished sleeves of an earlier attempt in the same folder are reused; the sleeves run as Ray tasks
    when the run sets `multistage.distributed=true`.
    """
    root = run_dir / SLEEVES_DIR
    configs = dict(class_cfgs) if class_cfgs is not None else class_configs(outer, asset_classes)
    jobs = plan_ppo_jobs({c: configs[c] for c in asset_classes}, [outer.seed], root)
    result = train_ppo_stage(jobs, root, root / SIGNALS_FILE, execution_config(outer))
    if result.errors:
        failures = "; ".join(f"{name}: {error}" for name, error in result.errors.items())
        raise UserError(f"the meta-controller needs every sleeve, but PPO failed for {failures}")
    return read_signals(root / SIGNALS_FILE)
