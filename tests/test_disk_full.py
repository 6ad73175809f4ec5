"""A full or read-only disk is one line naming the folder and the bytes needed; the run still ends `failed`, no
file under a final name is truncated, and the temp files of killed writers are cleaned by the next run.

The disks are real: small tmpfs mounts made by the test (root in a container may mount them; elsewhere these
tests are skipped with the reason, and the in-process tests below still run).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from runs import hierl_train

from hierl.tracking.files import (
    HOST_TAG,
    OutputError,
    atomic_path,
    disk_errno,
    remove_stale_temp_files,
    write_json,
    write_parquet,
)
from hierl.tracking.run_state import RESERVE_FILE, mark_failed, mark_running, read_state


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, check=False
    )
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A tmpfs of `request.param` (default 1m) bytes, unmounted after the test."""
    folder = tmp_path / "disk"
    if not _mount_tmpfs(folder, getattr(request, "param", "1m")):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def train_into(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """`python -m hierl.train debug=smoke` into `run_dir`, as a user runs it."""
    command = hierl_train("debug=smoke", *overrides, f"hydra.run.dir={run_dir}")
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)


def fill(disk: Path, leave_bytes: int) -> None:
    """Take all but `leave_bytes` of the disk with a filler file."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(bytes(max(free - leave_bytes, 0)))


def test_a_json_write_on_a_full_disk_names_the_folder_and_the_bytes(small_disk: Path) -> None:
    fill(small_disk, 8192)
    with pytest.raises(OutputError) as caught:
        write_json(small_disk / "metrics.json", {"values": list(range(20_000))})
    message = str(caught.value)
    assert f"no space left in {small_disk} to write metrics.json" in message
    needed = len(json.dumps({"values": list(range(20_000))}, indent=2, sort_keys=True)) + 1
    assert f"needs about {needed:,} bytes" in message and "\n" not in message
    # Nothing half-written is left behind: no file under the final name, no temp file.
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_parquet_write_on_a_full_disk_is_the_same_one_line(small_disk: Path) -> None:
    # polars reports the disk's errno inside its own error type; it is recognised all the same.
    fill(small_disk, 8192)
    frame = pl.DataFrame({"x": list(range(200_000))})
    with pytest.raises(OutputError, match=r"no space left in .* to write backtest.parquet \(needs about"):
        write_parquet(small_disk / "backtest.parquet", frame)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_the_previous_complete_file_survives_a_failed_rewrite(small_disk: Path) -> None:
    write_json(small_disk / "metrics.json", {"test/sharpe": 1.0})
    fill(small_disk, 4096)
    with pytest.raises(OutputError):
        write_json(small_disk / "metrics.json", {"values": list(range(20_000))})
    assert json.loads((small_disk / "metrics.json").read_text()) == {"test/sharpe": 1.0}


def test_a_run_on_a_full_disk_still_ends_failed(small_disk: Path) -> None:
    mark_running(small_disk)
    assert (small_disk / RESERVE_FILE).stat().st_size > 0
    fill(small_disk, 0)
    with pytest.raises(OutputError):
        write_json(small_disk / "metrics.json", {"test/sharpe": 1.0})
    mark_failed(small_disk, OutputError("no space left"))
    assert read_state(small_disk)["status"] == "failed"
    assert not (small_disk / RESERVE_FILE).exists()


def test_without_the_reserve_the_failed_state_would_not_fit(small_disk: Path) -> None:
    # Positive control: on a disk with no byte left and no reserve, the state write itself fails.
    write_json(small_disk / "run_state.json", {"status": "running"})
    fill(small_disk, 0)
    with pytest.raises(OutputError):
        write_json(small_disk / "run_state.json", {"status": "failed", "error": "x" * 10_000})


def test_a_read_only_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root ignores permission bits, so the read-only filesystem is simulated at the rename.
    def read_only(*_: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OutputError, match=rf"cannot write metrics.json in {tmp_path}: read-only file system;"):
        write_json(tmp_path / "metrics.json", {})
    assert list(tmp_path.iterdir()) == []


def test_other_errors_of_a_writer_are_not_disguised(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), atomic_path(tmp_path / "x.json"):
        _ = 1 / 0
    assert disk_errno(RuntimeError("parquet: underlying IO error (os error 2)")) is None
    assert disk_errno(RuntimeError("parquet: underlying IO error (os error 28)")) == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def _temp_name(final: str, pid: int, host: str = HOST_TAG) -> str:
    return f".{final}.{host}.{pid}.abc123.tmp"


def test_only_the_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        (tmp_path / "sub").mkdir()
        leftover = tmp_path / "sub" / _temp_name("equity_curve_test.png", dead.pid)
        in_progress = tmp_path / _temp_name("model.zip", sleeper.pid)
        other_host = tmp_path / _temp_name("model.zip", dead.pid, host="elsewhere")
        user_file = tmp_path / ".notes.tmp"
        for path in (leftover, in_progress, other_host, user_file):
            path.write_text("x")
        assert remove_stale_temp_files(tmp_path) == [leftover]
        assert in_progress.exists() and other_host.exists() and user_file.exists()
    finally:
        sleeper.kill()


@pytest.mark.slow
@pytest.mark.parametrize("small_disk", ["768k"], indirect=True)
def test_a_training_run_on_a_full_disk_is_one_line_and_leaves_no_truncated_file(small_disk: Path) -> None:
    run_dir = small_disk / "run"
    result = train_into(run_dir)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: no space left in {run_dir}") and "bytes" in last
    assert read_state(run_dir)["status"] == "failed"
    assert not (run_dir / RESERVE_FILE).exists()
    assert not list(run_dir.rglob("*.tmp"))
    # Every file under a final name is complete.
    for path in run_dir.rglob("*"):
        if path.suffix == ".zip":
            assert zipfile.ZipFile(path).testzip() is None
        elif path.suffix == ".parquet":
            pl.read_parquet(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())


@pytest.mark.parametrize("small_disk", ["128k"], indirect=True)
def test_a_disk_too_full_to_start_is_refused_before_hydra_writes(small_disk: Path) -> None:
    run_dir = small_disk / "run"
    result = train_into(run_dir)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot write run outputs to {run_dir}")
    assert "needs at least 262,144 bytes" in result.stderr
    assert not (run_dir / ".hydra").exists()


def test_the_next_run_in_a_folder_cleans_what_a_killed_one_left(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    leftover = run_dir / _temp_name("equity_curve_test.png", dead.pid)
    leftover.write_text("half a plot")
    # A config mistake stops the run right after the output-folder callback: enough to see the cleaning.
    result = train_into(run_dir, "env.cost_bps=-1")
    assert result.returncode != 0 and "cost_bps" in result.stderr
    assert not leftover.exists()
