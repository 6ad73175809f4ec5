"""Atomic file writes: a killed run never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from hierl.errors import UserError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); a result file gets the mode any new file would (0644 under the
        # usual umask 022, 0664 under 002), so a shared results folder or cache stays readable by colleagues.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, writer: Callable[[Path], Any]) -> Path:
    """Call `writer(tmp_path)` and move the result to `path`."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return path


def read_json(path: Path) -> Any:
    """A JSON file of a run folder or cache; a truncated or garbled one is a UserError naming it, not a traceback."""
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(
            f"{path} is not valid JSON ({error}); it was truncated or edited: restore it from a copy of the run "
            "folder, or rerun that run"
        ) from None


def write_json(path: Path, payload: Any) -> Path:
    """Write JSON atomically, keys sorted so files diff cleanly."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_parquet(path: Path, frame: pl.DataFrame) -> Path:
    """Write a polars frame as Parquet atomically."""
    return write_atomic(path, lambda tmp: frame.write_parquet(tmp))
