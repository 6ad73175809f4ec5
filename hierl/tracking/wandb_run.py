"""What makes a hierl W&B run travel: its files staged inside the run folder, stable artefact names, its job type
and sweep trial, and a quiet console.

wandb copies an artefact's files to a staging folder as soon as they are added (`wandb.sdk.artifacts.staging`:
`$WANDB_DATA_DIR/artifacts/staging`, by default under `~/.local/share/wandb`), and an offline run's record points
at those copies: staged outside the run folder, `wandb sync` of the folder uploads runs without their models. So
while hierl's own run is open, wandb's data, cache and artefact folders are folders under `<run>/wandb/`, and the
environment is restored when the run ends (other wandb users in the process keep theirs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

# wandb reads these at the moment it stages, caches or downloads (wandb.env.get_data_dir, get_cache_dir,
# get_artifact_dir); `wandb.Settings` has no field for them.
WANDB_DIR_VARIABLES = {"WANDB_DATA_DIR": "data", "WANDB_CACHE_DIR": "cache", "WANDB_ARTIFACT_DIR": "artifacts"}
# wandb's banner, sync hint and run summary are ~30 `wandb:` lines around hierl's results table; hierl prints the
# one line that matters (the sync command) itself. A user who sets WANDB_SILENT keeps their choice.
SILENT_VARIABLE = "WANDB_SILENT"

# Where the orchestration puts the runs that are not a job of their own (hierl.orchestration.sleeve_signals's
# SLEEVES_DIR and walk_forward's FOLDS_DIR; literal here because tracking sits below orchestration).
SLEEVES_DIR = "sleeves"
FOLDS_DIR = "folds"

JOB_TYPES = ("train", "trial", "sleeve", "meta", "walk_forward_fold")
# The artefact that holds the selected model: one name per asset class and agent, versioned across runs.
MODEL_ARTIFACT = "best_model"
MODEL_ALIASES = ["best", "latest"]


@contextmanager
def wandb_environment(run_dir: Path) -> Iterator[None]:
    """wandb's staging, cache and artefact folders under `<run_dir>/wandb/`, and a silent wandb unless the user
    said otherwise, for the duration of the block; the previous environment afterwards."""
    wanted = {name: str(run_dir / "wandb" / folder) for name, folder in WANDB_DIR_VARIABLES.items()}
    if SILENT_VARIABLE not in os.environ:
        wanted[SILENT_VARIABLE] = "true"
    previous: dict[str, str | None] = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        os.environ[name] = value
    try:
        yield
    finally:
        for name, before in previous.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


@dataclass(frozen=True)
class SweepTrial:
    """The sweep trial a job runs as: its number, the study's name (None when the sweeper does not say), and
    whether the run being opened is the job's own (a sleeve trained inside the job is not the trial)."""

    number: int
    study_name: str | None
    own_job: bool

    def config(self) -> dict[str, Any]:
        """The W&B config keys that tie the run to its study and trial."""
        return {"sweep.trial_number": self.number, "sweep.study_name": self.study_name}


def sweep_trial(run_dir: Path) -> SweepTrial | None:
    """The running sweep trial, from the sweeper's trial reporter (None outside a sweep); a reporter naming the
    job's folder says whether `run_dir` is it, as `hierl.agents.trial_reporting.job_trial_reporter` decides."""
    from hierl.tracking.sweep_trials import current_trial_reporter

    reporter = current_trial_reporter()
    number = getattr(reporter, "trial_number", None)
    if reporter is None or number is None:
        return None
    job_dir = getattr(reporter, "run_dir", None)
    own_job = job_dir is None or Path(run_dir).resolve() == Path(job_dir).resolve()
    return SweepTrial(int(number), _study_name(), own_job)


def _study_name() -> str | None:
    """`hydra.sweeper.study_name` of the running multirun, if its sweeper has one."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return None
    name = OmegaConf.select(HydraConfig.get().sweeper, "study_name", default=None)
    return str(name) if name is not None else None


def job_type(run_dir: Path, agent: str, scope: str, is_trial: bool) -> str:
    """What the run is, for W&B's job-type filter: a walk-forward fold's unit (`<run>/folds/fold_<k>/...`), a
    hierarchy's PPO sleeve (`<job>/sleeves/<class>[/seed_<s>]`), a sweep trial (the job's own folder), a
    meta-controller (SAC, or any agent over the whole hierarchy), else a plain training run."""
    parts = Path(run_dir).parts
    if any(a == FOLDS_DIR and b.startswith("fold_") for a, b in pairwise(parts)):
        return "walk_forward_fold"
    if SLEEVES_DIR in parts[-3:-1]:
        return "sleeve"
    if is_trial:
        return "trial"
    if agent == "sac" or scope == "hierarchy":
        return "meta"
    return "train"


def artifact_name(scope: str, agent: str, name: str) -> str:
    """`<scope>-<agent>-model` for the selected model (e.g. `equity-ppo-model`, `hierarchy-sac-model`), else
    `<scope>-<agent>-<name>`: the same name in every run, so W&B versions it and `best`/`latest` resolve."""
    suffix = "model" if name == MODEL_ARTIFACT else name.replace("_", "-")
    return f"{scope}-{agent}-{suffix}".replace("/", "-")
