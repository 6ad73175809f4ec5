"""End to end on hourly bars: a CSV of 24/7 hourly crypto bars trains, gates, reports, replays and walks forward
with its timestamps intact. Every expectation is computed here from the CSV's own timestamps and from the run's
tables, never from the code that wrote them: one row per hourly bar (timestamps, not days), split bounds given as
timestamps end their blocks at that bar, every annualised number counts 8760 bars a year (365 days x 24 hours),
a replay reproduces the run, and a walk-forward's folds tile the hourly calendar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from runs import SAC_SMOKE, hierl_train, hierl_walk_forward, read_json, replay, run_ok

from hierl.config.data import SyntheticConfig
from hierl.data.sources.synthetic import generate_synthetic
from hierl.reports.headline import build_headline, write_headline

# A 24/7 class: a year is 365 days of 24 hourly bars.
HOURLY_BARS_PER_YEAR = 365 * 24
HOUR = np.timedelta64(1, "h")
# Split bounds in the middle of a day, so a rule that cut them to days would move them.
TRAIN_END = "2021-03-20T12:00:00Z"
VAL_END = "2021-04-09T05:00:00"

pytestmark = pytest.mark.slow

COMMON = (
    "asset=crypto",
    "data=csv",
    "data.start=null",
    "data.default_asset_class=crypto",
    "data.features.technical=[ret_1h,ret_24h,vol_24h]",
    "data.features.sentiment=[]",
    "data.features.macro=[]",
    "debug=smoke",
    # The smoke budget trains a churning policy; the gate still runs and writes its report.
    "safety.allow_violations=true",
    # No band (crypto's default is 0.2), so the smoke policy trades and every annualised number has a spread.
    "env.no_trade_band=0.0",
)


@pytest.fixture(scope="module")
def hourly_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 days of hourly bars of 3 coins, every hour of every day, `date` as ISO timestamps with a `Z`."""
    config = SyntheticConfig(
        n_assets=3,
        n_days=120,
        asset_classes=["crypto"],
        always_open=["crypto"],
        frequency="1h",
        start="2021-01-01",
        seed=3,
    )
    bars = generate_synthetic(config).select(
        pl.col("date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "symbol", "open", "high", "low", "close", "volume"
    )
    path = tmp_path_factory.mktemp("intraday") / "crypto_1h.csv"
    bars.write_csv(path)
    return path


@pytest.fixture(scope="module")
def calendar(hourly_csv: Path) -> np.ndarray:
    """The CSV's bars as the test reads them: its distinct timestamps (UTC), increasing."""
    stamps = pl.read_csv(hourly_csv, columns=["date"])["date"].str.strip_suffix("Z").unique().sort()
    return np.array(stamps.to_list(), dtype="datetime64[s]")


@pytest.fixture(scope="module")
def hourly_run(hourly_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One smoke run on the CSV with mid-day split bounds: its folder and its console output."""
    run_dir = tmp_path_factory.mktemp("intraday_run") / "run"
    result = run_ok(
        hierl_train(
            *COMMON,
            f"data.path={hourly_csv}",
            f"data.splits.train_end={TRAIN_END}",
            f"data.splits.val_end={VAL_END}",
            f"hydra.run.dir={run_dir}",
        )
    )
    return run_dir, result.stdout + result.stderr


def window_of(run_dir: Path) -> int:
    return int(yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["env"]["window"])


def split_rows(run_dir: Path, name: str, split: str) -> pl.DataFrame:
    return pl.read_parquet(run_dir / name).filter(pl.col("split") == split).sort("date")


def as_stamps(column: pl.Series) -> np.ndarray:
    return column.to_numpy().astype("datetime64[s]")


def expected_blocks(calendar: np.ndarray, embargo: int) -> dict[str, tuple[int, int]]:
    """Row ranges of the blocks: each split bound ends its block at the last bar at or before it, and `embargo` bars
    lie between blocks."""
    train_stop = int(np.searchsorted(calendar, np.datetime64(TRAIN_END.rstrip("Z")), side="right"))
    val_stop = int(np.searchsorted(calendar, np.datetime64(VAL_END), side="right"))
    return {
        "train": (0, train_stop),
        "val": (train_stop + embargo, val_stop),
        "test": (val_stop + embargo, len(calendar)),
    }


def test_split_bounds_given_as_timestamps_end_their_blocks_at_that_bar(
    hourly_run: tuple[Path, str], calendar: np.ndarray
) -> None:
    run_dir, _ = hourly_run
    splits = read_json(run_dir / "data_fingerprint.json")["splits"]
    # data.splits.embargo_days=null: the embargo is one observation window
    for split, (start, stop) in expected_blocks(calendar, window_of(run_dir)).items():
        assert splits[split] == {
            "start": str(calendar[start]),
            "end": str(calendar[stop - 1]),
            "rows": stop - start,
        }, split
    assert splits["train"]["end"] == "2021-03-20T12:00:00"  # the bar itself, not the day it falls on


def test_backtest_has_one_row_per_hourly_bar_of_the_test_block(
    hourly_run: tuple[Path, str], calendar: np.ndarray
) -> None:
    run_dir, _ = hourly_run
    test = split_rows(run_dir, "backtest.parquet", "test")
    assert test.schema["date"] == pl.Datetime("us")
    window = window_of(run_dir)
    first, _ = expected_blocks(calendar, window)["test"]
    # The first decision closes the first observation window; each row is realised at the bar after its decision.
    expected = calendar[first + window :]
    assert np.array_equal(as_stamps(test["date"]), expected)
    assert len(expected) > 24 * 7 and np.all(np.diff(expected) == HOUR)
    for name, key in (("positions.parquet", ["date", "symbol"]), ("baselines.parquet", ["strategy", "date"])):
        rows = split_rows(run_dir, name, "test")
        assert rows.schema["date"] == pl.Datetime("us"), name
        assert not rows.select(key).is_duplicated().any(), f"{name} holds a bar twice"
        assert np.array_equal(np.unique(as_stamps(rows["date"])), expected), name


def test_metrics_annualise_with_8760_hourly_bars(hourly_run: tuple[Path, str]) -> None:
    run_dir, _ = hourly_run
    metrics = read_json(run_dir / "metrics.json")
    test = split_rows(run_dir, "backtest.parquet", "test")
    returns, turnover = test["return"].to_numpy(), test["turnover"].to_numpy()
    excess = returns - test["cash_return"].to_numpy()
    sharpe = excess.mean() / excess.std(ddof=1) * np.sqrt(HOURLY_BARS_PER_YEAR)
    assert metrics["test/sharpe"] == pytest.approx(sharpe, rel=1e-9, abs=1e-12)
    assert metrics["test/ann_volatility"] == pytest.approx(returns.std(ddof=1) * np.sqrt(HOURLY_BARS_PER_YEAR))
    assert metrics["test/turnover"] == pytest.approx(turnover.mean() * HOURLY_BARS_PER_YEAR)
    assert metrics["test/n_days"] == test.height
    assert metrics["test/sharpe"] != pytest.approx(excess.mean() / excess.std(ddof=1) * np.sqrt(252))


def test_the_safety_report_names_the_blocks_bars(hourly_run: tuple[Path, str]) -> None:
    run_dir, output = hourly_run
    report = read_json(run_dir / "safety_report.json")
    val = split_rows(run_dir, "backtest.parquet", "val")
    stamps = as_stamps(val["date"])
    assert (report["start"], report["end"], report["n_days"]) == (str(stamps[0]), str(stamps[-1]), val.height)
    assert f"{stamps[0]}..{stamps[-1]}, {val.height} bars)" in output


def test_a_replay_reproduces_the_runs_test_block(hourly_run: tuple[Path, str]) -> None:
    run_dir, _ = hourly_run
    replayed = replay(run_dir)
    ours, theirs = read_json(run_dir / "metrics.json"), read_json(replayed / "metrics.json")
    test_keys = sorted(key for key in ours if key.startswith("test/"))
    assert test_keys and {key: theirs[key] for key in test_keys} == {key: ours[key] for key in test_keys}
    assert split_rows(replayed, "backtest.parquet", "test").equals(split_rows(run_dir, "backtest.parquet", "test"))
    assert (
        read_json(replayed / "data_fingerprint.json")["splits"]
        == read_json(run_dir / "data_fingerprint.json")["splits"]
    )


def test_a_walk_forward_on_hourly_bars_tiles_the_calendar_bar_by_bar(
    hourly_csv: Path, calendar: np.ndarray, tmp_path: Path
) -> None:
    run_dir = tmp_path / "walk_forward"
    run_ok(
        hierl_walk_forward(
            *COMMON,
            f"data.path={hourly_csv}",
            "walk_forward.asset_classes=[crypto]",
            "walk_forward.folds=2",
            "walk_forward.val_years=0.02",
            "walk_forward.test_years=0.02",
            "walk_forward.oof_folds=1",
            "walk_forward.oof_years=0.02",
            SAC_SMOKE,
            f"hydra.run.dir={run_dir}",
        )
    )
    plan = read_json(run_dir / "walk_forward.json")
    test_rows = round(0.02 * HOURLY_BARS_PER_YEAR)
    folds = plan["folds"]
    # The scored bars tile the end of the calendar in blocks of 0.02 years of hourly bars, bounds as timestamps.
    starts = [len(calendar) - (len(folds) - k) * test_rows for k in range(len(folds))]
    for fold, start in zip(folds, starts, strict=True):
        assert (fold["test_start"], fold["test_end"]) == (str(calendar[start]), str(calendar[start + test_rows - 1]))
        assert fold["decision_start"] == str(calendar[start - 1])
    record = pl.read_parquet(run_dir / "oos_backtest.parquet").sort("date")
    assert record.schema["date"] == pl.Datetime("us")
    assert np.array_equal(as_stamps(record["date"]), calendar[starts[0] :]), "each bar of the test blocks once"
    excess = (record["return"] - record["cash_return"]).to_numpy()
    sharpe = excess.mean() / excess.std(ddof=1) * np.sqrt(HOURLY_BARS_PER_YEAR)
    assert read_json(run_dir / "metrics.json")["oos/sharpe"] == pytest.approx(sharpe, rel=1e-9, abs=1e-12)
    # SAC's out-of-fold signals keep their bars, each from a model that stopped training before it.
    signals = pl.read_parquet(run_dir / "folds" / "fold_0" / "signals_seed_0.parquet")
    assert signals.schema["date"] == pl.Datetime("us")
    assert signals.filter(pl.col("source_train_end") >= pl.col("date")).is_empty()
    hours_per_day = signals.group_by(pl.col("date").dt.date().alias("day")).agg(pl.col("date").n_unique())["date"]
    assert hours_per_day.max() == 24
    # The headline report over the record names its bars.
    headline = build_headline(run_dir, n_resamples=200)
    assert headline.record == (str(calendar[starts[0]]), str(calendar[-1]), record.height)
    assert headline.bars_per_year == HOURLY_BARS_PER_YEAR
    markdown = (write_headline(headline, tmp_path / "headline", "cmd", "")[0]).read_text()
    assert f"({record.height} bars), the test blocks of 2 walk-forward folds" in markdown
