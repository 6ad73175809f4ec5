"""Small SB3 callbacks, one job each: validate and keep the best, checkpoint, log metrics, stop on a signal.

Validation and checkpoints happen at rollout boundaries (`_on_rollout_start`, after the previous update), where
the whole training state is consistent: a run resumed from a checkpoint then repeats the uninterrupted run
exactly, and every validated model is a fully updated one.
"""

from __future__ import annotations

import io
import math
import pickle
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from hierl.agents.observation_scaling import load_normalizer_state, normalizer_state, save_model
from hierl.envs.vector_env import TradingVecEnv
from hierl.rewards.composite import INFO_PREFIX as REWARD_PREFIX
from hierl.tracking.checkpoints import Checkpoint, rng_state, save_checkpoint, set_rng_state
from hierl.tracking.logging import get_logger

log = get_logger("agents")


class ScoreReporter(Protocol):
    """An Optuna trial's reporter: `report` raises `optuna.TrialPruned` when the sweep's pruner says stop."""

    def report(self, value: float, step: int) -> None: ...


class MetricsSink(Protocol):
    """Where the metrics callback sends values (a `hierl.tracking.trackers.Tracker`)."""

    def log(self, metrics: dict[str, float], step: int | None = None) -> None: ...


def current_trial_reporter() -> ScoreReporter | None:
    """The running Optuna trial's reporter, or None outside a hierl Optuna sweep (or without the plugin)."""
    try:
        from hydra_plugins.hierl_optuna_sweeper.reporting import current_trial_reporter as find_reporter
    except ImportError:
        return None
    return find_reporter()


class BoundarySchedule:
    """Every `every` timesteps, checked at rollout boundaries (validation, checkpoints).

    Boundaries fall every `n_steps x n_envs` timesteps, rarely on a multiple of `every`: the schedule is due at the
    first boundary at or past each due point, and once only when one rollout spans several of them.
    """

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.next_due = self.every

    def due(self, timesteps: int) -> bool:
        """Whether `timesteps` reached the next due point; moves that point past `timesteps`."""
        if timesteps < self.next_due:
            return False
        while self.next_due <= timesteps:
            self.next_due += self.every
        return True


class ValidationCallback(BaseCallback):
    """Every `eval_freq` timesteps, score the policy on the validation block and keep the best model.

    The score comes from `score_fn` (the orchestration layer passes a validation backtest), so the model that is
    finally tested was chosen on validation data only. With `patience`, training stops after that many
    validations without a new best. Inside an Optuna sweep each score goes to the trial's pruner, whose
    `optuna.TrialPruned` is left to propagate out of training. With `evaluate_at_end=False` the final model is
    scored only when the caller asks (`evaluate_final`), so an interrupted run does not score a half-trained one.
    A model trained with `VecNormalize` is saved with its observation statistics of that moment beside it.
    """

    def __init__(
        self,
        score_fn: Callable[[BaseAlgorithm], dict[str, float]],
        metric: str,
        eval_freq: int,
        best_model_path: Path,
        patience: int | None = None,
        reporter: ScoreReporter | None = None,
        evaluate_at_end: bool = True,
    ) -> None:
        super().__init__(verbose=0)
        self.score_fn = score_fn
        self.metric = metric
        self.schedule = BoundarySchedule(eval_freq)
        self.best_model_path = best_model_path
        self.patience = patience
        self.reporter = reporter
        self.evaluate_at_end = evaluate_at_end
        self.best_score = -math.inf
        self.best_timestep = 0
        self.history: list[dict[str, float]] = []
        self.stopped_early = False
        self._without_improvement = 0

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to choose the same best model and stop at the same validation."""
        return {
            "best_score": self.best_score,
            "best_timestep": self.best_timestep,
            "history": [dict(row) for row in self.history],
            "stopped_early": self.stopped_early,
            "next_eval": self.schedule.next_due,
            "without_improvement": self._without_improvement,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]
        self.best_timestep = state["best_timestep"]
        self.history = [dict(row) for row in state["history"]]
        self.stopped_early = state["stopped_early"]
        self.schedule.next_due = state["next_eval"]
        self._without_improvement = state["without_improvement"]

    def evaluate_now(self) -> None:
        """Score the current policy, save it when it is the best so far, and report it to a sweep."""
        scores = self.score_fn(self.model)
        score = scores[self.metric]
        self.history.append({"timestep": float(self.num_timesteps), **scores})
        for key, value in scores.items():
            self.logger.record(f"val/{key}", value)
        if score > self.best_score:
            self.best_score = score
            self.best_timestep = self.num_timesteps
            self._without_improvement = 0
            save_model(self.model, self.best_model_path)
        else:
            self._without_improvement += 1
        log.info(
            "validation at %d steps: %s=%.3f (best %.3f at %d)",
            self.num_timesteps,
            self.metric,
            score,
            self.best_score,
            self.best_timestep,
        )
        if self.patience is not None and self._without_improvement >= self.patience:
            self.stopped_early = True
            log.info("early stop: %d validations without a better %s", self._without_improvement, self.metric)
        if self.reporter is not None and math.isfinite(score):
            self.reporter.report(float(score), int(self.num_timesteps))

    def evaluate_final(self) -> None:
        """Score the final model unless it was scored already (training ended on a validation)."""
        if self.stopped_early or (self.history and self.history[-1]["timestep"] == self.num_timesteps):
            return
        self.evaluate_now()

    def _on_rollout_start(self) -> None:
        if self.schedule.due(self.num_timesteps):
            self.evaluate_now()

    def _on_step(self) -> bool:
        return not self.stopped_early

    def _on_training_end(self) -> None:
        if self.evaluate_at_end:
            self.evaluate_final()


class MetricsCallback(BaseCallback):
    """Sends PPO's update statistics (losses, KL, clip fraction) and the rollout's mean reward terms to a tracker.

    Reward terms are the `reward/<term>` contributions of the envs' `info`, averaged over each rollout; they are
    also recorded in SB3's logger, so CSV and TensorBoard outputs show them too.
    """

    def __init__(self, sink: MetricsSink) -> None:
        super().__init__(verbose=0)
        self.sink = sink
        # The rollout's sum of each reward term; None until the rollout's first step names the terms.
        self._sums: dict[str, float] | None = None
        self._count = 0
        self._logged_updates = 0

    def _log_update_statistics(self) -> None:
        n_updates = getattr(self.model, "_n_updates", 0)
        if n_updates == self._logged_updates:
            return
        self._logged_updates = n_updates
        values = {k: float(v) for k, v in self.logger.name_to_value.items() if k.startswith("train/")}
        if values:
            self.sink.log(values, step=self.num_timesteps)

    def _on_rollout_start(self) -> None:
        self._log_update_statistics()
        self._sums = None
        self._count = 0

    def _on_step(self) -> bool:
        # Runs at every env step: the term keys are found once per rollout (every step's infos have the same
        # active terms), not by scanning every key of every info.
        infos = self.locals["infos"]
        if self._sums is None:
            self._sums = {key: 0.0 for key in infos[0] if key.startswith(REWARD_PREFIX)}
        sums = self._sums
        for info in infos:
            for key in sums:
                sums[key] += info[key]
        self._count += len(infos)
        return True

    def _on_rollout_end(self) -> None:
        if self._sums is None:  # no step in this rollout
            return
        means = {key: total / self._count for key, total in self._sums.items()}
        for key, value in means.items():
            self.logger.record(key, value)
        self.sink.log(means, step=self.num_timesteps)

    def _on_training_end(self) -> None:
        self._log_update_statistics()


class TrainingInterrupted(SystemExit):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint; exits with 128 + the signal number."""

    run_status = "interrupted"

    def __init__(self, signum: int, checkpoint: Checkpoint | None) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        where = f"checkpoint {self.checkpoint.path}" if self.checkpoint else "no checkpoint (nothing trained yet)"
        return f"interrupted by {signal.Signals(self.signum).name}; saved {where}; resume with resume=true"


class StopOnSignalCallback(BaseCallback):
    """Turns the first SIGINT or SIGTERM during training into a clean stop at the next env step.

    The handlers are installed only while training runs (and only in the main thread, where Python allows it);
    a second signal gets the previous handler, so an impatient user can still kill the run.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        super().__init__(verbose=0)
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        log.warning("%s received: stopping at the next step and saving a checkpoint", signal.Signals(signum).name)
        self.restore_handlers()

    def restore_handlers(self) -> None:
        """Put back the handlers found at training start (idempotent; call it also when training raised)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _on_training_start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}

    def _on_step(self) -> bool:
        return self.received is None

    def _on_training_end(self) -> None:
        self.restore_handlers()


class Stateful(Protocol):
    """A callback whose state a checkpoint carries."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


_MONITOR_STATE = ("episode_count", "episode_returns", "episode_lengths")


def _split_training_env(env: VecEnv) -> tuple[VecNormalize | None, VecMonitor, TradingVecEnv]:
    """`[VecNormalize](VecMonitor(TradingVecEnv))` -> (the optional normalizer, the monitor, the trading env)."""
    normalizer = env if isinstance(env, VecNormalize) else None
    monitor = env.venv if isinstance(env, VecNormalize) else env
    if not isinstance(monitor, VecMonitor) or not isinstance(monitor.venv, TradingVecEnv):
        raise TypeError(f"checkpoints support [VecNormalize](VecMonitor(TradingVecEnv)), not {env!r}")
    return normalizer, monitor, monitor.venv


def vec_env_state(env: VecEnv) -> dict[str, Any]:
    """The episode state of `[VecNormalize](VecMonitor(TradingVecEnv))`: plain numpy arrays and generators, no
    market data; with `VecNormalize`, also its running statistics (the next rollout's scaling depends on them)."""
    normalizer, monitor, trading = _split_training_env(env)
    state = {"monitor": {name: getattr(monitor, name) for name in _MONITOR_STATE}, "env": trading.get_state()}
    if normalizer is not None:
        state["normalizer"] = normalizer_state(normalizer)
    return state


def load_vec_env_state(env: VecEnv, state: dict[str, Any]) -> None:
    """Put back what `vec_env_state` captured."""
    normalizer, monitor, trading = _split_training_env(env)
    if (normalizer is not None) != ("normalizer" in state):
        raise ValueError("the checkpoint and the env disagree on observation scaling (agent.normalize_observations)")
    for name, value in state["monitor"].items():
        setattr(monitor, name, value)
    trading.set_state(state["env"])
    if normalizer is not None:
        load_normalizer_state(normalizer, state["normalizer"])


class BoundaryCheckpointCallback(BaseCallback):
    """What PPO's and SAC's checkpoint callbacks share: the save schedule and the state every resume needs.

    Subclasses decide when a rollout boundary writes (`due_now` tells whether the schedule says so) and add
    their algorithm's own state to `boundary_state`. `restore_boundary_state` puts the shared part back.
    """

    def __init__(
        self,
        directory: Path,
        save_freq: int,
        keep: int,
        stateful: Mapping[str, Stateful],
        extra_state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.directory = directory
        self.schedule = BoundarySchedule(save_freq)
        self.keep = keep
        self.stateful = stateful
        self.extra_state = extra_state or {}

    def state_dict(self) -> dict[str, Any]:
        return {"next_save": self.schedule.next_due}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.next_due = state["next_save"]

    def due_now(self) -> bool:
        """Whether the schedule asks for a checkpoint at this boundary; moves it past the current timestep, so call
        it before `boundary_state`, whose copy of this callback's state must hold the moved schedule."""
        return self.schedule.due(self.num_timesteps)

    def boundary_state(self, env: VecEnv) -> dict[str, Any]:
        """The checks a resume runs (`extra_state`, shapes), the observation the next rollout starts from (SB3's
        zip leaves it out; without it a load resets the env), the generators and the callbacks' state."""
        return {
            **self.extra_state,
            "timesteps": int(self.num_timesteps),
            "observation_shape": tuple(env.observation_space.shape or ()),
            "n_envs": env.num_envs,
            "last_obs": self.model._last_obs,
            "rng": rng_state(),
            "callbacks": {name: cb.state_dict() for name, cb in {**self.stateful, "checkpoint": self}.items()},
        }


def restore_boundary_state(
    model: BaseAlgorithm, state: dict[str, Any], callbacks: Mapping[str, Stateful], checkpoint: Stateful
) -> None:
    """Put back the shared part of `BoundaryCheckpointCallback.boundary_state`; the generators go last, as the
    algorithm's `load` re-seeds them. Call it after restoring the env and anything that draws random numbers."""
    model._last_obs = state["last_obs"]
    for name, callback in {**callbacks, "checkpoint": checkpoint}.items():
        callback.load_state_dict(state["callbacks"][name])
    set_rng_state(state["rng"])


class RolloutCheckpointCallback(BoundaryCheckpointCallback):
    """At every rollout boundary, snapshots everything a resume needs; writes it every `save_freq` timesteps.

    The snapshot (model and optimiser as an SB3 zip in memory, env episode state, RNG states, the `stateful`
    callbacks' state) is cheap next to a rollout, and it lets an interrupted run save the last boundary's state
    instead of a half-collected rollout. SB3's `CheckpointCallback` saves mid-rollout, from which a resumed run
    could not repeat the uninterrupted one.
    """

    # (timesteps, model zip, pickled state) of the newest boundary; None before the first rollout began.
    snapshot: tuple[int, bytes, bytes] | None = None

    def _capture(self) -> None:
        buffer = io.BytesIO()
        self.model.save(buffer)
        env = self.model.get_env()
        assert env is not None
        due = self.due_now()
        state = {
            **self.boundary_state(env),
            "last_episode_starts": self.model._last_episode_starts,
            "env": vec_env_state(env),
        }
        # Pickled now: the env mutates its arrays in place, and an interrupt writes this snapshot later.
        self.snapshot = (int(self.num_timesteps), buffer.getvalue(), pickle.dumps(state, pickle.HIGHEST_PROTOCOL))
        if due:
            self.write_snapshot()

    def write_snapshot(self) -> Checkpoint | None:
        """Write the newest snapshot (None before the first rollout began)."""
        if self.snapshot is None:
            return None
        timesteps, model_zip, state = self.snapshot
        checkpoint = save_checkpoint(self.directory, timesteps, model_zip, state, self.keep)
        log.info("checkpoint at %d steps: %s", timesteps, checkpoint.path)
        return checkpoint

    def _on_rollout_start(self) -> None:
        self._capture()

    def _on_step(self) -> bool:
        return True


def restore_training_state(
    model: BaseAlgorithm, state: dict[str, Any], callbacks: Mapping[str, Stateful], checkpoint: Stateful
) -> None:
    """After `PPO.load`: the env's episodes, the callbacks' state and the RNGs as they were at the checkpoint.

    The RNGs go last: `PPO.load` re-seeds them.
    """
    env = model.get_env()
    assert env is not None
    load_vec_env_state(env, state["env"])
    model._last_episode_starts = state["last_episode_starts"]
    restore_boundary_state(model, state, callbacks, checkpoint)
