"""The bad-input matrix: each user mistake gives one clear error line and exit code 1, with no traceback, no
result file and no cache entry.

Config mistakes stop before any data is read (about two seconds each); data mistakes stop in validation, before
the first cache write. Rows name the issue-18 case they cover.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from runs import hierl_train, run_ok

OK_EXIT = 0
ERROR_EXIT = 1


def run(tmp_path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` with its own empty feature cache, so a test can see that nothing was cached."""
    env = {**os.environ, "HIERL_CACHE": str(tmp_path / "cache")}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env)


def train(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run(tmp_path, hierl_train("debug=smoke", f"hydra.run.dir={tmp_path / 'run'}", *overrides))


def write_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def csv_of(rows: list[str], header: str = "date,symbol,close") -> str:
    return "\n".join([header, *rows]) + "\n"


def daily_dates(n: int) -> list[str]:
    """`n` business days from Monday 2010-01-04 (debug=smoke starts the calendar in 2010), as ISO dates."""
    days = np.busday_offset("2010-01-04", np.arange(n), roll="forward")
    return [str(day) for day in days]


def closes(n: int, jump_at: int | None = None, level: float = 100.0) -> list[str]:
    """A close-only series of one symbol, flat but for a 10x jump at row `jump_at`."""
    return [
        f"{day},A,{level * (10.0 if index == jump_at else 1.0) * (1 + 0.001 * (index % 3))}"
        for index, day in enumerate(daily_dates(n))
    ]


def bars(n: int, high_low_swapped_at: int | None = None, close_above_high_at: int | None = None) -> list[str]:
    """OHLC rows of one symbol with one inconsistent bar where asked."""
    rows = []
    for index, day in enumerate(daily_dates(n)):
        close, high, low = 100.0, 101.0, 99.0
        if index == high_low_swapped_at:
            high, low = low, high
        if index == close_above_high_at:
            close = 102.0
        rows.append(f"{day},A,{close},100.0,{high},{low}")
    return rows


OHLC = "date,symbol,close,open,high,low"
GARBLED_CSV = "date;symbol\n\x00\x01,,,\n"
NEGATIVE_PRICE_CSV = "date,symbol,close\n2020-01-01,A,1\n2020-01-02,A,-1\n"


def csv_case(name: str, content: str) -> Callable[[Path], list[str]]:
    """Overrides that train on a CSV file with `content`."""
    return lambda t: ["data=csv", f"data.path={write_file(t, name, content)}"]


# case -> (overrides given the test folder, text the error line must contain)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "missing data file": (lambda t: ["data=csv", f"data.path={t / 'nope.csv'}"], "matches no file"),
    "corrupt parquet": (csv_case("prices.parquet", "not parquet at all"), "prices.parquet: cannot be read as parquet"),
    "corrupt csv": (csv_case("prices.csv", GARBLED_CSV), "prices.csv: cannot be read as csv (found more fields"),
    "data failing validation": (
        csv_case("neg.csv", NEGATIVE_PRICE_CSV),
        "neg.csv: column 'close' has non-positive or infinite prices",
    ),
    "output folder inside a file": (
        lambda t: [f"hydra.run.dir={write_file(t, 'a_file', '')}/run"],
        "cannot write run outputs",
    ),
    "batch larger than a rollout": (
        lambda t: ["agent.batch_size=100000"],
        "agent.batch_size=100000 is larger than one rollout",
    ),
    "init_from a folder that is not a CQL run": (
        lambda t: [f"agent.init_from={t}"],
        "is not a finished run (run_state.json status",
    ),
    "resume without a checkpoint": (lambda t: ["resume=true"], "holds no complete checkpoint"),
    # Issue 18, item 2: dates.
    "too few rows names the file": (
        csv_case("short.csv", csv_of(closes(3))),
        "short.csv: the train block has 2 rows",
    ),
    "positive UTC offset keeps its date": (
        csv_case("offset.csv", csv_of([f"{day}T00:00:00+05:00,A,100" for day in daily_dates(3)])),
        "offset.csv: the train block has 2 rows but needs at least window (16) + data.splits.min_block_steps (20) "
        "= 36; the calendar has 3 rows from 2010-01-04 to 2010-01-06",
    ),
    "intraday timestamps are bars of their own": (
        csv_case("intraday.csv", csv_of([f"2010-01-04T{hour}:00:00,A,100" for hour in ("09", "10", "11")])),
        "intraday.csv: the train block has 2 rows but needs at least window (16) + data.splits.min_block_steps (20) "
        "= 36; the calendar has 3 rows from 2010-01-04T09:00:00 to 2010-01-04T11:00:00",
    ),
    "a data.frequency the data contradicts": (
        lambda t: [*csv_case("daily.csv", csv_of(closes(60)))(t), "data.frequency=1h"],
        "data.frequency='1h' but the bars are 1d apart",
    ),
    # Issue 18, item 3: silent wrong numbers.
    "duplicated close header": (
        csv_case(
            "dup.csv", csv_of([f"{row},{row.rsplit(',', 1)[1]}" for row in closes(60)], "date,symbol,close,close")
        ),
        "dup.csv: column(s) ['close'] appear more than once in the header",
    ),
    "a single close of 1e300": (
        csv_case("huge.csv", csv_of([*closes(59), "2010-03-26,A,1e300"])),
        "huge.csv: column 'close' has values beyond +-1e+100 (or infinite), which overflow features (1 rows)",
    ),
    "a symbol priced near 1e300": (
        csv_case("near_limit.csv", csv_of(closes(60, level=1e298))),
        "near_limit.csv: column 'close' has values beyond +-1e+100 (or infinite), which overflow features (60 rows)",
    ),
    "implausible one-day move": (
        csv_case("jump.csv", csv_of(closes(60, jump_at=30))),
        "jump.csv: one-day moves with |log return| above data.max_abs_log_return=2",
    ),
    "high below low": (csv_case("bars.csv", csv_of(bars(60, high_low_swapped_at=5), OHLC)), "column 'high' is below"),
    "close above high": (
        csv_case("bars.csv", csv_of(bars(60, close_above_high_at=5), OHLC)),
        "bars.csv: column 'close' lies outside [low, high] (1 rows)",
    ),
    # Issue 18, item 4: config values, each before any data is read.
    "gamma above 1": (lambda t: ["agent.gamma=2.0"], "agent.gamma=2.0 must lie in (0, 1]"),
    "negative clip range": (lambda t: ["agent.clip_range=-0.2"], "agent.clip_range=-0.2 must be a finite number > 0"),
    "appended agent typo": (
        lambda t: ["+agent.lerning_rate=1e-3"],
        "agent.lerning_rate is not a key of PPOConfig, so hierl would ignore it; did you mean agent.learning_rate?",
    ),
    "appended reward key": (
        lambda t: ["+reward.foo_weight=1"],
        "reward.foo_weight is not a key of RewardConfig, so hierl would ignore it; did you mean reward.return_weight?",
    ),
    "negative cost": (lambda t: ["env.cost_bps=-1"], "env.cost_bps=-1.0 must be a finite number >= 0"),
    "zero leverage": (lambda t: ["env.max_leverage=0"], "env.max_leverage=0.0 must be a finite number > 0"),
    "zero episode length": (lambda t: ["env.episode_length=0"], "env.episode_length=0 must be >= 1"),
    "NaN borrow": (lambda t: ["env.borrow_bps_annual=nan"], "env.borrow_bps_annual=nan must be a finite number >= 0"),
    "negative volatility penalty": (
        lambda t: ["reward.volatility_penalty=-1"],
        "reward.volatility_penalty=-1.0: penalties are subtracted from the reward",
    ),
    "negative seed": (lambda t: ["seed=-1"], "seed=-1 must be >= 0"),
    "train_end after val_end": (
        lambda t: ["data.splits.train_end=2015-01-01", "data.splits.val_end=2012-01-01"],
        "data.splits.train_end=2015-01-01 must be before data.splits.val_end=2012-01-01",
    ),
}


def error_line(stderr: str) -> str:
    """The one line of stderr that states the error (data errors list offending rows on the lines after it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def assert_refused(tmp_path: Path, result: subprocess.CompletedProcess[str], message: str, results: Path) -> None:
    assert result.returncode == ERROR_EXIT, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert message in error_line(result.stderr)
    assert not (results / "metrics.json").exists()
    cache = tmp_path / "cache"
    assert not cache.exists() or not [path for path in cache.rglob("*") if path.is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_user_mistake_is_one_clear_error(case: str, tmp_path: Path) -> None:
    overrides, message = CASES[case]
    result = train(tmp_path, *overrides(tmp_path))
    assert_refused(tmp_path, result, message, tmp_path / "run")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished smoke run, whose saved normalisation the replay cases damage (in copies)."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    run_ok(hierl_train("debug=smoke", f"hydra.run.dir={run_dir}"), timeout=600)
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize(("std", "shown"), [(float("nan"), "nan"), (0.0, "0.0")])
def test_a_replay_refuses_a_damaged_saved_normalisation(
    trained_run: Path, tmp_path: Path, std: float, shown: str
) -> None:
    source = tmp_path / "source"
    shutil.copytree(trained_run, source)
    path = source / "normalisation.json"
    stats = json.loads(path.read_text())
    feature = next(iter(stats))
    stats[feature]["std"] = std
    path.write_text(json.dumps(stats))
    result = run(tmp_path, [sys.executable, "-m", "hierl.evaluate", f"run_dir={source}"])
    message = f"{path}: feature {feature!r} has std={shown}; it must be a finite number > 0"
    assert_refused(tmp_path, result, message, tmp_path / "source_replay")
    assert result.returncode != OK_EXIT
    assert not list(tmp_path.glob("source_replay_*")), "a failed replay left its folder behind"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["normalisation.json", "run_state.json"])
def test_a_replay_refuses_a_garbled_run_file(trained_run: Path, tmp_path: Path, name: str) -> None:
    source = tmp_path / "source"
    shutil.copytree(trained_run, source)
    path = source / name
    path.write_text(path.read_text()[:7])  # truncated mid-object, as by a full disk or a killed copy
    result = run(tmp_path, [sys.executable, "-m", "hierl.evaluate", f"run_dir={source}"])
    assert result.returncode == ERROR_EXIT, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"{path} is not valid JSON" in error_line(result.stderr)
    assert not list(tmp_path.glob("source_replay_*")), "a failed replay left its folder behind"


@pytest.mark.slow
def test_a_fresh_run_refuses_a_folder_that_holds_another_run(trained_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "used"
    shutil.copytree(trained_run, folder)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = run(tmp_path, hierl_train("debug=smoke", f"hydra.run.dir={folder}"))
    assert result.returncode == ERROR_EXIT, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    line = error_line(result.stderr)
    assert f"{folder} already holds a run (run_state.json: finished)" in line and "resume=true" in line
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before, "the refused run changed the other run's files (its .hydra/ config included)"
