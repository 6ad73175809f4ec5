"""Atomic file writes: a killed run never leaves a half-written file behind, and a full or read-only disk is one
line naming the folder, not a traceback.

Every result file is written to a temp file beside it and renamed over its final name only once complete, so no
file under a final name is ever truncated. The temp file's name carries the writer's host and process id
(`.<name>.<host>.<pid>.<random>.tmp`): a killed writer leaves it behind, and `remove_stale_temp_files` (run at the
start of every run in its folder, and before a cache write) deletes exactly those whose process is gone.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from hierl.errors import OutputError, UserError

# errno values that mean "the disk cannot take this file", as opposed to a bug in the writer.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
UNWRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
# This host in temp-file names (letters, digits and dashes only, so the name splits on dots).
HOST_TAG = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_RUST_OS_ERROR = re.compile(r"\(os error (?P<errno>\d+)\)")
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def output_error(path: Path, error: OSError, needed: int | None = None) -> OutputError:
    """One line that names the folder, what it could not take, and the fix."""
    folder = path.parent
    if error.errno in UNWRITABLE:
        return OutputError(
            f"cannot write {path.name} in {folder}: {os.strerror(error.errno or 0).lower()}; make the folder "
            "writable or write the run elsewhere (hydra.run.dir, paths.cache_dir, or HIERL_ROOT / HIERL_CACHE)"
        )
    try:
        free = f"{shutil.disk_usage(folder).free:,} bytes free"
    except OSError:
        free = "free space unknown"
    need = f"needs about {needed:,} bytes" if needed else "needs more than the space left"
    return OutputError(
        f"no space left in {folder} to write {path.name} ({need}, {free}); free disk space there or write the "
        "run elsewhere (hydra.run.dir, paths.cache_dir, or HIERL_ROOT / HIERL_CACHE)"
    )


def disk_errno(error: BaseException) -> int | None:
    """The errno of a failed write when it is the disk's doing (full, read-only, forbidden), else None.

    Python writers raise OSError; polars (Rust) raises its own error type with "(os error N)" in the message.
    """
    number = error.errno if isinstance(error, OSError) else None
    if number is None:
        found = _RUST_OS_ERROR.search(str(error))
        number = int(found["errno"]) if found else None
    return number if number in NO_SPACE | UNWRITABLE else None


@contextmanager
def atomic_path(path: Path, needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes without error.

    `needed` is the size of what will be written, when the caller knows it, for the disk-full message.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{path.name}.{HOST_TAG}.{os.getpid()}."
        handle, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    except OSError as error:
        if disk_errno(error) is not None:
            raise output_error(path, error, needed) from None
        raise
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); a result file gets the mode any new file would (0644 under the
        # usual umask 022, 0664 under 002), so a shared results folder or cache stays readable by colleagues.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except Exception as error:
        number = disk_errno(error)
        if number is None:
            raise
        tmp.unlink(missing_ok=True)  # before the message, so it reports the space this file no longer holds
        raise output_error(path, OSError(number, os.strerror(number)), needed) from None
    finally:
        tmp.unlink(missing_ok=True)


def _writer_alive(host: str, pid: int) -> bool:
    """Whether the process that named a temp file may still be writing it (another host's is assumed alive)."""
    if host != HOST_TAG or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale_temp_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Delete the temp files that killed writers left in `folder`; return what was removed.

    Only names of this module's pattern whose process no longer exists on this host are removed, so a run
    sharing the folder (a cache, a sweep) never loses a file it is writing.
    """
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp"):
        match = _TEMP_NAME.match(candidate.name)
        if match and candidate.is_file() and not _writer_alive(match["host"], int(match["pid"])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, writer: Callable[[Path], Any], needed: int | None = None) -> Path:
    """Call `writer(tmp_path)` and move the result to `path`; `needed` is the size written, when known."""
    with atomic_path(path, needed) as tmp:
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
    return write_atomic(path, lambda tmp: tmp.write_text(text), needed=len(text.encode()))


def write_parquet(path: Path, frame: pl.DataFrame) -> Path:
    """Write a polars frame as Parquet atomically."""
    return write_atomic(path, lambda tmp: frame.write_parquet(tmp), needed=int(frame.estimated_size()))
