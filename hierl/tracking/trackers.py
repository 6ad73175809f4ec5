"""Experiment trackers behind one small interface: nothing, or Weights & Biases.

The run folder is always written; a tracker only mirrors metrics and files elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from hierl.config.run import LoggerConfig
from hierl.tracking.logging import get_logger

log = get_logger("tracking")


class Tracker(Protocol):
    """What the training code may ask of a tracker."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    def summary(self, metrics: dict[str, float]) -> None: ...

    def log_file(self, path: Path, kind: str) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...


class NullTracker:
    """Used for `logger=none` and `logger=csv` (SB3 writes the CSV itself)."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        return None

    def summary(self, metrics: dict[str, float]) -> None:
        return None

    def log_file(self, path: Path, kind: str) -> None:
        return None

    def finish(self, exit_code: int = 0) -> None:
        return None


class WandbTracker:
    """A W&B run writing under the run folder; offline unless the config says otherwise."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self._finished = False

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._run.log(metrics, step=step)

    def summary(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self._run.summary[key] = value

    def log_file(self, path: Path, kind: str) -> None:
        import wandb

        artifact = wandb.Artifact(name=f"{self._run.name}-{path.stem}".replace("/", "-"), type=kind)
        artifact.add_file(str(path))
        self._run.log_artifact(artifact)

    def finish(self, exit_code: int = 0) -> None:
        if not self._finished:
            self._finished = True
            self._run.finish(exit_code=exit_code)


def git_commit() -> str:
    """The checkout's commit, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_name(asset: str, agent: str, seed: int) -> str:
    """`asset__agent__seed__time`, so runs sort and group by what they are."""
    return f"{asset}__{agent}__{seed}__{int(time.time())}"


def start_tracker(cfg: LoggerConfig, run_dir: Path, name: str, config: dict[str, Any], tags: list[str]) -> Tracker:
    """Open the tracker the `logger` group asks for."""
    if cfg.name in ("none", "csv"):
        return NullTracker()
    if cfg.name != "wandb":
        raise ValueError(f"logger.name={cfg.name!r} is not one of none, csv, wandb")
    import wandb

    mode = cfg.mode
    if mode == "online" and not (os.environ.get("WANDB_API_KEY") or Path.home().joinpath(".netrc").exists()):
        log.warning("no W&B credentials found: logging offline (sync later with `wandb sync`)")
        mode = "offline"
    run = wandb.init(
        project=cfg.project,
        entity=cfg.entity,
        group=cfg.group,
        name=name,
        tags=[*tags, *cfg.tags],
        config=config,
        dir=str(run_dir),
        mode=mode,  # type: ignore[arg-type]
        reinit="finish_previous",
    )
    return WandbTracker(run)
