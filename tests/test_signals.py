"""The signals table: one row per (date, symbol, split), actions in [-1, 1], and decided from the past only."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from envs_fixtures import make_market

from hierl.agents.ppo import PPOAgentFactory, make_training_vec_env
from hierl.config.agent import PPOConfig
from hierl.config.env import EnvConfig, RewardConfig
from hierl.data.market import MarketData
from hierl.orchestration.hierarchy_run import in_sample_warning
from hierl.orchestration.signals import SIGNAL_SCHEMA, read_signals, signals_frame, write_signals

ENV = EnvConfig(window=5, episode_length=40, max_leverage=0.5)
REWARD = RewardConfig()
MARKET = make_market(n_days=200, n_assets=3, n_features=2, seed=3)
# A policy with large weights, so its actions vary strongly with the observation (and some hit the bounds).
MODEL = PPOAgentFactory(PPOConfig(n_steps=16, batch_size=16, n_envs=1, net_arch=[16])).build(
    make_training_vec_env(MARKET, ENV, REWARD, 1, 0), seed=0
)
for parameter in MODEL.policy.action_net.parameters():
    parameter.data.mul_(1000.0)


def test_one_row_per_date_symbol_and_split_with_the_contract_schema() -> None:
    frame = signals_frame(MODEL, MARKET, ENV, REWARD)
    assert dict(frame.schema) == SIGNAL_SCHEMA
    assert frame.select("date", "symbol").is_duplicated().sum() == 0
    for split in ("train", "val", "test"):
        start, stop = MARKET.split_bounds[split]
        rows = frame.filter(pl.col("split") == split)
        # Every decision row of the block: from the first full window to the row before the block's last return.
        first_row = start + ENV.window - 1
        expected_dates = MARKET.dates[first_row : stop - 1]
        assert sorted(set(rows["symbol"].to_list())) == list(MARKET.symbols)
        assert np.array_equal(np.unique(rows["date"].to_numpy().astype("datetime64[D]")), expected_dates)
        assert rows.height == len(expected_dates) * MARKET.n_assets
    signal = frame["signal"].to_numpy()
    assert np.all(np.abs(signal) <= 1.0)
    assert np.abs(signal).max() == pytest.approx(1.0), "the scaled-up policy should reach its bound"
    assert np.unique(np.round(signal, 6)).size > 10


def altered_after(market: MarketData, row: int, seed: int = 99) -> MarketData:
    """The same market up to `row`; every array's later rows replaced by unrelated values."""
    rng = np.random.default_rng(seed)
    features, returns = market.features.copy(), market.returns.copy()
    features[row + 1 :] = rng.normal(size=features[row + 1 :].shape).astype(np.float32)
    returns[row + 1 :] = rng.normal(0.0, 0.05, size=returns[row + 1 :].shape)
    prices = market.prices.copy()
    prices[row + 1 :] = prices[row] * np.cumprod(1.0 + returns[row + 1 :], axis=0)
    return dataclasses.replace(market, features=features, returns=returns, prices=prices)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_signals_dated_up_to_t_do_not_change_when_later_data_changes(split: str) -> None:
    start, stop = MARKET.split_bounds[split]
    cutoff = (start + ENV.window + stop) // 2
    original = signals_frame(MODEL, MARKET, ENV, REWARD)
    changed = signals_frame(MODEL, altered_after(MARKET, cutoff), ENV, REWARD)
    cutoff_date = MARKET.dates[cutoff]
    key = ["split", "date", "symbol"]
    before = original.filter(pl.col("date") <= cutoff_date).sort(key)
    after = changed.filter(pl.col("date") <= cutoff_date).sort(key)
    assert before.height > 0
    assert before.equals(after)
    later_original = original.filter(pl.col("date") > cutoff_date).sort(key)["signal"].to_numpy()
    later_changed = changed.filter(pl.col("date") > cutoff_date).sort(key)["signal"].to_numpy()
    assert not np.allclose(later_original, later_changed), "the altered data should move later signals"


def test_write_signals_rejects_a_table_that_breaks_the_contract(tmp_path: Path) -> None:
    frame = signals_frame(MODEL, MARKET, ENV, REWARD)
    written = write_signals(tmp_path / "signals.parquet", [frame])
    assert pl.read_parquet(tmp_path / "signals.parquet").equals(written)
    with pytest.raises(ValueError, match="one row per"):
        write_signals(tmp_path / "bad.parquet", [frame, frame.head(3)])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        write_signals(tmp_path / "bad.parquet", [frame.with_columns(pl.col("signal") * 2.0 + 1.5)])
    assert not (tmp_path / "bad.parquet").exists()


def test_intraday_signals_keep_every_bar_of_a_day(tmp_path: Path) -> None:
    """On hourly bars `date` is a Datetime: the 24 decisions of a day stay 24 rows, read back as they were written."""
    hours = np.datetime64("2021-01-01T00:00:00") + np.arange(len(MARKET.dates)).astype("timedelta64[h]")
    hourly = dataclasses.replace(MARKET, dates=hours, frequency="1h", bars_per_year=24 * 365)
    frame = signals_frame(MODEL, hourly, ENV, REWARD)
    assert dict(frame.schema) == {**SIGNAL_SCHEMA, "date": pl.Datetime("us")}
    assert frame.height == signals_frame(MODEL, MARKET, ENV, REWARD).height  # as many decisions as on days
    for split in ("train", "val", "test"):
        start, stop = hourly.split_bounds[split]
        stamps = np.unique(frame.filter(pl.col("split") == split)["date"].to_numpy().astype("datetime64[s]"))
        assert np.array_equal(stamps, hours[start + ENV.window - 1 : stop - 1])
    written = write_signals(tmp_path / "signals.parquet", [frame])
    assert written.schema["date"] == pl.Datetime("us")
    assert read_signals(tmp_path / "signals.parquet").equals(written)


def test_a_signals_file_without_provenance_is_called_in_sample_when_out_of_fold_is_asked() -> None:
    plain = pl.DataFrame({"date": [date(2020, 1, 2)], "signal": [0.5], "split": ["train"]})
    warning = in_sample_warning(plain, "sleeves/signals.parquet", "out_of_fold")
    assert warning is not None and "sleeves/signals.parquet" in warning and "in-sample" in warning
    assert in_sample_warning(plain, "x", "in_sample") is None
    traced = plain.with_columns(pl.lit("sleeves/oof_0").alias("source_fold"))
    assert in_sample_warning(traced, "x", "out_of_fold") is None
