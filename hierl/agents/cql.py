"""d3rlpy CQL: build from `CQLConfig`, train on an offline dataset, save and load a run's policy.

The same code serves both offline datasets: TradingEnv's (one asset class, actions [1]) and PortfolioEnv's (the
sleeves, actions [C + 1]); the networks are sized from the dataset.

A CQL run folder holds the policy three ways:
    cql_model.d3     d3rlpy's `save` (config + weights; `d3rlpy.load_learnable` reads it, by unpickling)
    cql_weights.pt   d3rlpy's `save_model` (torch state dicts only)
    cql_policy.json  observation shape, action bounds, the hierl and d3rlpy configs, and how it was selected
hierl itself loads only the JSON and the state dicts (`torch.load(weights_only=True)`), so opening a run folder
executes no code from it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import d3rlpy
import numpy as np
import torch
from d3rlpy.algos import CQL
from d3rlpy.base import LearnableConfigWithShape
from d3rlpy.dataset import ReplayBuffer
from d3rlpy.models import VectorEncoderFactory

from hierl.config.cql import CQLConfig
from hierl.errors import UserError
from hierl.tracking.checkpoints import CHECKPOINT_DIR as CHECKPOINT_DIR  # re-exported: every run's checkpoint folder
from hierl.tracking.files import read_json, write_atomic, write_json

CQL_MODEL_FILE = "cql_model.d3"
CQL_WEIGHTS_FILE = "cql_weights.pt"
CQL_POLICY_FILE = "cql_policy.json"
POLICY_FORMAT = 1
ACTION_LOW = -1.0
ACTION_HIGH = 1.0


def check_cql_config(cfg: CQLConfig) -> None:
    """One UserError naming the key and the fix, before any data is collected."""
    positive = ("n_steps", "batch_size", "eval_freq", "checkpoint_freq", "n_action_samples", "n_critics")
    for key in positive:
        if getattr(cfg, key) < 1:
            raise UserError(f"agent.{key}={getattr(cfg, key)} must be at least 1")
    if not cfg.net_arch or any(units < 1 for units in cfg.net_arch):
        raise UserError(f"agent.net_arch={list(cfg.net_arch)} must list at least one layer of >= 1 units")
    rates = ("actor_learning_rate", "critic_learning_rate", "temp_learning_rate", "alpha_learning_rate")
    for key in rates:
        if not getattr(cfg, key) >= 0.0:
            raise UserError(f"agent.{key}={getattr(cfg, key)} must be >= 0")
    if not 0.0 <= cfg.gamma < 1.0 or not 0.0 < cfg.tau <= 1.0:
        raise UserError(f"agent.gamma={cfg.gamma} must lie in [0, 1) and agent.tau={cfg.tau} in (0, 1]")


def d3rlpy_config(cfg: CQLConfig) -> d3rlpy.algos.CQLConfig:
    """The d3rlpy config of `cfg`. No observation or reward scaler: features are already normalised on the
    training block, and an identity input keeps the actor's layers copyable into SB3 SAC."""
    return d3rlpy.algos.CQLConfig(
        batch_size=cfg.batch_size,
        gamma=cfg.gamma,
        tau=cfg.tau,
        n_critics=cfg.n_critics,
        actor_learning_rate=cfg.actor_learning_rate,
        critic_learning_rate=cfg.critic_learning_rate,
        temp_learning_rate=cfg.temp_learning_rate,
        alpha_learning_rate=cfg.alpha_learning_rate,
        conservative_weight=cfg.conservative_weight,
        alpha_threshold=cfg.alpha_threshold,
        n_action_samples=cfg.n_action_samples,
        initial_temperature=cfg.initial_temperature,
        actor_encoder_factory=VectorEncoderFactory(hidden_units=list(cfg.net_arch)),
        critic_encoder_factory=VectorEncoderFactory(hidden_units=list(cfg.net_arch)),
    )


def build_cql(cfg: CQLConfig, dataset: ReplayBuffer) -> CQL:
    """A CQL whose networks are sized from the dataset's observations and actions (CPU)."""
    algo = d3rlpy_config(cfg).create(device=False)
    algo.build_with_dataset(dataset)
    return algo


def train_cql(
    algo: CQL,
    dataset: ReplayBuffer,
    cfg: CQLConfig,
    on_epoch: Callable[[int, dict[str, float]], None],
    on_checkpoint: Callable[[int], None] | None = None,
) -> None:
    """`cfg.n_steps` gradient steps; `on_epoch(step, mean losses)` after every `eval_freq` steps and at the end.

    The loop is written here rather than with d3rlpy's `fit`, so the step budget is exact, nothing is written
    outside the run folder, and progress goes through hierl's logger.
    """
    losses: dict[str, list[float]] = defaultdict(list)
    for step in range(1, cfg.n_steps + 1):
        for key, value in algo.update(dataset.sample_transition_batch(cfg.batch_size)).items():
            losses[key].append(float(value))
        if on_checkpoint is not None and step % cfg.checkpoint_freq == 0:
            on_checkpoint(step)
        if step % cfg.eval_freq == 0 or step == cfg.n_steps:
            on_epoch(step, {key: float(np.mean(values)) for key, values in losses.items()})
            losses.clear()


@dataclass(frozen=True)
class CQLPolicy:
    """A trained CQL actor: a batch of observations [B, D] -> deterministic actions [B, A] in [-1, 1]."""

    algo: CQL
    observation_shape: tuple[int, ...]

    def predict(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(self.algo.predict(np.asarray(observations, dtype=np.float32)), dtype=np.float32)

    @property
    def modules(self) -> Any:
        """d3rlpy's `CQLModules`: `policy` (NormalPolicy), `q_funcs`, `targ_q_funcs`, `log_temp`, ..."""
        if self.algo.impl is None:
            raise RuntimeError("the CQL algorithm has no networks yet")
        return self.algo.impl.modules


def save_weights(algo: CQL, path: Path) -> None:
    """d3rlpy's `save_model` (state dicts of every network and optimiser), written atomically."""
    write_atomic(path, lambda tmp: algo.save_model(str(tmp)))


def load_weights(algo: CQL, path: Path) -> None:
    """Load a `save_model` file into `algo`, reading tensors only."""
    states = torch.load(path, map_location="cpu", weights_only=True)
    if algo.impl is None:
        raise RuntimeError("build the CQL algorithm before loading weights into it")
    modules = algo.impl.modules
    for name, state in states.items():
        getattr(modules, name).load_state_dict(state)


def save_cql_run(algo: CQL, cfg: CQLConfig, run_dir: Path, details: dict[str, Any]) -> None:
    """The three policy files of a CQL run folder; `details` (selection step, asset class or sleeves, window, ...)
    go in the JSON."""
    if algo.impl is None:
        raise RuntimeError("the CQL algorithm has no networks to save")
    save_weights(algo, run_dir / CQL_WEIGHTS_FILE)
    write_atomic(run_dir / CQL_MODEL_FILE, lambda tmp: algo.save(str(tmp)))
    shaped = LearnableConfigWithShape(
        observation_shape=algo.impl.observation_shape, action_size=algo.impl.action_size, config=algo.config
    )
    write_json(
        run_dir / CQL_POLICY_FILE,
        {
            "format": POLICY_FORMAT,
            "algorithm": "d3rlpy.CQL",
            "d3rlpy_version": d3rlpy.__version__,
            "observation_shape": list(algo.impl.observation_shape),
            "action_size": int(algo.impl.action_size),
            "action_low": [ACTION_LOW] * int(algo.impl.action_size),
            "action_high": [ACTION_HIGH] * int(algo.impl.action_size),
            "config": asdict(cfg),
            "d3rlpy_config": json.loads(shaped.serialize()),
            **details,
        },
    )


def read_policy_file(run_dir: Path) -> dict[str, Any]:
    """cql_policy.json of a CQL run folder."""
    payload: dict[str, Any] = read_json(run_dir / CQL_POLICY_FILE)
    return payload


def load_cql_policy(run_dir: Path) -> CQLPolicy:
    """The CQL actor of a run folder, rebuilt from cql_policy.json and the state dicts in cql_weights.pt."""
    meta = read_policy_file(run_dir)
    shaped = LearnableConfigWithShape.deserialize(json.dumps(meta["d3rlpy_config"]))
    algo = shaped.config.create(device=False)
    if not isinstance(algo, CQL):
        raise UserError(f"{run_dir / CQL_POLICY_FILE} describes a {type(algo).__name__}, not a CQL policy")
    algo.create_impl(shaped.observation_shape, shaped.action_size)
    load_weights(algo, run_dir / CQL_WEIGHTS_FILE)
    return CQLPolicy(algo, tuple(int(n) for n in meta["observation_shape"]))
