"""The output record of the multi-stage runs (the hierarchy, a sweep, the pipeline): see test_output_hashes.py.

A file of its own so that pytest-xdist (`--dist loadfile`) runs it beside the single-stage group."""

from __future__ import annotations

import pytest
from output_hashes import GROUPS, assert_matches_record, current_hashes

GROUP = GROUPS["multi"]


@pytest.fixture(scope="module")
def hashes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return current_hashes(tmp_path_factory.mktemp("output-hashes-multi"), names=GROUP)


@pytest.mark.slow
@pytest.mark.parametrize("run", GROUP)
def test_every_output_file_matches_the_record(hashes: dict[str, dict[str, str]], run: str) -> None:
    assert_matches_record(hashes, run)
