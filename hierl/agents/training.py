"""What PPO and SAC training share around `model.learn`: SB3's logger for the run folder, a budget that counts the
steps a resumed model already has, and what a finished training hands to selection."""

from __future__ import annotations

import time
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger, make_output_format

from hierl.agents.progress import TrainingProgress
from hierl.agents.stop_signal import StopOnSignalCallback
from hierl.agents.validation import ValidationCallback, selection_metrics
from hierl.config.run import TrainConfig
from hierl.run.lifecycle import TrainedPolicy
from hierl.runtime import ThreadChoice
from hierl.tracking.trackers import TENSORBOARD_DIR, sb3_output_formats

VALIDATION_METRIC = "sharpe"


def sb3_logger(cfg: TrainConfig, run_dir: Path, resumed_at: int | None) -> Logger:
    """SB3's logger with the outputs the `logger` option asks for; a resumed run appends a new CSV file."""
    outputs = []
    for kind in sb3_output_formats(cfg.logger):
        folder = run_dir / TENSORBOARD_DIR if kind == "tensorboard" else run_dir
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f"_resumed_{resumed_at}" if resumed_at is not None else ""
        outputs.append(make_output_format(kind, str(folder), log_suffix=suffix))
    return Logger(folder=str(run_dir), output_formats=outputs)


def learn_to_budget(
    model: BaseAlgorithm,
    total_timesteps: int,
    callbacks: list[BaseCallback],
    interrupt: StopOnSignalCallback,
    resumed: bool,
    progress: bool,
) -> None:
    """Train up to `total_timesteps` in all, counting the steps a resumed model already has.

    `interrupt` (one of `callbacks`) installed signal handlers; they are restored however training ends.
    `progress` draws a bar in a terminal; elsewhere training logs a heartbeat line (see `TrainingProgress`).
    """
    remaining = total_timesteps - model.num_timesteps
    if remaining <= 0:
        return
    try:
        model.learn(
            total_timesteps=remaining,
            callback=CallbackList([*callbacks, TrainingProgress(show_bar=progress)]),
            reset_num_timesteps=not resumed,
        )
    finally:
        interrupt.restore_handlers()


def finished_training(
    model: BaseAlgorithm, validation: ValidationCallback, started: float, threads: ThreadChoice
) -> TrainedPolicy:
    """The model, its validation record and the `train/*` metrics, with `selection_metrics` (the last model's
    validation score and the number of validations the selected one was chosen among); `started` is
    `time.perf_counter()` at the start of training."""
    return TrainedPolicy(
        model,
        validation.history,
        {
            "train/timesteps": float(model.num_timesteps),
            "train/seconds": time.perf_counter() - started,
            "train/best_timestep": float(validation.best_timestep),
            "train/torch_threads": float(threads.threads),
            **selection_metrics(validation.history, validation.metric),
        },
    )
