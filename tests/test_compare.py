"""`hierl.compare` on fake run folders: gathering, differing keys, exact numbers, sorting, status filter, files, CLI."""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import matplotlib
import numpy as np
import polars as pl
import pytest
import yaml
from plot_checks import svg_backend  # noqa: F401  (a fixture)

from hierl.compare import main
from hierl.errors import ComparisonError, NoRunsError, UserError
from hierl.reports.render import COMPACT_WIDTH, fit_width, plot_comparison, render_table, table_width, write_tables
from hierl.reports.runs import read_split
from hierl.reports.table import COMPACT_CONFIG_COLUMNS, CompareOptions, collect_runs, compare_runs, gather_runs

REPO = Path(__file__).resolve().parent.parent

# run path -> (learning rate, seed, status); one failed run with a cost setting no finished run used.
RUNS = {
    "sweep/0": (1e-3, 0, "finished"),
    "sweep/1": (3e-4, 0, "finished"),
    "sweep/2": (1e-3, 1, "finished"),
    "sweep/10": (3e-4, 1, "finished"),
    "sweep/3": (3e-4, 2, "failed"),
}
FINISHED_RUNS = [run for run, (_, _, status) in RUNS.items() if status == "finished"]


def config_of(learning_rate: float, seed: int, cost_bps: float) -> dict[str, Any]:
    return {
        "agent": {"name": "ppo", "learning_rate": learning_rate, "n_steps": 256, "net_arch": [16, 16]},
        "asset": {"name": "equity", "symbols": None},
        "env": {"cost_bps": cost_bps, "window": 16},
        "data": {"source": "sample", "splits": {"train_fraction": 0.7}},
        "paths": {"output_dir": "${hydra:runtime.output_dir}"},
        "seed": seed,
    }


def returns_of(seed: int, drift: float, n: int = 120) -> np.ndarray:
    return drift + 0.01 * np.random.default_rng(seed).standard_normal(n)


def cash_of(n: int = 120) -> np.ndarray:
    """A cash rate that varies (as the sample's does), so raw and excess returns give different Sharpe ratios."""
    return np.linspace(0.0001, 0.0004, n)


def write_run(root: Path, run: str, learning_rate: float, seed: int, status: str, index: int) -> None:
    folder = root / run
    (folder / ".hydra").mkdir(parents=True)
    cost = 5.0 if status == "finished" else 9.0
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config_of(learning_rate, seed, cost)))
    overrides = [f"agent.learning_rate={learning_rate}", f"seed={seed}"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / "run_state.json").write_text(json.dumps({"status": status, "started": "2026-01-01T00:00:00+00:00"}))
    (folder / "data_fingerprint.json").write_text(json.dumps({"fingerprint": "abc123", "asset_class": "equity"}))
    if status != "finished":
        return
    splits = []
    for split, offset, start in (("val", 0, date(2020, 1, 1)), ("test", 100, date(2021, 1, 1))):
        returns = returns_of(index * 7 + offset, drift=0.0003 * (index + 1))
        splits.append(
            pl.DataFrame(
                {
                    "split": [split] * returns.size,
                    "date": [start + timedelta(days=day) for day in range(returns.size)],
                    "nav": np.cumprod(1.0 + returns),
                    "return": returns,
                    "turnover": np.full(returns.size, 0.01),
                    "cost": np.full(returns.size, 1e-5),
                    "cash_return": cash_of(returns.size),
                }
            )
        )
    # Rows stored newest first: the reader must select the split and order it by date itself.
    pl.concat(splits[::-1]).reverse().write_parquet(folder / "backtest.parquet")
    rng = np.random.default_rng(index)
    metrics = {
        "val/sharpe": float(rng.normal(1.0, 0.5)),
        "test/sharpe": float(rng.normal(0.5, 0.5)),
        "test/max_drawdown": float(rng.uniform(0.05, 0.3)),
        "test/cvar_95": float(rng.uniform(0.01, 0.03)),
        "test/ann_return": float(rng.normal(0.05, 0.05)),
        "test/baseline/equal_weight/sharpe": 0.4123456789012345,
        "train/timesteps": 2048.0,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "outputs"
    for index, (run, (learning_rate, seed, status)) in enumerate(RUNS.items()):
        write_run(root, run, learning_rate, seed, status, index)
    # Folders that are not runs: no config, or a config without metrics or state.
    (root / "sweep" / "notes").mkdir()
    (root / "sweep" / "notes" / "metrics.json").write_text("{}")
    (root / "half" / ".hydra").mkdir(parents=True)
    (root / "half" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    return root


def metrics_file(root: Path, run: str) -> dict[str, float]:
    loaded: dict[str, float] = json.loads((root / run / "metrics.json").read_text())
    return loaded


def test_every_run_folder_is_one_row_with_its_status(sweep: Path) -> None:
    frame = gather_runs(sweep)
    assert sorted(frame["run"].to_list()) == sorted(RUNS)
    statuses = dict(zip(frame["run"], frame["status"], strict=True))
    assert statuses == {run: status for run, (_, _, status) in RUNS.items()}


def test_only_the_differing_config_keys_become_columns(sweep: Path) -> None:
    table = collect_runs(sweep, include_unfinished=False)
    assert set(table.config_columns) == {"agent.learning_rate", "seed"}
    assert table.frame.columns == ["run", "status", *table.metric_columns, *table.config_columns]
    assert table.constant_config["asset.name"] == "equity"
    assert table.constant_config["env.cost_bps"] == 5.0
    assert table.constant_config["agent.net_arch"] == "[16, 16]"
    assert table.constant_config["data.splits.train_fraction"] == 0.7
    assert table.constant_config["data_fingerprint"] == "abc123"
    assert not set(table.constant_config) & set(table.config_columns)
    assert "paths.output_dir" not in table.frame.columns


def test_config_values_are_those_of_each_run(sweep: Path) -> None:
    frame = gather_runs(sweep)
    for row in frame.iter_rows(named=True):
        learning_rate, seed, _ = RUNS[row["run"]]
        assert row["agent.learning_rate"] == learning_rate
        assert row["seed"] == seed
    assert frame.schema["seed"] == pl.Int64
    assert frame.schema["agent.learning_rate"] == pl.Float64


def test_a_key_only_an_unfinished_run_changes_appears_only_with_it(sweep: Path) -> None:
    assert "env.cost_bps" not in collect_runs(sweep, include_unfinished=False).config_columns
    assert "env.cost_bps" in collect_runs(sweep, include_unfinished=True).config_columns


def test_table_numbers_equal_the_metrics_files_exactly(sweep: Path) -> None:
    frame = gather_runs(sweep, include_unfinished=False)
    for row in frame.iter_rows(named=True):
        written = metrics_file(sweep, row["run"])
        assert {key: row[key] for key in written} == written
    metric_columns = [c for c in frame.columns if "/" in c]
    assert set(metric_columns) == set(metrics_file(sweep, "sweep/0"))


def test_unfinished_runs_are_skipped_by_default_and_counted(sweep: Path) -> None:
    table = collect_runs(sweep, include_unfinished=False)
    assert "sweep/3" not in table.frame["run"].to_list()
    assert table.skipped == {"failed": 1}
    kept = collect_runs(sweep, include_unfinished=True)
    assert kept.skipped == {}
    failed = kept.frame.filter(pl.col("run") == "sweep/3").row(0, named=True)
    assert failed["status"] == "failed"
    assert failed["test/sharpe"] is None


@pytest.mark.parametrize("descending", [True, False])
def test_rows_are_sorted_by_the_chosen_metric(sweep: Path, descending: bool) -> None:
    comparison = compare_runs(sweep, CompareOptions(sort_key="test/sharpe", descending=descending))
    by_file = sorted(FINISHED_RUNS, key=lambda run: metrics_file(sweep, run)["test/sharpe"], reverse=descending)
    assert comparison.table.frame["run"].to_list() == by_file


def test_default_ranking_is_validation_sharpe_largest_first_and_missing_values_last(sweep: Path) -> None:
    comparison = compare_runs(sweep, CompareOptions(include_unfinished=True))
    assert comparison.sort_key == "val/sharpe"
    by_file = sorted(FINISHED_RUNS, key=lambda run: -metrics_file(sweep, run)["val/sharpe"])
    assert comparison.table.frame["run"].to_list() == [*by_file, "sweep/3"]
    ascending = compare_runs(sweep, CompareOptions(include_unfinished=True, descending=False))
    assert ascending.table.frame["run"].to_list() == [*by_file[::-1], "sweep/3"]


def test_shown_columns_default_and_picked(sweep: Path) -> None:
    default = compare_runs(sweep)
    assert default.shown_columns == (
        "run",
        "val/sharpe",
        "test/sharpe",
        "test/max_drawdown",
        "test/cvar_95",
        "test/ann_return",
        "dsr",
        *default.table.config_columns,
    )
    picked = compare_runs(sweep, CompareOptions(columns=("train/timesteps",), include_unfinished=True))
    assert picked.table.config_columns == ("agent.learning_rate", "env.cost_bps", "seed")
    # The keys the command lines set (overrides.yaml) come first; env.cost_bps differs without being set.
    assert picked.shown_columns == ("run", "status", "train/timesteps", "agent.learning_rate", "seed", "env.cost_bps")


def widen(sweep: Path, n_keys: int) -> None:
    """Every finished run of the sweep gets `n_keys` extra config keys whose values differ between runs."""
    for index, run in enumerate(FINISHED_RUNS):
        path = sweep / run / ".hydra" / "config.yaml"
        config = yaml.safe_load(path.read_text())
        config["extra"] = {f"key_{k:02d}": f"value-{index}-{k}-of-a-long-setting" for k in range(n_keys)}
        path.write_text(yaml.safe_dump(config))


def test_the_compact_view_shows_few_config_keys_and_fits_160_characters(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    widen(sweep, 60)
    comparison = compare_runs(sweep)
    assert len(comparison.table.config_columns) == 62
    assert comparison.shown_columns[-COMPACT_CONFIG_COLUMNS:][:2] == ("agent.learning_rate", "seed")
    assert len(comparison.shown_columns) == 7 + COMPACT_CONFIG_COLUMNS
    assert len(comparison.hidden_columns) == 62 - COMPACT_CONFIG_COLUMNS
    fitted = fit_width(comparison)
    assert table_width(render_table(fitted)) <= COMPACT_WIDTH < table_width(render_table(comparison))
    assert fitted.shown_columns[:9] == comparison.shown_columns[:9]  # the metrics and the set keys stay
    assert set(fitted.hidden_columns) | set(fitted.shown_columns) >= set(comparison.table.config_columns)

    assert main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    table_lines = [line for line in printed.splitlines() if "sweep/0 " in line]
    assert table_lines and all(len(line.rstrip()) <= COMPACT_WIDTH for line in table_lines)
    assert f"{len(fitted.hidden_columns)} more config keys differ between the runs" in printed
    assert "--wide shows them" in printed
    assert pl.read_csv(sweep / "comparison.csv").width == comparison.table.frame.width


def test_the_wide_view_shows_every_differing_key(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    widen(sweep, 20)
    assert compare_runs(sweep, CompareOptions(wide=True)).hidden_columns == ()
    assert main([str(sweep), "--wide"]) == 0
    printed = capsys.readouterr().out
    assert "extra.key_19" in printed and "more config keys differ" not in printed


def test_unknown_sort_key_or_column_names_the_key(sweep: Path) -> None:
    with pytest.raises(ComparisonError, match="test/sharp"):
        compare_runs(sweep, CompareOptions(sort_key="test/sharp"))
    with pytest.raises(ComparisonError, match="--columns: unknown column val/sortino"):
        compare_runs(sweep, CompareOptions(columns=("val/sortino",)))


def test_split_returns_are_read_in_date_order(sweep: Path) -> None:
    rows = read_split(sweep / "sweep/2", "test")
    assert rows is not None
    np.testing.assert_array_equal(rows["return"].to_numpy(), returns_of(2 * 7 + 100, drift=0.0003 * 3))
    assert rows["date"].is_sorted()
    assert read_split(sweep / "sweep/3", "test") is None


def test_dsr_deflates_each_runs_test_returns_over_cash_by_all_trials(sweep: Path) -> None:
    frame = compare_runs(sweep).table.frame
    tests = {}
    for index, run in enumerate(RUNS):
        if run in FINISHED_RUNS:
            tests[run] = returns_of(index * 7 + 100, drift=0.0003 * (index + 1)) - cash_of()
    trial_sharpes = [float(r.mean() / r.std(ddof=1)) for r in tests.values()]
    assert frame.height == len(trial_sharpes) == 4
    for row in frame.iter_rows(named=True):
        assert row["dsr"] == pytest.approx(paper_dsr(tests[row["run"]], trial_sharpes), rel=1e-9)
        assert 0.0 <= row["dsr"] <= 1.0


def paper_dsr(returns: np.ndarray, trial_sharpes: list[float]) -> float:
    """Bailey & López de Prado's deflated Sharpe ratio written out with the standard library's normal law.

    SR0 = sqrt(V) ((1 - g) z(1 - 1/N) + g z(1 - 1/(N e))) over the N trials' Sharpe variance V (ddof=1), then
    Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)) with the sample moments of `returns`.
    """
    normal = NormalDist()
    values = [float(r) for r in returns]
    t = len(values)
    mean = sum(values) / t
    moments = [sum((r - mean) ** k for r in values) / t for k in (2, 3, 4)]
    skew, kurtosis = moments[1] / moments[0] ** 1.5, moments[2] / moments[0] ** 2
    sharpe = mean / math.sqrt(moments[0] * t / (t - 1))
    n = len(trial_sharpes)
    euler = 0.5772156649015329
    spread = (1 - euler) * normal.inv_cdf(1 - 1 / n) + euler * normal.inv_cdf(1 - 1 / (n * math.e))
    benchmark = math.sqrt(statistics.variance(trial_sharpes)) * spread
    variance_factor = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    return normal.cdf((sharpe - benchmark) * math.sqrt(t - 1) / math.sqrt(variance_factor))


def test_dsr_of_a_run_that_loses_to_cash_is_low_though_its_raw_returns_are_positive(sweep: Path) -> None:
    path = sweep / "sweep/0" / "backtest.parquet"
    frame = pl.read_parquet(path)
    # Raw returns above 0 but 2 bp a day below cash: every Sharpe column (over cash) calls this run a loser.
    noise = 0.001 * np.random.default_rng(5).standard_normal(frame.height)
    frame = frame.with_columns((pl.col("cash_return") - 0.0002 + noise).alias("return"))
    frame.write_parquet(path)
    test_returns = frame.filter(pl.col("split") == "test")["return"].to_numpy()
    assert test_returns.mean() > 0.0
    dsr = compare_runs(sweep).table.frame.filter(pl.col("run") == "sweep/0")["dsr"].item()
    assert dsr < 0.01


def write_replay(sweep: Path, source: str, name: str) -> None:
    """A copy of `source` marked as its replay, as hierl.evaluate writes one."""
    shutil.copytree(sweep / source, sweep / name)
    (sweep / name / "source_run.json").write_text(json.dumps({"run_dir": str(sweep / source), "policy": "x"}))


def test_replays_get_a_dsr_but_are_not_trials(sweep: Path) -> None:
    before = compare_runs(sweep)
    write_replay(sweep, "sweep/0", "sweep/0_replay_2026-01-01_00-00-00")
    comparison = compare_runs(sweep)
    assert comparison.dsr_trials == before.dsr_trials == len(FINISHED_RUNS)
    frame = comparison.table.frame
    original = frame.filter(pl.col("run") == "sweep/0").row(0, named=True)
    replayed = frame.filter(pl.col("run") == "sweep/0_replay_2026-01-01_00-00-00").row(0, named=True)
    assert replayed["replay"] is True and original["replay"] is False
    assert replayed["dsr"] == original["dsr"] == before.table.frame.filter(pl.col("run") == "sweep/0")["dsr"].item()
    assert "replay" in comparison.shown_columns
    assert "replay" not in before.table.frame.columns


def test_runs_with_different_test_periods_carry_a_warning(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare_runs(sweep).warnings == ()
    path = sweep / "sweep/1" / "backtest.parquet"
    frame = pl.read_parquet(path)
    shifted = pl.when(pl.col("split") == "test").then(pl.col("date") + timedelta(days=365)).otherwise("date")
    frame.with_columns(shifted.alias("date")).write_parquet(path)
    (warning,) = compare_runs(sweep).warnings
    assert "different test periods" in warning
    assert "2021-01-01..2021-04-30: 3 runs" in warning and "2022-01-01..2022-04-30: 1 run (e.g. sweep/1)" in warning
    assert main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    assert "different test periods" in capsys.readouterr().out


def test_dsr_is_left_out_when_there_is_only_one_trial(sweep: Path) -> None:
    for run in FINISHED_RUNS[1:]:
        (sweep / run / "backtest.parquet").unlink()
    comparison = compare_runs(sweep)
    assert "dsr" not in comparison.table.frame.columns
    assert comparison.dsr_trials == 0


def test_no_runs_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(NoRunsError, match=r"no run folders under .*empty"):
        gather_runs(tmp_path / "empty")
    with pytest.raises(NoRunsError, match="not a folder"):
        gather_runs(tmp_path / "missing")


def test_only_unfinished_runs_point_to_all(tmp_path: Path) -> None:
    write_run(tmp_path, "a", 1e-3, 0, "running", 0)
    write_run(tmp_path, "b", 1e-3, 1, "failed", 1)
    with pytest.raises(NoRunsError, match=r"none of the 2 runs .*1 failed, 1 running.*--all"):
        collect_runs(tmp_path, include_unfinished=False)
    assert collect_runs(tmp_path, include_unfinished=True).frame.height == 2


def test_a_run_without_a_state_file_is_unknown_and_never_read_as_finished(sweep: Path) -> None:
    (sweep / "sweep" / "1" / "run_state.json").unlink()
    assert collect_runs(sweep, include_unfinished=False).skipped == {"failed": 1, "unknown": 1}
    frame = gather_runs(sweep)
    assert frame.filter(pl.col("run") == "sweep/1")["status"].to_list() == ["unknown"]


def test_a_nan_metric_is_missing_and_ranks_last(sweep: Path) -> None:
    (sweep / "sweep" / "2" / "metrics.json").write_text('{"val/sharpe": NaN, "test/sharpe": 0.1}')
    frame = compare_runs(sweep).table.frame
    assert frame["run"].to_list()[-1] == "sweep/2"
    assert frame.filter(pl.col("run") == "sweep/2")["val/sharpe"].to_list() == [None]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "metrics.json is not valid JSON"), ('{"test/sharpe": "high"}', "'test/sharpe' is 'high'")],
)
def test_a_corrupt_metrics_file_names_the_file(sweep: Path, content: str, message: str) -> None:
    (sweep / "sweep" / "1" / "metrics.json").write_text(content)
    with pytest.raises(UserError, match=message):
        gather_runs(sweep)


def test_tables_are_written_whole_and_atomically(sweep: Path, tmp_path: Path) -> None:
    comparison = compare_runs(sweep)
    out = tmp_path / "report"
    csv_path, parquet_path = write_tables(comparison, out)
    frame = comparison.table.frame
    assert pl.read_parquet(parquet_path).equals(frame)
    from_csv = pl.read_csv(csv_path)
    assert from_csv["run"].to_list() == frame["run"].to_list()
    assert from_csv["test/sharpe"].to_list() == frame["test/sharpe"].to_list()
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.parquet"]


@pytest.mark.usefixtures("svg_backend")
def test_plot_is_written_without_touching_the_global_backend(sweep: Path, tmp_path: Path) -> None:
    path = plot_comparison(compare_runs(sweep, CompareOptions(top_k=2, include_unfinished=True)), tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    # Not Agg, which conftest selects and the plot draws with: a plot that switched backends would show here.
    assert matplotlib.get_backend() == "svg"
    assert not list(tmp_path.glob("*.tmp"))


def test_cli_prints_the_table_says_what_it_skipped_and_writes_files(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert all(run in printed for run in FINISHED_RUNS)
    assert "sweep/3" not in printed
    assert "skipped 1 run that did not finish (1 failed); pass --all" in printed
    assert "agent.learning_rate" in printed and "env.cost_bps" not in printed
    assert sorted(p.name for p in out.iterdir()) == ["comparison.csv", "comparison.parquet", "comparison.png"]


def test_cli_all_sort_and_columns(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(sweep), "--all", "--sort", "test/max_drawdown", "--asc", "--columns", "test/max_drawdown,val/sharpe"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "sweep/3" in printed and "failed" in printed and "skipped" not in printed
    saved = pl.read_csv(sweep / "comparison.csv")
    by_file = sorted(FINISHED_RUNS, key=lambda run: metrics_file(sweep, run)["test/max_drawdown"])
    assert saved["run"].to_list() == [*by_file, "sweep/3"]
    positions = [printed.index(run + " ") for run in by_file]
    assert positions == sorted(positions)


def test_cli_errors_are_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no run folders under") and error.count("\n") == 1
    write_run(tmp_path, "a", 1e-3, 0, "finished", 0)
    assert main([str(tmp_path), "--sort", "nope"]) == 2
    assert "unknown column nope" in capsys.readouterr().err


def test_module_entrypoint_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hierl.compare", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no run folders under")


@pytest.mark.parametrize("key", ["test/sharpe", "test/max_drawdown", "dsr"])
def test_ranking_by_a_test_block_number_carries_a_warning(sweep: Path, key: str) -> None:
    (warning,) = compare_runs(sweep, CompareOptions(sort_key=key)).warnings
    assert warning.startswith(f"warning: ranked by {key}, a test-block number")
    assert "one more validation block" in warning


@pytest.mark.parametrize("key", [None, "val/sharpe", "run"])
def test_ranking_by_validation_or_anything_else_carries_no_warning(sweep: Path, key: str | None) -> None:
    assert compare_runs(sweep, CompareOptions(sort_key=key)).warnings == ()


def test_the_cli_prints_the_test_ranking_warning(sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(sweep), "--sort", "test/sharpe"]) == 0
    assert "warning: ranked by test/sharpe, a test-block number" in capsys.readouterr().out.replace("\n", " ")
    assert main([str(sweep)]) == 0
    assert "a test-block number" not in capsys.readouterr().out
