"""Checkpoint folders of a run: `checkpoints/step_<timesteps>/` with the SB3 model zip and the training state as
JSON and npz (`state_files`; nothing in a checkpoint is unpickled).

A checkpoint folder is written under a temporary name and renamed when complete, so a run killed while saving
leaves either the previous checkpoints or a complete new one, never a half checkpoint that resume would trust.
A checkpoint of an older hierl that pickled its state (`state.pkl`) is refused with one line.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hierl.errors import UserError
from hierl.tracking.state_files import ARRAYS_FILE, STATE_FILE, read_state, write_state

CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.zip"
# The pickled state of checkpoints written before state files were JSON and npz; never opened.
PICKLED_STATE_FILE = "state.pkl"
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
        """The training state (env, RNGs, callbacks, counters) saved beside the model."""
        state: dict[str, Any] = read_state(self.path)
        return state


def list_checkpoints(directory: Path) -> list[Checkpoint]:
    """Complete checkpoints under `directory`, oldest first (temporary folders of an interrupted save are skipped)."""
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = _NAME.match(child.name)
        if not match:
            continue
        complete = all((child / name).is_file() for name in (MODEL_FILE, STATE_FILE, ARRAYS_FILE))
        if not complete and (child / PICKLED_STATE_FILE).is_file():
            raise UserError(
                f"{child / PICKLED_STATE_FILE} is a checkpoint of an older hierl (pickled state, which hierl no "
                "longer opens: unpickling can run code); resume it with the hierl release that wrote it, or start "
                "a new run folder"
            )
        if complete:
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
    state: tuple[bytes, bytes],
    keep: int,
    write_extra: Callable[[Path], None] | None = None,
) -> Checkpoint:
    """Write one checkpoint (SB3 zip bytes, `encode_state` output) atomically, then delete all but the newest `keep`.

    `write_extra(folder)` adds further files (SAC's replay buffer) to the temporary folder before it is renamed,
    so they are part of the same atomic checkpoint.
    """
    final = directory / f"step_{timesteps:012d}"
    tmp = directory / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / MODEL_FILE).write_bytes(model_zip)
    write_state(tmp, state)
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
