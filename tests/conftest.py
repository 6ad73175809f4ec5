"""Shared fixtures: one feature cache per test session, W&B offline, a composed smoke config."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_CACHE = Path(tempfile.mkdtemp(prefix="hierl-test-cache-"))
os.environ.setdefault("HIERL_CACHE", str(_CACHE))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The feature cache shared by every test of the session (Gold is built once per data fingerprint)."""
    return Path(os.environ["HIERL_CACHE"])
