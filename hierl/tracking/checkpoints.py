"""Checkpoint folders of a run: `checkpoints/step_<timesteps>/` with the SB3 model zip and a pickled state.

A checkpoint folder is written under a temporary name and renamed when complete, so a run killed while saving
leaves either the previous checkpoints or a complete new one, never a half checkpoint that resume would trust.
"""

from __future__ import annotations

import pickle
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.zip"
STATE_FILE = "state.pkl"
_NAME = re.compile(r"^step_(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint folder and the timestep it was taken at."""

    path: Path
    timesteps: int

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def state(self) -> dict[str, Any]:
        """The pickled training state (env, RNGs, callbacks, counters) saved beside the model."""
        with (self.path / STATE_FILE).open("rb") as handle:
            state: dict[str, Any] = pickle.load(handle)
        return state


def list_checkpoints(directory: Path) -> list[Checkpoint]:
    """Complete checkpoints under `directory`, oldest first (temporary folders of an interrupted save are skipped)."""
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = _NAME.match(child.name)
        if match and (child / MODEL_FILE).is_file() and (child / STATE_FILE).is_file():
            found.append(Checkpoint(child, int(match.group(1))))
    return sorted(found, key=lambda checkpoint: checkpoint.timesteps)


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    """The newest complete checkpoint, or None."""
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(
    directory: Path,
    timesteps: int,
    model_zip: bytes,
    state: bytes,
    keep: int,
    write_extra: Callable[[Path], None] | None = None,
) -> Checkpoint:
    """Write one checkpoint (SB3 zip bytes, pickled state bytes) atomically, then delete all but the newest `keep`.

    `write_extra(folder)` adds further files (SAC's replay buffer) to the temporary folder before it is renamed,
    so they are part of the same atomic checkpoint.
    """
    final = directory / f"step_{timesteps:012d}"
    tmp = directory / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / MODEL_FILE).write_bytes(model_zip)
    (tmp / STATE_FILE).write_bytes(state)
    if write_extra is not None:
        write_extra(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in list_checkpoints(directory)[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, timesteps)


def rng_state() -> dict[str, Any]:
    """The global generators training draws from: Python's, NumPy's (minibatch order) and torch's (actions)."""
    # SB3 shuffles minibatches with NumPy's legacy global generator, so its state is what must be kept.
    numpy_state = np.random.get_state()  # noqa: NPY002
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
