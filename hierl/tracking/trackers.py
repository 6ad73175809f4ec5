"""Experiment trackers behind one small interface: nothing, or Weights & Biases.

The run folder is always written; a tracker only mirrors metrics and files elsewhere. CSV and TensorBoard
curves are written by Stable-Baselines3's own logger (`sb3_output_formats`), so for them the tracker is a no-op.
"""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from hierl.config.loading import flat_config
from hierl.config.run import LoggerConfig, TrainConfig
from hierl.errors import ConfigError, require_extra
from hierl.tracking.files import write_atomic
from hierl.tracking.logging import get_logger
from hierl.tracking.secrets import redact_config

log = get_logger("tracking")

LOGGERS = ("none", "csv", "tensorboard", "wandb")
# The loggers whose package is an extra of the same name (`pip install 'hierl[wandb]'`).
EXTRA_LOGGERS = ("tensorboard", "wandb")
TENSORBOARD_DIR = "tensorboard"
VERSIONED_PACKAGES = ("torch", "stable-baselines3", "hierl")


class Tracker(Protocol):
    """What the training code may ask of a tracker."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None: ...

    def summary(self, metrics: dict[str, float]) -> None: ...

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...


class NullTracker:
    """Used for `logger=none`, `csv` and `tensorboard` (SB3 writes those files itself)."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        return None

    def summary(self, metrics: dict[str, float]) -> None:
        return None

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
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

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        import wandb

        existing = [path for path in paths if path.is_file()]
        if not existing:
            return
        artifact = wandb.Artifact(name=f"{self._run.name}-{name}".replace("/", "-"), type=kind)
        for path in existing:
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


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def run_tags(agent: str, asset: str) -> list[str]:
    """Agent, asset class, commit and package versions: what W&B filters runs by."""
    return [agent, asset, f"git:{git_commit()}", *(f"{name}:{v}" for name, v in package_versions().items())]


def run_name(asset: str, agent: str, seed: int) -> str:
    """`asset__agent__seed__time`, so runs sort and group by what they are."""
    return f"{asset}__{agent}__{seed}__{int(time.time())}"


def default_group(cfg: LoggerConfig, experiment_name: str | None) -> str:
    """`logger.group`, else the sweep folder's name in a multirun, else the experiment (or entrypoint) name."""
    if cfg.group:
        return cfg.group
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return Path(hydra_cfg.sweep.dir).name
        return experiment_name or hydra_cfg.job.name
    return experiment_name or "hierl"


def check_logger(cfg: LoggerConfig) -> None:
    """Fail before any work when the logger cannot be used (W&B and TensorBoard are extras of hierl)."""
    if cfg.name not in LOGGERS:
        raise ConfigError(f"logger={cfg.name!r} is not one of {', '.join(LOGGERS)}")
    if cfg.name in EXTRA_LOGGERS:
        require_extra(cfg.name, cfg.name, f"logger={cfg.name}")
    if cfg.mode not in ("online", "offline", "disabled"):
        raise ConfigError(f"logger.mode={cfg.mode!r} is not one of online, offline, disabled")


def sb3_output_formats(cfg: LoggerConfig) -> list[str]:
    """The formats Stable-Baselines3's logger writes for this logger option."""
    return {"csv": ["csv"], "tensorboard": ["tensorboard"]}.get(cfg.name, [])


WANDB_RUN_ID_FILE = "wandb_run_id.txt"


def wandb_run_id(run_dir: Path, resume: bool) -> str:
    """The W&B run id of this run folder: the one stored there when resuming, so that a resumed run continues
    its W&B run instead of starting a second one; otherwise a new id, stored for a later resume."""
    stored = run_dir / WANDB_RUN_ID_FILE
    if resume and stored.is_file():
        run_id = stored.read_text().strip()
        if run_id:
            return run_id
    run_id = secrets.token_hex(6)  # W&B ids are letters, digits, '-' and '_'
    write_atomic(stored, lambda path: path.write_text(run_id + "\n"))
    return run_id


def start_tracker(
    cfg: LoggerConfig,
    run_dir: Path,
    name: str,
    config: dict[str, Any],
    tags: list[str],
    group: str | None = None,
    resume: bool = False,
) -> Tracker:
    """Open the tracker the `logger` group asks for; the config it records has its credentials redacted.

    With `resume`, a W&B run continues the W&B run of the same folder (same id; W&B keeps the larger steps).
    """
    check_logger(cfg)
    if cfg.name != "wandb":
        return NullTracker()
    import wandb

    mode = cfg.mode
    if mode == "online" and not (os.environ.get("WANDB_API_KEY") or Path.home().joinpath(".netrc").exists()):
        log.warning("no W&B credentials found: logging offline (sync later with `wandb sync`)")
        mode = "offline"
    settings = {
        "project": cfg.project,
        "entity": cfg.entity,
        "group": group or cfg.group,
        "name": name,
        "tags": [*tags, *cfg.tags],
        "config": redact_config(config),
        "dir": str(run_dir),
        "reinit": "finish_previous",
        "id": wandb_run_id(run_dir, resume),
        "resume": "allow",
    }
    try:
        run = wandb.init(mode=mode, **settings)  # type: ignore[arg-type]
    except Exception as error:  # wandb raises several types for an unreachable or refusing server
        if mode != "online":
            raise
        # Losing the online mirror must not cost the run: the run folder is the record, W&B can sync later.
        log.warning("W&B is unreachable (%s): logging offline (sync later with `wandb sync`)", error)
        run = wandb.init(mode="offline", **settings)  # type: ignore[arg-type]
    return WandbTracker(run)


@contextmanager
def tracked_run(cfg: TrainConfig, run_dir: Path, scope: str | None = None) -> Iterator[Tracker]:
    """The run's tracker, named, tagged and grouped from its config, finished however the block ends.

    `scope` names what the run trades when it is not one asset class (the hierarchy spans them all).
    """
    scope = scope or cfg.asset.name
    tracker = start_tracker(
        cfg.logger,
        run_dir,
        run_name(scope, cfg.agent.name, cfg.seed),
        flat_config(cfg),
        tags=run_tags(cfg.agent.name, scope),
        group=default_group(cfg.logger, cfg.experiment_name),
        resume=cfg.resume,
    )
    exit_code = 1
    try:
        yield tracker
        exit_code = 0
    finally:
        tracker.finish(exit_code)
