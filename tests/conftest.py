"""Shared fixtures: one feature cache per test session, W&B offline, one torch thread where asked for."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

_CACHE = Path(tempfile.mkdtemp(prefix="hierl-test-cache-"))
os.environ.setdefault("HIERL_CACHE", str(_CACHE))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent

# Property tests draw the same examples on every run and machine, so a CI failure reproduces locally and a pass
# cannot turn into a failure by luck. `HYPOTHESIS_PROFILE=explore` draws fresh examples when hunting for new bugs;
# a failure prints the blob that replays it (`@reproduce_failure`).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The feature cache shared by every test of the session (Gold is built once per data fingerprint)."""
    return Path(os.environ["HIERL_CACHE"])


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small nets train several times faster on one thread than on two contended ones; the count is restored.

    torch is imported here, not at the top, so tests that never train do not pay for importing it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
