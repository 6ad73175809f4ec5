"""Run-folder JSON files that were truncated or edited are one clear error naming the file, never a traceback."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from hierl.errors import UserError
from hierl.orchestration.policy_evaluation import read_metrics, read_normalisation
from hierl.tracking.files import read_json
from hierl.tracking.run_state import read_state


@pytest.mark.parametrize("content", ['{"status": "fini', "", "\x00\x01garbage", b"\xff\xfe\xfa"])
def test_a_garbled_json_file_is_a_user_error_naming_it(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "run_state.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    message = rf"^{re.escape(str(path))} is not valid JSON \(.*\); it was truncated or edited"
    with pytest.raises(UserError, match=message):
        read_json(path)


def test_every_reader_of_a_run_folder_goes_through_it(tmp_path: Path) -> None:
    for name in ("run_state.json", "normalisation.json", "metrics.json"):
        (tmp_path / name).write_text("{")
    for reader, name in ((read_state, "run_state.json"), (read_normalisation, "normalisation.json")):
        with pytest.raises(UserError, match=re.escape(name)):
            reader(tmp_path)
    with pytest.raises(UserError, match=re.escape("metrics.json")):
        read_metrics(tmp_path)


def test_a_valid_file_reads_back_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"test/sharpe": 0.5}))
    assert read_json(path) == {"test/sharpe": 0.5}


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_result_files_get_the_mode_of_any_new_file(tmp_path: Path, umask: int) -> None:
    from hierl.tracking.files import write_atomic, write_json

    previous = os.umask(umask)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
        write_atomic(tmp_path / "plot.png", lambda tmp: tmp.write_bytes(b"png"))
        (tmp_path / "plain.txt").write_text("x")  # what the umask gives an ordinary new file
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == expected
    for name in ("metrics.json", "plot.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
