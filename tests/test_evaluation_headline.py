"""Which SAC runs the headline reads: only those whose run_state.json says finished."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hierl.errors import HeadlineInputError
from hierl.reports.headline import sac_runs
from hierl.tracking.run_state import mark_failed, mark_finished, mark_running


def seed_folder(run_dir: Path, seed: int) -> Path:
    folder = run_dir / "sac" / f"seed_{seed}"
    folder.mkdir(parents=True)
    pl.DataFrame({"split": ["test"], "date": [0], "return": [0.0]}).write_parquet(folder / "backtest.parquet")
    mark_running(folder)
    return folder


def test_only_finished_runs_are_read_even_though_a_failed_state_records_when_it_finished(tmp_path: Path) -> None:
    finished = seed_folder(tmp_path, 0)
    mark_finished(finished)
    failed = seed_folder(tmp_path, 1)
    mark_failed(failed, RuntimeError("safety gate"))
    assert '"finished"' in (failed / "run_state.json").read_text()  # the key that fooled a substring test
    seed_folder(tmp_path, 2)  # still running
    assert sac_runs(tmp_path) == {0: finished}


def test_a_run_without_finished_sac_runs_is_refused(tmp_path: Path) -> None:
    seed_folder(tmp_path, 0)
    with pytest.raises(HeadlineInputError, match="no finished SAC run"):
        sac_runs(tmp_path)
