"""The state file of a run folder: compare, resume and sweeps read it to know which runs to trust.

A run that stops because the disk is full must still end `failed`, or it would look like a killed run forever.
So a running run keeps a small reserve file beside its state (`RESERVE_FILE`); the last state write frees it first
when the disk is full, and every end of the run removes it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hierl.errors import UserError
from hierl.tracking.files import OutputError, output_error, read_json, write_json

STATE_FILE = "run_state.json"
RESERVE_FILE = ".run_state.reserve"
# Several times what the final state write needs (an atomic rewrite of a ~1 KB JSON file: one temp file).
RESERVE_BYTES = 256 * 1024


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _write_reserve(run_dir: Path) -> None:
    path = run_dir / RESERVE_FILE
    try:
        with path.open("wb") as handle:
            handle.write(bytes(RESERVE_BYTES))  # zeros written, not a sparse file: the blocks are really taken
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        path.unlink(missing_ok=True)
        raise output_error(path, error, RESERVE_BYTES) from None


def _release_reserve(run_dir: Path) -> None:
    (run_dir / RESERVE_FILE).unlink(missing_ok=True)


def mark_running(run_dir: Path, **details: Any) -> None:
    """Record that the run started; a folder left in this state was killed. A disk too full to hold the state
    and its reserve stops the run here, before any work."""
    write_json(run_dir / STATE_FILE, {"status": "running", "started": _now(), **details})
    _write_reserve(run_dir)


def mark_finished(run_dir: Path, **details: Any) -> None:
    """Record a complete run: every file of the contract is written."""
    try:
        _update(run_dir, status="finished", finished=_now(), **details)
    finally:
        _release_reserve(run_dir)


def stop_status(error: BaseException) -> str:
    """How a run that raised `error` ended: "pruned" by a sweep, "interrupted" by a signal, else "failed".

    An exception may name its status in a `run_status` attribute; Optuna's `TrialPruned` is recognised by name
    so this module does not import Optuna.
    """
    status = getattr(error, "run_status", None)
    if isinstance(status, str):
        return status
    if type(error).__name__ == "TrialPruned":
        return "pruned"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "failed"


def mark_failed(run_dir: Path, error: BaseException) -> None:
    """Record why the run stopped, so a half-finished folder is never mistaken for a result; on a full disk the
    reserve is freed first so this last write fits."""
    fields = {"status": stop_status(error), "finished": _now(), "error": f"{type(error).__name__}: {error}"}
    try:
        _update(run_dir, **fields)
    except OutputError:
        _release_reserve(run_dir)
        _update(run_dir, **fields)
    finally:
        _release_reserve(run_dir)


def read_state(run_dir: Path) -> dict[str, Any]:
    """The state of a run folder (`{"status": "missing"}` when it has none)."""
    path = run_dir / STATE_FILE
    if not path.exists():
        return {"status": "missing"}
    state: dict[str, Any] = read_json(path)
    return state


def check_unused_folder(run_dir: Path) -> None:
    """A fresh run starts only in a folder that holds no other run: it would mix its checkpoints and files with
    that run's, prune them, and make the old run impossible to resume."""
    status = read_state(run_dir)["status"]
    if status != "missing":
        raise UserError(
            f"{run_dir} already holds a run (run_state.json: {status}); continue that run with resume=true, or "
            "start this one in a new folder (drop hydra.run.dir, or name another)"
        )


def _update(run_dir: Path, **fields: Any) -> None:
    state = read_state(run_dir)
    state.pop("error", None)
    state.update(fields)
    write_json(run_dir / STATE_FILE, state)
