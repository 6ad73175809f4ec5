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
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hierl.config.loading import flat_config
from hierl.config.run import LoggerConfig, TrainConfig
from hierl.errors import ConfigError, require_extra
from hierl.tracking.files import write_atomic
from hierl.tracking.logging import get_logger
from hierl.tracking.secrets import redact_config
from hierl.tracking.wandb_run import (
    MODEL_ALIASES,
    MODEL_ARTIFACT,
    SweepTrial,
    artifact_name,
    job_type,
    sweep_trial,
    wandb_environment,
)

log = get_logger("tracking")

LOGGERS = ("none", "csv", "tensorboard", "wandb")
# The loggers whose package is an extra of the same name (`pip install 'hierl[wandb]'`).
EXTRA_LOGGERS = ("tensorboard", "wandb")
TENSORBOARD_DIR = "tensorboard"
VERSIONED_PACKAGES = ("torch", "stable-baselines3", "hierl")
# W&B's model registry; a model's collection has the artefact's name.
REGISTRY_PREFIX = "wandb-registry-model"
_REGISTRY_SKIP_LOGGED = False  # the offline "not linked" note is logged once per process


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


@runtime_checkable
class MediaTracker(Protocol):
    """A tracker that also shows the run's figures and backtest in its dashboard (W&B's media and tables)."""

    def log_images(self, paths: list[Path]) -> None: ...

    def log_backtest_table(self, path: Path, split: str) -> None: ...


class WandbTracker:
    """A W&B run writing under the run folder; offline unless the config says otherwise.

    `scope` and `agent` name the run's artefacts (`<scope>-<agent>-model`), the same in every run so that W&B
    versions them across runs.
    """

    def __init__(self, run: Any, scope: str = "run", agent: str = "agent") -> None:
        self._run = run
        self._scope = scope
        self._agent = agent
        self._finished = False

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._run.log(metrics, step=step)

    def summary(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self._run.summary[key] = value

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        """One artefact named `<scope>-<agent>-<name>`; the selected model gets the `best` and `latest` aliases and,
        online, a link into the model registry (W&B cannot link an offline run's artefact)."""
        import wandb

        existing = [path for path in paths if path.is_file()]
        if not existing:
            return
        artifact = wandb.Artifact(name=artifact_name(self._scope, self._agent, name), type=kind)
        for path in existing:
            artifact.add_file(str(path))
        is_model = name == MODEL_ARTIFACT
        self._run.log_artifact(artifact, aliases=MODEL_ALIASES if is_model else ["latest"])
        if is_model:
            self._link_to_registry(artifact)

    def _link_to_registry(self, artifact: Any) -> None:
        global _REGISTRY_SKIP_LOGGED
        if self._run.offline:
            if not _REGISTRY_SKIP_LOGGED:
                _REGISTRY_SKIP_LOGGED = True
                log.info("W&B is offline: models are not linked to the model registry (link them after syncing)")
            return
        target = f"{REGISTRY_PREFIX}/{artifact_name(self._scope, self._agent, MODEL_ARTIFACT)}"
        try:
            self._run.link_artifact(artifact, target, aliases=MODEL_ALIASES)
        except Exception as error:  # no registry access (team plan, permissions) must not fail a finished run
            log.warning("could not link %s to the W&B registry %s: %s", artifact.name, target, error)

    def log_images(self, paths: list[Path]) -> None:
        """Each figure as W&B image media under `plots/<file stem>`, so the dashboard shows it (an artefact's
        PNG is only a file to download)."""
        import wandb

        images = {f"plots/{path.stem}": wandb.Image(str(path)) for path in paths if path.is_file()}
        if images:
            self._run.log(images)

    def log_backtest_table(self, path: Path, split: str) -> None:
        """The `split` rows of a backtest parquet as the W&B table `backtest/<split>` (dates as ISO strings)."""
        import polars as pl
        import wandb

        if not path.is_file():
            return
        frame = pl.read_parquet(path)
        if "split" in frame.columns:
            frame = frame.filter(pl.col("split") == split).drop("split")
        if frame.height == 0:
            return
        frame = frame.with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))
        self._run.log({f"backtest/{split}": wandb.Table(columns=list[str | int](frame.columns), data=frame.rows())})

    def finish(self, exit_code: int = 0) -> None:
        if not self._finished:
            self._finished = True
            offline = bool(self._run.offline)
            self._run.finish(exit_code=exit_code)
            if offline:
                # wandb's own hint is silenced with the rest of its output; this is the one line that matters.
                log.info("W&B offline run: sync with `wandb sync %s`", Path(self._run.dir).parent)


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
    job_type: str | None = None,
    scope: str = "run",
    agent: str = "agent",
) -> Tracker:
    """Open the tracker the `logger` group asks for; the config it records has its credentials redacted.

    With `resume`, a W&B run continues the W&B run of the same folder (same id; W&B keeps the larger steps).
    `scope` and `agent` name the W&B run's artefacts.
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
        "job_type": job_type,
    }
    try:
        run = wandb.init(mode=mode, **settings)  # type: ignore[arg-type]
    except Exception as error:  # wandb raises several types for an unreachable or refusing server
        if mode != "online":
            raise
        # Losing the online mirror must not cost the run: the run folder is the record, W&B can sync later.
        log.warning("W&B is unreachable (%s): logging offline (sync later with `wandb sync`)", error)
        run = wandb.init(mode="offline", **settings)  # type: ignore[arg-type]
    return WandbTracker(run, scope=scope, agent=agent)


@contextmanager
def tracked_run(cfg: TrainConfig, run_dir: Path, scope: str | None = None) -> Iterator[Tracker]:
    """The run's tracker, named, tagged and grouped from its config, finished however the block ends.

    `scope` names what the run trades when it is not one asset class (the hierarchy spans them all). A W&B run also
    gets its job type and sweep trial, and stages its files inside the run folder while it is open.
    """
    scope = scope or cfg.asset.name
    name = run_name(scope, cfg.agent.name, cfg.seed)
    config = flat_config(cfg)
    kind: str | None = None
    environment: AbstractContextManager[None] = nullcontext()
    if cfg.logger.name == "wandb":
        trial: SweepTrial | None = sweep_trial(run_dir)
        kind = job_type(run_dir, cfg.agent.name, scope, is_trial=trial is not None and trial.own_job)
        if trial is not None:
            name = f"{name}__trial_{trial.number}"
            config.update(trial.config())
        environment = wandb_environment(run_dir)
    with environment:
        tracker = start_tracker(
            cfg.logger,
            run_dir,
            name,
            config,
            tags=run_tags(cfg.agent.name, scope),
            group=default_group(cfg.logger, cfg.experiment_name),
            resume=cfg.resume,
            job_type=kind,
            scope=scope,
            agent=cfg.agent.name,
        )
        exit_code = 1
        try:
            yield tracker
            exit_code = 0
        finally:
            tracker.finish(exit_code)
