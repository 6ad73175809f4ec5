"""Builds Stable-Baselines3 SAC (the meta-controller) from `SACConfig`, and checkpoints its whole training state.

The replay buffer is filled from live rollouts in PortfolioEnv, and optionally first from allocation policies
(`replay_prefill`). With `agent.init_from` the networks start from a PortfolioEnv CQL run
(`warm_start.warm_start_meta_controller`, called by the hierarchy stage once the sleeves are known).

Checkpoints are taken at rollout boundaries (after the previous gradient steps, before the next env step):
there the model, its optimisers, the replay buffer, the envs and every generator agree, so a resumed run repeats
the uninterrupted one exactly. The replay buffer is too large to snapshot at every boundary (PPO's
`RolloutCheckpointCallback` does that for its small state), so a signal is answered at the next boundary instead:
one `train_freq` rollout and its gradient steps later.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from hierl.agents.checkpointing import BoundaryCheckpointCallback, Stateful, restore_boundary_state
from hierl.agents.replay_prefill import PREFILL_POLICIES
from hierl.agents.stop_signal import StopOnSignalCallback
from hierl.config.sac import SACConfig
from hierl.envs.portfolio_env import PortfolioEnv
from hierl.errors import ConfigError, UserError
from hierl.tracking.checkpoints import Checkpoint, save_checkpoint
from hierl.tracking.logging import get_logger
from hierl.tracking.state_files import encode_state

log = get_logger("agents")

# The replay buffer's arrays (npz, read with allow_pickle=False) and its position and fill flag in the npz too;
# SB3's own `save_replay_buffer` pickles the whole buffer object, which hierl never loads.
REPLAY_BUFFER_FILE = "replay_buffer.npz"
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def _ent_coef(value: str) -> str | float:
    """SB3's entropy coefficient: "auto", "auto_<init>", or a fixed number given as text."""
    if value == "auto" or value.startswith("auto_"):
        return value
    try:
        return float(value)
    except ValueError as error:
        raise ConfigError(f"agent.ent_coef={value!r} must be 'auto', 'auto_<initial value>' or a number") from error


def validate_sac_config(cfg: SACConfig) -> None:
    """One clear error per unusable value, before the replay buffer is allocated."""
    positive = ("total_timesteps", "buffer_size", "batch_size", "train_freq", "n_envs", "eval_freq")
    for name in positive:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"agent.{name}={getattr(cfg, name)} must be >= 1")
    if cfg.gradient_steps < 1 or cfg.learning_starts < 0:
        raise ConfigError(f"agent.gradient_steps={cfg.gradient_steps} must be >= 1, agent.learning_starts >= 0")
    if not (0.0 < cfg.tau <= 1.0 and 0.0 < cfg.gamma <= 1.0 and cfg.learning_rate > 0.0):
        raise ConfigError(f"agent.tau={cfg.tau} and agent.gamma={cfg.gamma} must lie in (0, 1], learning_rate > 0")
    if cfg.batch_size > cfg.buffer_size:
        raise ConfigError(f"agent.batch_size={cfg.batch_size} exceeds agent.buffer_size={cfg.buffer_size}")
    if cfg.checkpoint_freq < 1 or cfg.keep_checkpoints < 1:
        raise ConfigError(
            f"agent.checkpoint_freq={cfg.checkpoint_freq} and agent.keep_checkpoints={cfg.keep_checkpoints} "
            "must be >= 1"
        )
    _validate_prefill(cfg)
    if cfg.init_from is not None and not cfg.init_from.strip():
        raise ConfigError("agent.init_from is empty; give a CQL run folder (`agent=cql env=portfolio`) or null")
    _ent_coef(cfg.ent_coef)


def _validate_prefill(cfg: SACConfig) -> None:
    unknown = [name for name in cfg.prefill_policies if name not in PREFILL_POLICIES]
    if unknown or (cfg.prefill_steps > 0 and not cfg.prefill_policies):
        raise ConfigError(
            f"agent.prefill_policies={list(cfg.prefill_policies)} must name at least one of {list(PREFILL_POLICIES)}"
        )
    if not 0 <= cfg.prefill_steps <= cfg.buffer_size:
        raise ConfigError(f"agent.prefill_steps={cfg.prefill_steps} must lie in [0, agent.buffer_size]")
    if cfg.prefill_steps % cfg.n_envs:
        raise ConfigError(
            f"agent.prefill_steps={cfg.prefill_steps} must be a multiple of agent.n_envs={cfg.n_envs} (the replay "
            "buffer stores one transition per training env at a time)"
        )


def build_sac(cfg: SACConfig, env: VecEnv, seed: int) -> SAC:
    """A SAC whose every hyperparameter comes from `cfg` (the run's resolved config shows the same values)."""
    validate_sac_config(cfg)
    return SAC(
        "MlpPolicy",
        env,
        learning_rate=cfg.learning_rate,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        batch_size=cfg.batch_size,
        tau=cfg.tau,
        gamma=cfg.gamma,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
        ent_coef=_ent_coef(cfg.ent_coef),
        policy_kwargs={"net_arch": list(cfg.net_arch)},
        seed=seed,
        device="cpu",
        verbose=0,
    )


def portfolio_env_state(env: VecEnv) -> dict[str, Any]:
    """The episode state of `DummyVecEnv(PortfolioEnv, ...)`: each env's `get_state()`, the pending seeds and
    reset options."""
    if not isinstance(env, DummyVecEnv) or not all(isinstance(e, PortfolioEnv) for e in env.envs):
        raise TypeError(f"SAC checkpoints support DummyVecEnv of PortfolioEnv, not {env!r}")
    return {
        "envs": [e.get_state() for e in env.envs if isinstance(e, PortfolioEnv)],
        "seeds": list(env._seeds),
        "options": list(env._options),
    }


def load_portfolio_env_state(env: VecEnv, state: dict[str, Any]) -> None:
    """Put back what `portfolio_env_state` captured (into envs built from the same universe and config)."""
    if not isinstance(env, DummyVecEnv) or len(env.envs) != len(state["envs"]):
        raise TypeError(f"the checkpoint holds {len(state['envs'])} PortfolioEnvs; this run has {env!r}")
    for e, episode in zip(env.envs, state["envs"], strict=True):
        assert isinstance(e, PortfolioEnv)
        e.set_state(episode)
    env._seeds = list(state["seeds"])
    env._options = list(state["options"])


def save_replay_buffer(buffer: ReplayBuffer, path: Path) -> None:
    """The buffer's arrays, position and fill flag as one npz."""
    arrays = {name: getattr(buffer, name) for name in _BUFFER_ARRAYS}
    with path.open("wb") as handle:
        np.savez(handle, pos=np.array(buffer.pos), full=np.array(buffer.full), **arrays)


def load_replay_buffer(buffer: ReplayBuffer, path: Path) -> None:
    """Fill `buffer` (built from the same config) with what `save_replay_buffer` wrote."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            for name in _BUFFER_ARRAYS:
                target = getattr(buffer, name)
                if saved[name].shape != target.shape or saved[name].dtype != target.dtype:
                    raise ValueError(f"{name} has shape {saved[name].shape}, this buffer {target.shape}")
                np.copyto(target, saved[name])
            buffer.pos, buffer.full = int(saved["pos"]), bool(saved["full"])
    except (ValueError, KeyError, OSError) as error:
        raise UserError(
            f"{path} is not the replay buffer of this run ({error}); resume with the config it was trained with, or "
            "start a new run folder"
        ) from None


class StopAtCheckpoint(StopOnSignalCallback):
    """SIGINT/SIGTERM handling of `StopOnSignalCallback`, but the stop is left to `SACCheckpointCallback`, which
    stops at the next rollout boundary after saving there (a stop mid-rollout would leave no complete state)."""

    def _on_step(self) -> bool:
        return True


class SACCheckpointCallback(BoundaryCheckpointCallback):
    """At rollout boundaries: a checkpoint every `save_freq` timesteps, and one before stopping on a signal.

    A checkpoint holds the SB3 zip (policy, target critics, optimisers, entropy coefficient, counters), the
    replay buffer's arrays (`save_replay_buffer`), and the state as JSON and npz: the envs' episodes, the
    observation the next rollout starts from, every generator (global and the action space's, which draws the
    warm-up actions), the `stateful` callbacks' state and `extra_state` (what a resume checks). Put it after the
    validation callback in the list, so a checkpoint holds that boundary's validation.
    """

    def __init__(
        self,
        directory: Path,
        save_freq: int,
        keep: int,
        stateful: Mapping[str, Stateful],
        interrupt: StopOnSignalCallback,
        extra_state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(directory, save_freq, keep, stateful, extra_state)
        self.interrupt = interrupt
        self.last_checkpoint: Checkpoint | None = None
        self.stopping = False

    def save(self) -> Checkpoint:
        """Write the current (boundary) state as one atomic checkpoint folder."""
        model = self.model
        assert isinstance(model, SAC)
        env = model.get_env()
        assert env is not None
        buffer = model.replay_buffer
        assert isinstance(buffer, ReplayBuffer)
        zipped = io.BytesIO()
        model.save(zipped)
        state = {
            **self.boundary_state(env),
            "env": portfolio_env_state(env),
            "action_space_rng": model.action_space.np_random.bit_generator.state,
        }
        self.last_checkpoint = save_checkpoint(
            self.directory,
            int(model.num_timesteps),
            zipped.getvalue(),
            encode_state(state),
            self.keep,
            write_extra=lambda folder: save_replay_buffer(buffer, folder / REPLAY_BUFFER_FILE),
        )
        log.info("checkpoint at %d steps: %s", model.num_timesteps, self.last_checkpoint.path)
        return self.last_checkpoint

    def _on_rollout_start(self) -> None:
        if self.due_now() or self.interrupt.received is not None:
            self.save()
        self.stopping = self.interrupt.received is not None

    def _on_step(self) -> bool:
        return not self.stopping

    def _on_training_end(self) -> None:
        # A signal during the last gradient steps: training is complete, and so is the state to save.
        if self.interrupt.received is not None and not self.stopping:
            self.save()


def restore_sac_training(
    model: SAC,
    checkpoint: Checkpoint,
    state: dict[str, Any],
    callbacks: Mapping[str, Stateful],
    checkpoints: SACCheckpointCallback,
) -> None:
    """After `SAC.load`: the replay buffer, the envs, the callbacks and the generators as at the checkpoint.

    The generators go last: `SAC.load` re-seeds them.
    """
    assert isinstance(model.replay_buffer, ReplayBuffer)
    load_replay_buffer(model.replay_buffer, checkpoint.path / REPLAY_BUFFER_FILE)
    env = model.get_env()
    assert env is not None
    load_portfolio_env_state(env, state["env"])
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    restore_boundary_state(model, state, callbacks, checkpoints)
