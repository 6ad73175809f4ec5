"""The floor of a finished hierl run: the same SB3 algorithm, hyperparameters and budget on a no-op env.

    python benchmarks/floor_run.py --threads 1 <run folder> [<run folder> ...]

For each run folder (a `hierl.train` run, or a unit of a pipeline), in one process and in the order given, this
trains SB3 PPO or SAC with the run's own hyperparameters (`hierl`'s factories map the run's config to SB3's
arguments, so nothing differs) for the steps the run trained, on `DummyVecEnv`s of a no-op env with the run's
observation and action spaces. The no-op env returns a constant observation and zero reward: what remains is
what any SB3 training of that network must spend (network updates, rollout bookkeeping, imports). The spaces are
read from the shapes of the run's saved policy weights (`torch.load(weights_only=True)`), the config from
`.hydra/config.yaml` or `unit_config.json`. Prints one JSON line: per run, the learn seconds and steps.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
import yaml
from bench_common import NoOpEnv
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import DummyVecEnv

from hierl.agents.ppo import PPOAgentFactory
from hierl.agents.sac import build_sac
from hierl.config.agent import PPOConfig
from hierl.config.loading import flatten
from hierl.config.sac import SACConfig


def flat_run_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved config as flat dotted keys."""
    unit = run_dir / "unit_config.json"
    if unit.is_file():
        flat: dict[str, Any] = json.loads(unit.read_text())
        return flat
    return flatten(yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text()))


def agent_config(flat: dict[str, Any]) -> PPOConfig | SACConfig:
    schema = {"ppo": PPOConfig, "sac": SACConfig}[flat["agent.name"]]
    names = {field.name for field in fields(schema)}
    return schema(**{key[6:]: value for key, value in flat.items() if key.startswith("agent.") and key[6:] in names})


def policy_shapes(run_dir: Path) -> tuple[int, int]:
    """(observations, actions) of the run's policy, from the shapes of its first and last actor layers."""
    with zipfile.ZipFile(run_dir / "model.zip") as archive:
        weights = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)
    first = next(key for key in weights if key.endswith("0.weight") and ("policy_net" in key or "latent_pi" in key))
    last = "action_net.weight" if "action_net.weight" in weights else "actor.mu.weight"
    return int(weights[first].shape[1]), int(weights[last].shape[0])


def floor_model(run_dir: Path, seed: int) -> tuple[BaseAlgorithm, int]:
    flat = flat_run_config(run_dir)
    agent = agent_config(flat)
    n_observations, n_actions = policy_shapes(run_dir)
    length = int(flat["env.episode_length"])
    observations = gymnasium.spaces.Box(-np.inf, np.inf, shape=(n_observations,), dtype=np.float32)
    actions = gymnasium.spaces.Box(-1.0, 1.0, shape=(n_actions,), dtype=np.float32)
    env = DummyVecEnv([lambda: NoOpEnv(observations, actions, length) for _ in range(agent.n_envs)])
    if isinstance(agent, PPOConfig):
        model: BaseAlgorithm = PPO(env=env, **PPOAgentFactory(agent).kwargs(seed))
    else:
        model = build_sac(agent, env, seed)
    model.set_logger(Logger(folder=None, output_formats=[]))  # no SB3 log folder in the temp folder
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return model, int(metrics["train/timesteps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for run_dir in args.runs:
        model, steps = floor_model(run_dir, seed=0)
        started = time.perf_counter()
        model.learn(total_timesteps=steps)
        results.append({"run": str(run_dir), "steps": model.num_timesteps, "learn_s": time.perf_counter() - started})
    print(json.dumps({"threads": torch.get_num_threads(), "runs": results}))


if __name__ == "__main__":
    main()
