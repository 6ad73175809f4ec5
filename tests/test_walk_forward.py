"""Walk-forward without training: the folds (contiguous, non-overlapping, embargoed; rolling and expanding), how a
fold's dates reach a unit's split blocks, the out-of-fold signals and their provenance, the stitched record and its
statistics, checked against independent computations."""

from __future__ import annotations

import itertools
import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import kurtosis, norm, skew

from hierl.config.data import DataConfig, SplitConfig
from hierl.config.loading import load_config
from hierl.config.walk_forward import WalkForwardConfig
from hierl.data.splits import compute_split_bounds, walk_forward_folds
from hierl.envs.market_core import bars_in_years
from hierl.errors import ConfigError, DataError, UserError
from hierl.orchestration.oof_signals import fold_signals
from hierl.orchestration.oos_record import Segment, record_metrics, stitch, write_record
from hierl.orchestration.signals import (
    SIGNAL_SCHEMA,
    SOURCE_FOLD,
    SOURCE_TRAIN_END,
    signal_schema,
    validate_signals,
)
from hierl.orchestration.walk_forward_plan import check_no_split_dates, plan_walk_forward
from hierl.run.folder import RunFolder

CALENDAR = np.busday_offset("2001-01-01", np.arange(1500), roll="forward").astype("datetime64[D]")


def tiles(folds: list, n_rows: int, test_rows: int, embargo: int, lead: int) -> None:
    """The scored test rows tile the end of the calendar; the blocks are in order with `embargo` rows between."""
    for before, after in itertools.pairwise(folds):
        assert after.test[0] == before.test[1], "consecutive test blocks must touch"
    assert folds[-1].test[1] == n_rows
    for fold in folds:
        assert fold.test[1] - fold.test[0] == test_rows
        assert fold.val[0] - fold.train[1] == embargo
        assert fold.test_block[0] - fold.val[1] == embargo
        assert fold.test_block == (fold.test[0] - 1 - lead, fold.test[1])
        assert fold.train[0] >= 0 and fold.train[0] < fold.train[1] < fold.val[0] < fold.val[1] <= fold.test_block[0]


@pytest.mark.parametrize("lead", [0, 4])
def test_rolling_folds_tile_the_end_of_the_calendar_with_embargoes(lead: int) -> None:
    folds = walk_forward_folds(1000, 4, val_rows=60, test_rows=50, embargo=7, train_rows=300, lead=lead)
    tiles(folds, 1000, 50, 7, lead)
    assert [f.test for f in folds] == [(800, 850), (850, 900), (900, 950), (950, 1000)]
    assert {f.train[1] - f.train[0] for f in folds} == {300}
    # by hand: fold 0 decides first at 799, its test block starts `lead` rows earlier, val ends 7 rows before that
    assert folds[0].val == (799 - lead - 7 - 60, 799 - lead - 7)


def test_expanding_folds_keep_the_first_start() -> None:
    folds = walk_forward_folds(1000, 3, val_rows=60, test_rows=50, embargo=7, train_rows=None, expanding=True)
    tiles(folds, 1000, 50, 7, 0)
    assert {f.train[0] for f in folds} == {0}
    lengths = [f.train[1] - f.train[0] for f in folds]
    assert lengths == [lengths[0], lengths[0] + 50, lengths[0] + 100]


def test_folds_that_do_not_fit_are_refused_naming_the_keys() -> None:
    with pytest.raises(DataError, match=r"walk_forward\.folds"):
        walk_forward_folds(400, 4, val_rows=60, test_rows=50, embargo=7, train_rows=300)
    with pytest.raises(DataError, match=r"validation blocks of 10 rows"):
        walk_forward_folds(1000, 2, val_rows=10, test_rows=50, embargo=7, min_block_rows=36)


def test_a_folds_dates_rebuild_its_blocks_in_the_data_layer() -> None:
    """The bound mechanism: data.start/end and the split dates give compute_split_bounds exactly the fold's rows."""
    window, embargo = 5, 6
    cfg = WalkForwardConfig(folds=3, train_years=1.0, val_years=0.25, test_years=0.2, oof_folds=2, oof_years=0.25)
    plan = plan_walk_forward(CALENDAR, cfg, embargo, window, window + 20, out_of_fold=True)
    rows = walk_forward_folds(len(CALENDAR), 3, 63, 50, embargo, 252, lead=window - 1, min_block_rows=window + 20)
    for planned, fold in zip(plan.folds, rows, strict=True):
        for dates, expected in [(planned.dates, fold), *[(inner, None) for inner in planned.oof]]:
            data = dates.data_config(DataConfig(), embargo)
            start, end = date.fromisoformat(data.start or ""), date.fromisoformat(data.end or "")
            calendar = CALENDAR[(np.datetime64(start) <= CALENDAR) & (np.datetime64(end) >= CALENDAR)]
            bounds = compute_split_bounds(calendar, data.splits, window)
            # The test block's first decision (window - 1 rows in) is the day before the first scored day.
            first_decision = calendar[bounds["test"][0] + window - 1]
            assert str(first_decision) == dates.decision_start
            assert str(calendar[bounds["test"][0] + window]) == dates.test_start
            assert str(calendar[bounds["val"][0]]) == dates.val_start
            assert str(calendar[-1]) == dates.test_end
            if expected is not None:
                offset = expected.train[0]
                assert bounds["train"] == (0, expected.train[1] - offset)
                assert bounds["val"] == (expected.val[0] - offset, expected.val[1] - offset)
                assert bounds["test"] == (expected.test_block[0] - offset, expected.test_block[1] - offset)


def test_inner_folds_tile_the_end_of_each_training_block() -> None:
    cfg = WalkForwardConfig(folds=2, train_years=1.5, val_years=0.2, test_years=0.2, oof_folds=3, oof_years=0.2)
    plan = plan_walk_forward(CALENDAR, cfg, embargo=3, window=2, min_block_rows=22, out_of_fold=True)
    for fold in plan.folds:
        assert [inner.name for inner in fold.oof] == [f"{fold.name}/oof_{j}" for j in range(3)]
        assert fold.oof[-1].test_end == fold.dates.train_end
        for before, after in itertools.pairwise(fold.oof):
            assert after.decision_start == before.test_end  # the next inner fold decides where the last one scores
        for inner in fold.oof:
            assert inner.train_start == fold.dates.train_start  # inner folds expand from the fold's start
            assert inner.train_end < inner.val_start <= inner.val_end < inner.decision_start < inner.test_start
    assert bars_in_years(1.0, 252.0) == 252 and bars_in_years(0.2, 252.0) == 50


def test_walk_forward_keys_are_checked_as_the_config_is_composed() -> None:
    assert load_config(["walk_forward.folds=2"]).walk_forward.folds == 2
    for override, message in [
        ("walk_forward.folds=0", r"walk_forward\.folds=0 must be >= 1"),
        ("walk_forward.scheme=weekly", r"walk_forward\.scheme='weekly' is unknown"),
        ("walk_forward.stages=[sac]", r"walk_forward\.stages=\['sac'\] must be \[ppo\]"),
        ("walk_forward.test_years=0", r"walk_forward\.test_years=0\.0 must be"),
        ("walk_forward.seeds=[1,1]", r"walk_forward\.seeds=\[1, 1\] must be a non-empty list"),
        ("walk_forward.asset_classes=[]", r"walk_forward\.asset_classes=\[\] must be"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config([override])
    with pytest.raises(ConfigError, match=r"data\.splits\.train_end is set"):
        check_no_split_dates(DataConfig(splits=SplitConfig(train_end="2005-01-01")))


def signals_table(days: np.ndarray, split: str, **provenance: object) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "date": days,
            "asset_class": ["equity"] * len(days),
            "symbol": ["A"] * len(days),
            "signal": np.linspace(-1, 1, len(days)),
            "split": [split] * len(days),
        },
        schema=SIGNAL_SCHEMA,
    )
    return frame.with_columns(pl.lit(value).alias(name) for name, value in provenance.items())


def test_provenance_columns_are_kept_and_must_lie_before_each_date() -> None:
    days = CALENDAR[100:110]
    plain = validate_signals(signals_table(days, "train"), "t")
    assert plain.columns == list(SIGNAL_SCHEMA)
    honest = signals_table(days, "train", source_fold="fold_0/oof_0", source_train_end=date(2001, 3, 1))
    assert validate_signals(honest, "t").columns == [*SIGNAL_SCHEMA, SOURCE_FOLD, SOURCE_TRAIN_END]
    peeking = signals_table(days, "train", source_fold="fold_0", source_train_end=days[3].astype(date))
    with pytest.raises(UserError, match="not before their date"):
        validate_signals(peeking, "t")
    with pytest.raises(UserError, match="out-of-fold signals carry both"):
        validate_signals(signals_table(days, "train", source_fold="fold_0"), "t")


def fake_unit(folder: Path, frames: dict[str, pl.DataFrame], train: tuple[str, str]) -> Path:
    """A unit folder with the files the walk-forward reads: tables and the training block of its fingerprint."""
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    for name, frame in frames.items():
        frame.write_parquet(folder / name)
    run.write_data_fingerprint({"splits": {"train": {"start": train[0], "end": train[1], "rows": 1}}})
    return folder


def test_fold_signals_take_each_inner_units_test_days_once_with_provenance(tmp_path: Path) -> None:
    cfg = WalkForwardConfig(folds=1, train_years=1.0, val_years=0.2, test_years=0.2, oof_folds=2, oof_years=0.2)
    (fold,) = plan_walk_forward(CALENDAR[:600], cfg, embargo=2, window=3, min_block_rows=10, out_of_fold=True).folds
    everything = CALENDAR[:600]
    inner_runs = []
    for j, inner in enumerate(fold.oof):
        # Each inner unit's test signals start early (its lead rows) and run to its block's end: trimmed to its days.
        days = everything[(everything >= np.datetime64(inner.val_end)) & (everything <= np.datetime64(inner.test_end))]
        frame = pl.concat([signals_table(days, "test"), signals_table(everything[:5], "train")])
        inner_runs.append(
            {"equity": fake_unit(tmp_path / f"oof_{j}", {"signals.parquet": frame}, ("x", inner.train_end))}
        )
    own = pl.concat(
        [
            signals_table(everything[:50], "train"),
            signals_table(everything[500:520], "val"),
            signals_table(everything[560:580], "test"),
        ]
    )
    outer = {"equity": fake_unit(tmp_path / "ppo", {"signals.parquet": own}, ("x", fold.dates.train_end))}
    frame = validate_signals(fold_signals(fold, outer, inner_runs), "fold")
    train = frame.filter(pl.col("split") == "train").sort("date")
    first, last = fold.oof[0].decision_start, fold.dates.train_end
    expected = everything[(everything >= np.datetime64(first)) & (everything < np.datetime64(last))]
    assert np.array_equal(train["date"].to_numpy().astype("datetime64[D]"), expected)  # every day once, no gap
    assert set(train[SOURCE_FOLD]) == {inner.name for inner in fold.oof}
    for inner in fold.oof:
        rows = train.filter(pl.col(SOURCE_FOLD) == inner.name)
        assert rows["date"].min() == date.fromisoformat(inner.decision_start)
        assert set(rows[SOURCE_TRAIN_END]) == {date.fromisoformat(inner.train_end)}
    rest = frame.filter(pl.col("split") != "train")
    assert rest.height == 40 and set(rest[SOURCE_FOLD]) == {fold.name}
    assert (frame[SOURCE_TRAIN_END] < frame["date"]).all()


def backtest_rows(days: np.ndarray, returns: np.ndarray, split: str, cash: float = 1e-4) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "split": [split] * len(days),
            "date": days,
            "nav": np.cumprod(1.0 + returns),
            "return": returns,
            "turnover": np.full(len(days), 0.1),
            "cost": np.full(len(days), 1e-5),
            "cash_return": np.full(len(days), cash),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def make_record(tmp_path: Path, seeds: list[int]) -> tuple[list[Segment], dict[int, np.ndarray]]:
    """Two folds x seeds of unit folders whose test rows run one day past each fold's block on either side."""
    rng = np.random.default_rng(0)
    blocks = [(CALENDAR[200], CALENDAR[259]), (CALENDAR[260], CALENDAR[319])]
    segments, agent = [], {}
    for seed in seeds:
        kept = []
        for fold, (first, last) in enumerate(blocks):
            start = int(np.searchsorted(CALENDAR, first))
            days = CALENDAR[start - 1 : start + 61]  # one day before and one after the fold's test block
            returns = rng.normal(3e-4 * (seed + 1), 0.01, len(days))
            kept.append(returns[1:-1])
            base = rng.normal(0.0, 0.01, len(days))
            frames = {
                "backtest.parquet": pl.concat(
                    [backtest_rows(CALENDAR[:10], np.zeros(10), "val"), backtest_rows(days, returns, "test")]
                ),
                "baselines.parquet": pl.concat(
                    [
                        backtest_rows(days, returns, "test").with_columns(pl.lit("same").alias("strategy")),
                        backtest_rows(days, base, "test").with_columns(pl.lit("other").alias("strategy")),
                    ]
                ),
                "positions.parquet": pl.DataFrame(
                    {"split": ["test"] * len(days), "date": days, "symbol": ["A"] * len(days), "position": returns}
                ).with_columns(pl.col("date").cast(pl.Date)),
            }
            folder = fake_unit(tmp_path / f"f{fold}s{seed}", frames, ("x", "2001-01-01"))
            segments.append(Segment(fold, seed, folder, str(first), str(last)))
        agent[seed] = np.concatenate(kept)
    return segments, agent


def test_the_stitched_record_holds_each_fold_day_once_and_compounds_nav(tmp_path: Path) -> None:
    segments, agent = make_record(tmp_path, [0, 1])
    record = stitch(segments)
    assert record.backtest.columns == ["date", "fold", "seed", "nav", "return", "turnover", "cost", "cash_return"]
    for seed, returns in agent.items():
        rows = record.backtest.filter(pl.col("seed") == seed)
        assert np.array_equal(rows["date"].to_numpy().astype("datetime64[D]"), CALENDAR[200:320])
        assert np.array_equal(rows["return"].to_numpy(), returns)
        assert np.allclose(rows["nav"].to_numpy(), np.cumprod(1.0 + returns), rtol=1e-12)
        assert rows["fold"].to_list() == [0] * 60 + [1] * 60
    assert set(record.baselines["strategy"]) == {"same", "other"}
    assert record.positions.height == 2 * 120 and "split" not in record.positions.columns
    write_record(RunFolder(tmp_path), record, "t")
    assert RunFolder(tmp_path).oos_equity_path.read_bytes().startswith(b"\x89PNG")
    overlapping = [segments[0], Segment(1, 0, segments[1].run_dir, str(CALENDAR[259]), str(CALENDAR[319]))]
    with pytest.raises(ValueError, match="holds a day twice"):
        stitch(overlapping)


def test_record_metrics_against_independent_computations(tmp_path: Path) -> None:
    segments, agent = make_record(tmp_path, [0, 1])
    metrics = record_metrics(stitch(segments), n_resamples=500)
    sharpes = [(r - 1e-4).mean() / (r - 1e-4).std(ddof=1) * math.sqrt(252) for r in agent.values()]
    assert metrics["oos/sharpe"] == pytest.approx(np.mean(sharpes), rel=1e-10)
    assert metrics["oos/seed_1/sharpe"] == pytest.approx(sharpes[1], rel=1e-10)
    assert metrics["oos/total_return"] == pytest.approx(np.mean([np.prod(1 + r) - 1 for r in agent.values()]))
    fold_1 = [(r[60:] - 1e-4).mean() / (r[60:] - 1e-4).std(ddof=1) * math.sqrt(252) for r in agent.values()]
    assert metrics["oos/fold_1/sharpe"] == pytest.approx(np.mean(fold_1), rel=1e-10)
    # A baseline with the agent's very returns: no difference in any resample.
    assert metrics["oos/baseline/same/sharpe_diff"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["oos/baseline/same/sharpe_diff_ci95_low"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["oos/baseline/same/sharpe_diff_ci95_high"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["oos/baseline/same/sharpe_diff_p_value"] == 1.0
    diff = metrics["oos/baseline/other/sharpe_diff"]
    assert diff == pytest.approx(metrics["oos/sharpe"] - metrics["oos/baseline/other/sharpe"])
    assert (
        metrics["oos/baseline/other/sharpe_diff_ci95_low"] < diff < metrics["oos/baseline/other/sharpe_diff_ci95_high"]
    )
    # Deflated Sharpe of the best seed (seed 1 drifts up most here) among both seeds' records, by hand.
    excess = {s: r - 1e-4 for s, r in agent.items()}
    per_period = {s: e.mean() / e.std(ddof=1) for s, e in excess.items()}
    best = max(per_period, key=lambda s: per_period[s])
    gamma = 0.5772156649015329
    spread = (1 - gamma) * norm.ppf(1 - 1 / 2) + gamma * norm.ppf(1 - 1 / (2 * math.e))
    benchmark = math.sqrt(np.var(list(per_period.values()), ddof=1)) * spread
    sr, e = per_period[best], excess[best]
    z = (sr - benchmark) * math.sqrt(len(e) - 1)
    z /= math.sqrt(1 - skew(e) * sr + (kurtosis(e, fisher=False) - 1) / 4 * sr**2)
    assert metrics["oos/dsr"] == pytest.approx(norm.cdf(z), rel=1e-9)
    assert metrics["oos/dsr_trials"] == 2.0
    json.dumps(metrics, allow_nan=False)  # plain finite numbers


# 300 days of 24/7 hourly bars: an intraday calendar, whose fold dates are timestamps.
HOURS = np.datetime64("2001-01-01T00:00:00") + np.arange(24 * 300).astype("timedelta64[h]")
HOURLY_BARS_PER_YEAR = 24 * 365


def hourly_signals(stamps: np.ndarray, split: str, **provenance: object) -> pl.DataFrame:
    """`signals_table` of intraday bars: `date` a Datetime, as an hourly sleeve writes it."""
    frame = pl.DataFrame(
        {
            "date": stamps.astype("datetime64[us]"),
            "asset_class": ["crypto"] * len(stamps),
            "symbol": ["A"] * len(stamps),
            "signal": np.linspace(-1, 1, len(stamps)),
            "split": [split] * len(stamps),
        },
        schema=signal_schema(pl.Datetime("us")),
    )
    return frame.with_columns(pl.lit(value).alias(name) for name, value in provenance.items())


def test_an_intraday_folds_timestamps_rebuild_its_blocks_in_the_data_layer() -> None:
    """The fold-bound rule on intraday bars: split bounds are the fold's timestamps, data.start / data.end the days
    of its first and last bar; the data layer's blocks then end at the fold's own bars, and a unit only gains bars
    before the fold's first (from that day's midnight) and after its last (to that day's end)."""
    window, embargo = 5, 6
    cfg = WalkForwardConfig(folds=3, train_years=0.2, val_years=0.01, test_years=0.01, oof_folds=2, oof_years=0.01)
    plan = plan_walk_forward(HOURS, cfg, embargo, window, window + 20, True, HOURLY_BARS_PER_YEAR)
    test_rows = round(0.01 * HOURLY_BARS_PER_YEAR)
    rows = walk_forward_folds(len(HOURS), 3, test_rows, test_rows, embargo, round(0.2 * HOURLY_BARS_PER_YEAR), lead=4)
    for planned, fold in zip(plan.folds, rows, strict=True):
        assert planned.dates.test_start == str(HOURS[fold.test[0]])  # a timestamp, e.g. 2001-10-20T13:00:00
        assert planned.dates.decision_start == str(HOURS[fold.first_decision])
        for dates in [planned.dates, *planned.oof]:
            data = dates.data_config(DataConfig(), embargo)
            assert (data.start, data.end) == (dates.train_start[:10], dates.test_end[:10])
            assert (data.splits.train_end, data.splits.val_end) == (dates.train_end, dates.val_end)
            start, end = np.datetime64(data.start or ""), np.datetime64(data.end or "") + np.timedelta64(1, "D")
            calendar = HOURS[
                np.searchsorted(HOURS, start) : np.searchsorted(HOURS, end)
            ]  # the unit's data: whole days of bars
            bounds = compute_split_bounds(calendar, data.splits, window)
            assert str(calendar[bounds["train"][1] - 1]) == dates.train_end
            assert str(calendar[bounds["val"][0]]) == dates.val_start
            assert str(calendar[bounds["val"][1] - 1]) == dates.val_end
            assert str(calendar[bounds["test"][0] + window - 1]) == dates.decision_start
            assert str(calendar[bounds["test"][0] + window]) == dates.test_start
            assert calendar[0] <= np.datetime64(dates.train_start) and calendar[-1] >= np.datetime64(dates.test_end)


def test_intraday_segments_and_out_of_fold_signals_are_cut_at_their_bars(tmp_path: Path) -> None:
    """Stitching and out-of-fold signals compare the fold's timestamps bar by bar: each bar once, none cut to its
    day, every signal from a model whose last training bar is before it."""
    cfg = WalkForwardConfig(folds=1, train_years=0.2, val_years=0.01, test_years=0.01, oof_folds=2, oof_years=0.01)
    plan = plan_walk_forward(HOURS[:3000], cfg, 2, 3, 10, True, HOURLY_BARS_PER_YEAR)
    (fold,) = plan.folds
    everything = HOURS[:3000]
    inner_runs = []
    for j, inner in enumerate(fold.oof):
        # Each inner unit's test signals run from its validation end to the end of its last test bar's day.
        stop = np.datetime64(inner.test_end[:10]) + np.timedelta64(1, "D")
        stamps = everything[(everything >= np.datetime64(inner.val_end)) & (everything < stop)]
        units = {"signals.parquet": hourly_signals(stamps, "test")}
        inner_runs.append({"crypto": fake_unit(tmp_path / f"oof_{j}", units, ("x", inner.train_end))})
    own = pl.concat([hourly_signals(everything[2900:2920], "val"), hourly_signals(everything[2950:2970], "test")])
    outer = {"crypto": fake_unit(tmp_path / "ppo", {"signals.parquet": own}, ("x", fold.dates.train_end))}
    frame = validate_signals(fold_signals(fold, outer, inner_runs), "fold")
    assert frame.schema["date"] == pl.Datetime("us") and frame.schema[SOURCE_TRAIN_END] == pl.Datetime("us")
    train = frame.filter(pl.col("split") == "train").sort("date")
    first, last = np.datetime64(fold.oof[0].decision_start), np.datetime64(fold.dates.train_end)
    expected = everything[(everything >= first) & (everything < last)]
    assert np.array_equal(train["date"].to_numpy().astype("datetime64[s]"), expected)  # every bar once, no gap
    for inner in fold.oof:
        rows = train.filter(pl.col(SOURCE_FOLD) == inner.name)
        assert set(rows[SOURCE_TRAIN_END].to_numpy().astype("datetime64[s]")) == {np.datetime64(inner.train_end)}

    # A segment keeps the test rows from its first to its last bar, though the unit's rows run on past them.
    days = everything[2990 - 30 : 3000]
    returns = np.linspace(-0.01, 0.01, len(days))
    stamps = days.astype("datetime64[us]")
    table = backtest_rows(stamps, returns, "test").with_columns(pl.Series("date", stamps))
    unit = fake_unit(tmp_path / "record", {"backtest.parquet": table}, ("x", "2001-01-01T00:00:00"))
    segment = Segment(0, 0, unit, str(everything[2975]), str(everything[2990]))
    kept = segment.rows(pl.read_parquet(unit / "backtest.parquet"))
    assert np.array_equal(kept["date"].to_numpy().astype("datetime64[s]"), everything[2975:2991])


def test_a_day_as_source_train_end_covers_every_bar_of_it() -> None:
    stamps = np.datetime64("2001-03-01T00:00:00") + np.arange(48).astype("timedelta64[h]")
    after = hourly_signals(stamps[24:], "train", source_fold="f", source_train_end=date(2001, 3, 1))
    assert validate_signals(after, "t").schema[SOURCE_TRAIN_END] == pl.Date
    during = hourly_signals(stamps[20:], "train", source_fold="f", source_train_end=date(2001, 3, 1))
    with pytest.raises(UserError, match="not before their date"):
        validate_signals(during, "t")
