"""No number changes: fixed-seed smoke runs of every entrypoint write the files recorded in
`tests/data/output_hashes.json` (see `tests/output_hashes.py` for what is hashed and how to re-record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from output_hashes import GROUPS, assert_matches_record, commands, current_hashes, differences, folder_hashes

# This file checks the "single" group; tests/test_output_hashes_multi.py the other, on another pytest worker.
GROUP = GROUPS["single"]


@pytest.fixture(scope="module")
def hashes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return current_hashes(tmp_path_factory.mktemp("output-hashes"), names=GROUP)


@pytest.mark.slow
@pytest.mark.parametrize("run", GROUP)
def test_every_output_file_matches_the_record(hashes: dict[str, dict[str, str]], run: str) -> None:
    assert_matches_record(hashes, run)


def test_the_groups_cover_every_run_once() -> None:
    grouped = [name for group in GROUPS.values() for name in group]
    assert sorted(grouped) == sorted(commands(Path(".")))
    assert len(grouped) == len(set(grouped))


def test_a_changed_number_changes_the_hash(tmp_path: Path) -> None:
    # The record can fail: one digit of one metric, or one member of a model archive, is a different hash, while
    # a wall-clock key and the run root are not part of it.
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"test/sharpe": 0.5, "train/seconds": 1.0}))
    before = folder_hashes(folder, tmp_path)
    (folder / "metrics.json").write_text(json.dumps({"test/sharpe": 0.5, "train/seconds": 9.0}))
    assert folder_hashes(folder, tmp_path) == before
    (folder / "metrics.json").write_text(json.dumps({"test/sharpe": 0.50000001, "train/seconds": 1.0}))
    assert differences({"r": before}, {"r": folder_hashes(folder, tmp_path)}) == ["r: metrics.json changed"]
