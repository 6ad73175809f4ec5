"""The sleeves' PPO signals: read from a signals Parquet file, or trained on the fly by the PPO stage.

Signals table: see `hierl.orchestration.signals` (one row per decision date and symbol, `signal` in [-1, 1], the
signal at date d uses data up to d).

Honesty: a PPO's signals on its own training block are in-sample: sleeves look several times better there than
anywhere else, and a meta-controller trained on them learns to trust them too much. With
`multistage.sac_signals=out_of_fold` (the default) the meta-controller's training rows are out of fold instead
(`hierl.orchestration.oof_signals`: an inner walk-forward of PPO units inside the training block, whose test
blocks tile its end); `in_sample` trains it on the sleeves' own training-block signals. Either way it is selected
on the validation block, where the sleeves' signals are out of sample, and tested once on the test block.
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
from hierl.orchestration.oof_signals import plan_split_out_of_fold, train_split_signals
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
    """One PPO per class in `<run_dir>/sleeves/<class>/` (the PPO stage, this run's seed), and the signals the
    meta-controller uses: out of fold on the training block (inner units in `<run_dir>/sleeves/oof_<j>/<class>/`)
    unless `multistage.sac_signals=in_sample`.

    `class_cfgs`: the sleeves' configs when the caller composed them already (`class_configs`); composed here
    otherwise. Finished sleeves of an earlier attempt in the same folder are reused; the sleeves run as Ray tasks
    when the run sets `multistage.distributed=true`.
    """
    root = run_dir / SLEEVES_DIR
    configs = dict(class_cfgs) if class_cfgs is not None else class_configs(outer, asset_classes)
    chosen = {c: configs[c] for c in asset_classes}
    jobs = plan_ppo_jobs(chosen, [outer.seed], root)
    out_of_fold = outer.multistage.sac_signals == "out_of_fold"
    # Planned first: inner folds that do not fit the training block fail before any sleeve trains.
    plan = plan_split_out_of_fold(chosen, outer.multistage, SLEEVES_DIR) if out_of_fold else None
    execution = execution_config(outer)
    result = train_ppo_stage(jobs, root, root / SIGNALS_FILE, execution)
    if result.errors:
        failures = "; ".join(f"{name}: {error}" for name, error in result.errors.items())
        raise UserError(f"the meta-controller needs every sleeve, but PPO failed for {failures}")
    if plan is None:
        return read_signals(root / SIGNALS_FILE)
    runs = {job.asset_class: job.run_dir for job in jobs}
    return train_split_signals(plan, chosen, runs, outer.seed, 1, root, execution).signals()
