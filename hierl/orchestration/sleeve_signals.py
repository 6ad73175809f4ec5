"""The sleeves' PPO signals: read from a signals Parquet file, or trained on the fly, one PPO run per class.

Signals table (one row per decision date and symbol): `date` Date, `asset_class` str, `symbol` str, `signal`
float64 in [-1, 1] (the deterministic PPO action; the signal at date d uses data up to d), `split`.

Honesty: a PPO's signals on its own training block are in-sample, so sleeves look better on the train block
than they will out of sample. The meta-controller still trains on the train block (the only block long enough
for SAC), but its model is selected on the validation block, where the PPO signals are out of sample, and it is
tested once on the test block.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from stable_baselines3 import PPO

from hierl.agents.rollout import rollout_positions
from hierl.config.env import EnvConfig
from hierl.config.loading import load_config, to_train_config
from hierl.config.run import TrainConfig
from hierl.data.market import SPLITS, MarketData
from hierl.envs.sleeves import ClassSignals
from hierl.errors import UserError
from hierl.orchestration.asset_run import BEST_MODEL_FILE, load_run_market, predictor, train_asset_agent
from hierl.tracking.logging import get_logger

log = get_logger("sleeves")

SIGNAL_SCHEMA = {
    "date": pl.Date,
    "asset_class": pl.String,
    "symbol": pl.String,
    "signal": pl.Float64,
    "split": pl.String,
}


def validate_signals(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """The frame with the signals schema, or one UserError naming what is wrong and how to fix it."""
    missing = [name for name in SIGNAL_SCHEMA if name not in frame.columns]
    if missing:
        raise UserError(f"{origin} lacks columns {missing}; a signals table has {list(SIGNAL_SCHEMA)}")
    try:
        frame = frame.select([pl.col(name).cast(dtype, strict=True) for name, dtype in SIGNAL_SCHEMA.items()])
    except pl.exceptions.PolarsError as error:
        raise UserError(f"{origin}: columns must have types {SIGNAL_SCHEMA} ({error})") from error
    if frame.null_count().sum_horizontal().item() > 0 or not frame["signal"].is_finite().all():
        raise UserError(f"{origin} has null or non-finite values; every row needs all five columns")
    if (frame["signal"].abs() > 1.0).any():
        raise UserError(f"{origin} has signals outside [-1, 1]; signals are deterministic PPO actions")
    unknown = sorted(set(frame["split"].unique().to_list()) - set(SPLITS))
    if unknown:
        raise UserError(f"{origin} has splits {unknown}; use {list(SPLITS)}")
    if frame.select(["date", "asset_class", "symbol"]).is_duplicated().any():
        raise UserError(f"{origin} has more than one signal for some (date, asset_class, symbol)")
    return frame


def read_signals(path: str | Path) -> pl.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"agent.signals_path={path} does not exist; run experiments/train_ppo_agents.py first or set "
            "agent.signals_path=null to train the sleeves' PPO agents in this run"
        )
    return validate_signals(pl.read_parquet(file), str(file))


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
    dates = rows["date"].to_numpy().astype("datetime64[D]")
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


def policy_signals(model: PPO, cfg: TrainConfig, market: MarketData) -> pl.DataFrame:
    """Deterministic actions of a PPO policy on every decision row of every split, as a signals table.

    The evaluation rollout returns positions = action x max_leverage (0 where unpriced, where the signal is
    then irrelevant), so the action is recovered by dividing.
    """
    assert isinstance(cfg.env, EnvConfig)
    frames = []
    for split in SPLITS:
        rollout = rollout_positions(predictor(model), market, split, cfg.env, cfg.reward)
        signal = np.clip(rollout.positions / cfg.env.max_leverage, -1.0, 1.0)
        n_rows, n_assets = signal.shape
        frames.append(
            pl.DataFrame(
                {
                    "date": np.repeat(market.dates[rollout.decision_rows], n_assets),
                    "asset_class": [market.asset_class] * (n_rows * n_assets),
                    "symbol": list(market.symbols) * n_rows,
                    "signal": signal.reshape(-1),
                    "split": [split] * (n_rows * n_assets),
                }
            )
        )
    return validate_signals(pl.concat(frames), f"signals of the {market.asset_class} PPO")


def class_config(outer: TrainConfig, asset_class: str) -> TrainConfig:
    """The PPO config of one class (`agent=ppo env=trading asset=<class>` with this run's `debug` preset).

    Data, paths, seed, logger and progress come from the meta-controller's run, so every sleeve sees the same
    data; the agent, env costs, reward and safety limits are the class's own.
    """
    overrides = ["agent=ppo", "env=trading", f"asset={asset_class}"]
    if HydraConfig.initialized():
        debug = HydraConfig.get().runtime.choices.get("debug")
        if debug not in (None, "null"):
            overrides.append(f"debug={debug}")
    elif outer.debug_name is not None:
        overrides.append(f"debug={outer.debug_name}")
    if GlobalHydra.instance().is_initialized():
        composed = to_train_config(
            compose("train", overrides=[*overrides, f"paths.output_dir={outer.paths.output_dir}"])
        )
    else:
        composed = load_config(overrides, output_dir=outer.paths.output_dir)
    return dataclasses.replace(
        composed, data=outer.data, paths=outer.paths, seed=outer.seed, logger=outer.logger, progress=outer.progress
    )


def train_sleeve_signals(outer: TrainConfig, run_dir: Path, asset_classes: list[str]) -> pl.DataFrame:
    """Train one PPO per class in `<run_dir>/sleeves/<class>/` and roll out its signals on every split."""
    frames = []
    for asset_class in asset_classes:
        cfg = class_config(outer, asset_class)
        folder = run_dir / "sleeves" / asset_class
        folder.mkdir(parents=True, exist_ok=True)
        log.info("training the %s sleeve's PPO in %s", asset_class, folder)
        train_asset_agent(cfg, folder)
        model = PPO.load(folder / BEST_MODEL_FILE, device="cpu")
        frames.append(policy_signals(model, cfg, load_run_market(cfg)))
    return pl.concat(frames)
