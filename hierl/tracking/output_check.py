"""A Hydra callback that checks the output folder can be written before Hydra creates the run in it.

Hydra creates the run folder itself, before any hierl code runs, and reports a failure there with a traceback;
a read-only, full or misplaced output folder is a user's setup problem and deserves one clear line instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from hierl.errors import UserError
from hierl.tracking.files import remove_stale_temp_files
from hierl.tracking.run_state import check_unused_folder

# What Hydra writes into a run folder before any hierl code runs (.hydra/: the composed config, the hydra config
# and the overrides, about 20 KB), with room to spare; a disk with less is refused before the run begins.
PROBE_BYTES = 256 * 1024


def check_writable(folder: Path, key: str) -> None:
    """Create `folder` if needed and write a probe of `PROBE_BYTES` in it; exit with one line naming `key` if that
    fails. The probe is written, not just created, so a full disk is caught here and not in Hydra's config save."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-") as probe:
            probe.write(bytes(PROBE_BYTES))
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise SystemExit(
            f"error: cannot write run outputs to {folder} ({reason}; a run needs at least {PROBE_BYTES:,} bytes "
            f"to start); set {key}=<a writable folder> (or paths.root_dir / HIERL_ROOT), or free disk space"
        ) from None


def clean_leftovers(config: DictConfig, folder: Path) -> None:
    """Delete the temp files killed runs left in `folder` and in the feature cache (writers still alive keep theirs)."""
    remove_stale_temp_files(folder)
    cache_dir = config.get("paths", {}).get("cache_dir")
    if cache_dir:
        remove_stale_temp_files(Path(cache_dir))


# Jobs that are one run each (`hierl.train` and the scripts built on its main). Multi-stage scripts are not: a
# rerun in their folder deliberately finishes what is missing.
SINGLE_RUN_JOBS = frozenset({"train"})


def check_fresh_run_folder(folder: Path) -> None:
    """Exit with one line when `folder` already holds another run (before Hydra overwrites its `.hydra/`)."""
    try:
        check_unused_folder(folder)
    except UserError as error:
        raise SystemExit(f"error: {error}") from None


class OutputFolderCheck(Callback):
    """Checks `hydra.run.dir` (single run) or `hydra.sweep.dir` (multirun) before any job starts; a fresh single
    run also refuses a folder that holds another run (`resume=true` continues that run instead)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.run.dir)
        check_writable(folder, "hydra.run.dir")
        clean_leftovers(config, folder)
        if config.hydra.job.name in SINGLE_RUN_JOBS and not config.get("resume", False):
            check_fresh_run_folder(folder)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        check_writable(folder, "hydra.sweep.dir")
        clean_leftovers(config, folder)
