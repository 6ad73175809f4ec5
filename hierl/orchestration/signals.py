"""The asset agents' signals: each policy's deterministic target position per (date, symbol), as one table.

The SAC meta-controller and the pipeline read `signals.parquet` in exactly this format:

    date (Date), asset_class (str), symbol (str), signal (float64 in [-1, 1]), split (train / val / test)

`date` is a Date for daily bars and a Datetime (microseconds, naive UTC) for intraday bars, the unit of the
market's calendar (`MarketData.dates`): cut to days, an hourly sleeve's 24 decisions of one day would collide.
`signal` is the target position divided by `env.max_leverage` (0 where the symbol has no price that day). The
signal dated d is decided at the close of d from data published up to d: each split is one deterministic
evaluation episode per symbol (the env's own rollout), starting flat at the split's first decision row.

Out-of-fold tables (a walk-forward's, `hierl.orchestration.oof_signals`) add two provenance columns, kept by the
validator when both are present: `source_fold` (str, the unit whose model produced the row) and
`source_train_end` (the last day, or intraday the last bar, that model trained on: a Date or a Datetime, as
`data_fingerprint.json` records it), which must lie before the row's date (a Date covers all of its day).

One validator (`validate_signals`) guards both directions: tables this package writes and files a user hands
to `agent.signals_path`, so a table that passes it is usable by the meta-controller whatever produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from hierl.agents.model_files import load_model
from hierl.agents.observation_scaling import ObservationScaling, read_scaling
from hierl.agents.rollout import Predict, predictor, rollout_positions
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import SPLITS, MarketData
from hierl.data.timestamps import column_dates, column_type
from hierl.errors import UserError
from hierl.tracking.files import write_parquet

SIGNALS_FILE = "signals.parquet"
# The schema of a daily table; `signal_schema` gives an intraday one its Datetime `date`.
SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "asset_class": pl.String(),
    "symbol": pl.String(),
    "signal": pl.Float64(),
    "split": pl.String(),
}
SIGNAL_KEY = ["date", "asset_class", "symbol"]
# Optional provenance of out-of-fold signals: which unit's model produced a row, and the last day it trained on.
SOURCE_FOLD = "source_fold"
SOURCE_TRAIN_END = "source_train_end"
PROVENANCE_SCHEMA: dict[str, pl.DataType] = {SOURCE_FOLD: pl.String(), SOURCE_TRAIN_END: pl.Date()}
INTRADAY_DATE = pl.Datetime("us")


def signal_schema(date_type: pl.DataType) -> dict[str, pl.DataType]:
    """`SIGNAL_SCHEMA` with `date_type` for `date`: Date for daily bars, Datetime("us") for intraday ones."""
    return {**SIGNAL_SCHEMA, "date": date_type}


def _date_type(dtype: pl.DataType) -> pl.DataType:
    """The contract's type for a column of `dtype`: a Datetime stays one (in microseconds), anything else must
    cast to a Date (as tables always did), so intraday decisions are never cut to their day."""
    return INTRADAY_DATE if isinstance(dtype, pl.Datetime) else pl.Date()


def policy_signals(
    predict: Predict,
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    splits: Sequence[str] = SPLITS,
) -> pl.DataFrame:
    """One row per (decision date, symbol) of every split, from deterministic rollouts of `predict`."""
    frames = []
    for split in splits:
        rollout = rollout_positions(predict, market, split, env_cfg, reward_cfg)
        rows, n_assets = rollout.decision_rows, market.n_assets
        frames.append(
            pl.DataFrame(
                {
                    "date": np.repeat(column_dates(market.dates[rows]), n_assets),
                    "asset_class": [market.asset_class] * (len(rows) * n_assets),
                    "symbol": np.tile(np.asarray(market.symbols, dtype=object), len(rows)).tolist(),
                    # Clipped only against rounding: target / max_leverage is the action, already in [-1, 1].
                    "signal": np.clip(rollout.positions / env_cfg.max_leverage, -1.0, 1.0).reshape(-1),
                    "split": [split] * (len(rows) * n_assets),
                },
                schema=signal_schema(column_type(market.dates)),
            )
        )
    return pl.concat(frames)


def signals_frame(
    model: BaseAlgorithm,
    market: MarketData,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    scaling: ObservationScaling | None = None,
) -> pl.DataFrame:
    """The signals of a trained model on every split of one asset class; `scaling` is the model's frozen
    observation statistics when it was trained with `agent.normalize_observations`."""
    return policy_signals(predictor(model, scaling), market, env_cfg, reward_cfg)


def saved_model_signals(
    model_path: Path, market: MarketData, env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> pl.DataFrame:
    """The signals of a saved PPO model, with the observation statistics saved beside it (if any), so the signals
    are the positions its validation and test backtests took."""
    model = load_model(PPO, model_path)
    return signals_frame(model, market, env_cfg, reward_cfg, read_scaling(model_path))


def _schema_of(frame: pl.DataFrame, origin: str) -> dict[str, pl.DataType]:
    """The contract's columns, plus the provenance columns when the frame has them (both or neither); each date
    column keeps its unit (`_date_type`)."""
    provenance = [name for name in PROVENANCE_SCHEMA if name in frame.columns]
    if provenance and len(provenance) != len(PROVENANCE_SCHEMA):
        raise UserError(
            f"{origin} has {provenance} but not {sorted(set(PROVENANCE_SCHEMA) - set(provenance))}; out-of-fold "
            f"signals carry both {list(PROVENANCE_SCHEMA)}"
        )
    schema = signal_schema(_date_type(frame.schema["date"]))
    if not provenance:
        return schema
    return {**schema, SOURCE_FOLD: pl.String(), SOURCE_TRAIN_END: _date_type(frame.schema[SOURCE_TRAIN_END])}


def _trained_on_own_date(frame: pl.DataFrame) -> bool:
    """True when a row's model trained on its date or later: `source_train_end` >= `date`, where a Date train end
    against intraday dates means every bar of that day (and a timestamp against days, the day it falls on)."""
    train_end = pl.col(SOURCE_TRAIN_END)
    if frame.schema[SOURCE_TRAIN_END] == pl.Date and isinstance(frame.schema["date"], pl.Datetime):
        late = train_end.cast(INTRADAY_DATE) + pl.duration(days=1) > pl.col("date")
    else:
        late = train_end.cast(frame.schema["date"]) >= pl.col("date")
    return bool(frame.select(late.any()).item())


def validate_signals(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """The frame cast to the contract's schema, or one UserError naming what is wrong and how to fix it."""
    missing = [name for name in SIGNAL_SCHEMA if name not in frame.columns]
    if missing:
        raise UserError(f"{origin} lacks columns {missing}; a signals table has {list(SIGNAL_SCHEMA)}")
    schema = _schema_of(frame, origin)
    try:
        frame = frame.select([pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()])
    except pl.exceptions.PolarsError as error:
        raise UserError(f"{origin}: columns must have types {schema} ({error})") from error
    if frame.null_count().sum_horizontal().item() > 0 or not frame["signal"].is_finite().all():
        raise UserError(f"{origin} has null or non-finite values; every row needs all {len(schema)} columns")
    if SOURCE_TRAIN_END in schema and _trained_on_own_date(frame):
        raise UserError(
            f"{origin} has rows whose {SOURCE_TRAIN_END} is not before their date: out-of-fold signals come from "
            "models trained on earlier days only"
        )
    if (frame["signal"].abs() > 1.0).any():
        raise UserError(f"{origin} has signals outside [-1, 1]; signals are deterministic PPO actions")
    unknown = sorted(set(frame["split"].unique().to_list()) - set(SPLITS))
    if unknown:
        raise UserError(f"{origin} has splits {unknown}; use {list(SPLITS)}")
    if frame.select(SIGNAL_KEY).is_duplicated().any():
        raise UserError(f"{origin} must hold one row per (date, asset_class, symbol); some keys repeat")
    return frame


def read_signals(path: str | Path) -> pl.DataFrame:
    """A signals file given as `agent.signals_path`, checked against the contract."""
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"agent.signals_path={path} does not exist; run experiments/train_ppo_agents.py first or set "
            "agent.signals_path=null to train the sleeves' PPO agents in this run"
        )
    return validate_signals(pl.read_parquet(file), str(file))


def write_signals(path: Path, frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate the classes' signals, check the contract, sort and write them atomically."""
    frame = validate_signals(pl.concat(frames).sort(SIGNAL_KEY), f"the signals for {path}")
    write_parquet(path, frame)
    return frame
