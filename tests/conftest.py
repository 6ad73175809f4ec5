"""Shared fixtures: one feature cache per test session, W&B offline, hierl's thread policy, SB3 logs kept out of
the temp folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings


def _session_folder(variable: str, prefix: str) -> None:
    """`variable` names a temp folder for this test session, made here and removed when the process that made it
    exits, unless the environment already names one (the pytest-xdist workers and the runs the tests start inherit
    the controller's)."""
    if variable in os.environ:
        return
    folder = tempfile.mkdtemp(prefix=prefix)
    os.environ[variable] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


_session_folder("HIERL_CACHE", "hierl-test-cache-")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests that build bare SB3 models and call `learn` get SB3's default logger, which makes a folder per call; they
# go here instead of the system temp folder. hierl's own runs never use it (tests/test_runtime.py checks that).
_session_folder("SB3_LOGDIR", "hierl-test-sb3-")

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


@pytest.fixture(scope="session", autouse=True)
def thread_policy() -> None:
    """The suite runs under hierl's thread policy for its small networks: one torch thread in this process, and
    OMP_NUM_THREADS=1 for the runs it starts as subprocesses (whose own policy then also chooses one)."""
    from hierl.runtime import apply_thread_policy

    apply_thread_policy("auto", n_parameters=0)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small nets train several times faster on one thread than on two contended ones; the count is restored.

    torch is imported here, not at the top, so tests that never train do not pay for importing it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
