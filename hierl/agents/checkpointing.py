"""Checkpoints at rollout boundaries: the state every resume needs (env episodes, generators, callbacks), and PPO's
snapshot-every-boundary callback. SAC's callback, which adds the replay buffer, is in `agents.sac`.

A checkpoint's state is plain data written as JSON and npz (`hierl.tracking.state_files`), never a pickle.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from hierl.agents.observation_scaling import load_normalizer_state, normalizer_state
from hierl.agents.schedule import BoundarySchedule
from hierl.envs.vector_env import TradingVecEnv
from hierl.tracking.checkpoints import Checkpoint, rng_state, save_checkpoint, set_rng_state
from hierl.tracking.logging import get_logger
from hierl.tracking.state_files import encode_state

log = get_logger("agents")


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
            # SB3's zip pickles these episode records, which hierl never loads; they go here instead.
            "ep_info_buffer": self.model.ep_info_buffer,
            "ep_success_buffer": self.model.ep_success_buffer,
            "rng": rng_state(),
            "callbacks": {name: cb.state_dict() for name, cb in {**self.stateful, "checkpoint": self}.items()},
        }


def restore_boundary_state(
    model: BaseAlgorithm, state: dict[str, Any], callbacks: Mapping[str, Stateful], checkpoint: Stateful
) -> None:
    """Put back the shared part of `BoundaryCheckpointCallback.boundary_state`; the generators go last, as the
    algorithm's `load` re-seeds them. Call it after restoring the env and anything that draws random numbers."""
    model._last_obs = state["last_obs"]
    model.ep_info_buffer = state["ep_info_buffer"]
    model.ep_success_buffer = state["ep_success_buffer"]
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

    # (timesteps, model zip, encoded state) of the newest boundary; None before the first rollout began.
    snapshot: tuple[int, bytes, tuple[bytes, bytes]] | None = None

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
        # Encoded now: the env mutates its arrays in place, and an interrupt writes this snapshot later.
        self.snapshot = (int(self.num_timesteps), buffer.getvalue(), encode_state(state))
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
