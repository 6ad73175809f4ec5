"""What `resume=true` checks before a checkpoint is trusted: the same hierl, config, observation shape and data.

PPO and SAC resume through the same checks; only what "the same data" means differs (a market fingerprint for
PPO, the classes' fingerprints and a digest of the signals for SAC), so each stage passes its own identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hierl
from hierl.config.loading import flat_config
from hierl.config.run import TrainConfig
from hierl.errors import UserError
from hierl.tracking.checkpoints import CHECKPOINT_DIR, Checkpoint, latest_checkpoint

# Keys a resumed run may change: the budget and how often it checkpoints; any other change would mean the
# resumed run is no longer a continuation of the first one.
RESUMABLE_CHANGES = frozenset({"agent.total_timesteps", "agent.checkpoint_freq", "agent.keep_checkpoints"})
RESUME_SECTIONS = ("agent", "env", "reward", "asset", "seed")


def resume_identity(cfg: TrainConfig) -> dict[str, Any]:
    """The config keys a checkpoint must share with the run that resumes it."""
    return {
        key: value
        for key, value in flat_config(cfg).items()
        if key.split(".")[0] in RESUME_SECTIONS and key not in RESUMABLE_CHANGES
    }


def find_resume_checkpoint(run_dir: Path) -> Checkpoint:
    """The newest checkpoint of the run folder `resume=true` continues."""
    checkpoint = latest_checkpoint(run_dir / CHECKPOINT_DIR)
    if checkpoint is None:
        raise UserError(
            f"resume=true but {run_dir / CHECKPOINT_DIR} holds no complete checkpoint; set "
            "hydra.run.dir=<the folder of the run to continue>, or drop resume=true to start afresh"
        )
    return checkpoint


def optional_resume_checkpoint(cfg: TrainConfig, run_dir: Path, required: bool) -> Checkpoint | None:
    """The newest checkpoint `resume=true` continues from (None without resume).

    `required=False` (a pipeline unit) starts afresh when the folder has no checkpoint yet; from the command
    line a missing checkpoint is a mistake, reported before any work.
    """
    if not cfg.resume:
        return None
    return find_resume_checkpoint(run_dir) if required else latest_checkpoint(run_dir / CHECKPOINT_DIR)


def resume_state(cfg: TrainConfig, **data_identity: Any) -> dict[str, Any]:
    """What a checkpoint records so a resume can refuse another run's state: config, hierl version, data."""
    return {"config": resume_identity(cfg), "hierl_version": hierl.__version__, **data_identity}


def check_hierl_version(checkpoint: Checkpoint, state: dict[str, Any]) -> None:
    """A checkpoint resumes only under the hierl version that wrote it."""
    written_by = state.get("hierl_version", "unknown")
    if written_by != hierl.__version__:
        raise UserError(
            f"the checkpoint {checkpoint.path} was written by hierl {written_by}, this is hierl {hierl.__version__}; "
            "resume it with the version that wrote it, or start a new run folder"
        )


def check_same_config(checkpoint: Checkpoint, state: dict[str, Any], cfg: TrainConfig) -> None:
    """A checkpoint resumes only the config that wrote it, but for the budget keys of RESUMABLE_CHANGES."""
    saved, now = state["config"], resume_identity(cfg)
    changed = sorted(key for key in saved.keys() | now.keys() if saved.get(key) != now.get(key))
    if changed:
        detail = ", ".join(f"{key}: {saved.get(key)!r} -> {now.get(key)!r}" for key in changed)
        raise UserError(
            f"resume=true with a config that differs from the checkpoint's ({detail}); only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change when resuming"
        )


def check_checkpoint(
    checkpoint: Checkpoint,
    state: dict[str, Any],
    cfg: TrainConfig,
    observation_shape: tuple[int, ...],
    shape_fix: str,
    data: tuple[str, Any],
    data_fix: str,
) -> None:
    """A checkpoint resumes only the run that wrote it: same hierl, observation shape, data and config.

    `shape_fix` and `data_fix` say what the user should keep equal (e.g. "the features and env.window it was
    trained with"); `data` is the state key and this run's value of its data identity.
    """
    check_hierl_version(checkpoint, state)
    saved_shape = tuple(state["observation_shape"])
    if saved_shape != tuple(observation_shape):
        raise UserError(
            f"the checkpoint {checkpoint.path} expects observations of shape {saved_shape} but this data and "
            f"env config give {tuple(observation_shape)}; resume with {shape_fix}, or start a new run folder"
        )
    key, now = data
    if state[key] != now:
        raise UserError(
            f"the checkpoint {checkpoint.path} was trained on other data ({state[key]} -> {now}); resume with "
            f"{data_fix}"
        )
    check_same_config(checkpoint, state, cfg)
