"""What a test that says "learns" or "trains" checks: the weights moved from their initial values, the losses were
finite. Counters (timesteps, buffer sizes) would pass with the gradient step skipped."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every trainable parameter of `module`, by name."""
    return {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}


def assert_every_parameter_moved(before: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    """Each parameter of `before` differs from its value in `module` now: every layer received updates."""
    after = snapshot(module)
    assert set(after) == set(before)
    unchanged = [name for name, value in before.items() if torch.equal(value, after[name])]
    assert unchanged == [], f"parameters never updated: {unchanged}"


class LossRecorder(KVWriter):
    """An SB3 logger output that keeps every value written, so a test reads the losses of each update."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        for key, value in key_values.items():
            if isinstance(value, numbers.Real):
                self.values.setdefault(key, []).append(float(value))

    def close(self) -> None:
        pass


def record_logs(model: BaseAlgorithm) -> LossRecorder:
    """Route `model`'s SB3 logger to a `LossRecorder` only (call before `learn`)."""
    recorder = LossRecorder()
    model.set_logger(Logger(folder=None, output_formats=[recorder]))
    return recorder


def assert_finite_losses(model: BaseAlgorithm, recorder: LossRecorder, keys: tuple[str, ...]) -> None:
    """Flush what the last update logged, then: each of `keys` was logged at least once and always finite."""
    model.logger.dump(step=model.num_timesteps)
    for key in keys:
        values = recorder.values.get(key, [])
        assert values, f"{key} was never logged"
        assert all(math.isfinite(v) for v in values), f"{key}: {values}"


class RolloutRewards(BaseCallback):
    """Each rollout's mean raw reward, read from a PPO's rollout buffer after the rollout (with no episode ending
    inside it, the buffer holds the raw rewards: no bootstrapped value is added at a truncation)."""

    def __init__(self) -> None:
        super().__init__()
        self.means: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        assert isinstance(self.model, PPO)
        self.means.append(float(np.asarray(self.model.rollout_buffer.rewards, dtype=np.float64).mean()))
