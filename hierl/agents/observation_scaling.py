"""Optional SB3 `VecNormalize` observation scaling (`agent.normalize_observations`), and the statistics saved with
each model so that every evaluation sees observations scaled exactly as the model saw them when it was saved.

The data layer already scales features with training-block statistics; this adds SB3's running mean/variance
over the training episodes' observations (including the context entries). Training updates the statistics;
evaluation never does: it applies a frozen copy (`ObservationScaling`) with the same arithmetic as
`VecNormalize.normalize_obs`, so a backtest at validation time and a replay of the saved model agree bit for bit.

Beside a model `<name>.zip` the statistics live in `<name>.obs_scaling.json` (mean, var, count, clip, epsilon):
plain JSON, not SB3's pickled `VecNormalize`, so loading a run executes no code beyond SB3's own model format.
A model without that file was trained without the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from hierl.errors import UserError
from hierl.tracking.files import read_json, write_atomic, write_json

SCALING_SUFFIX = ".obs_scaling.json"
# SB3's default bound: features are already standardised, so only outliers of the running scaling are clipped.
CLIP_OBS = 10.0
EPSILON = 1e-8


@dataclass(frozen=True)
class ObservationScaling:
    """A frozen copy of `VecNormalize`'s observation statistics: `(obs - mean) / sqrt(var + epsilon)`, clipped."""

    mean: np.ndarray
    var: np.ndarray
    count: float
    clip: float
    epsilon: float

    def apply(self, observations: np.ndarray) -> np.ndarray:
        """Scale a batch of observations exactly as `VecNormalize.normalize_obs` does (float64 maths, float32 out)."""
        scaled = np.clip((observations - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip, self.clip)
        return scaled.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        """Python floats: `json` writes float64 values with the shortest repr that reads back to the same bits."""
        return {
            "mean": self.mean.tolist(),
            "var": self.var.tolist(),
            "count": float(self.count),
            "clip": float(self.clip),
            "epsilon": float(self.epsilon),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any], origin: str) -> ObservationScaling:
        try:
            mean = np.asarray(payload["mean"], dtype=np.float64)
            var = np.asarray(payload["var"], dtype=np.float64)
            scaling = cls(mean, var, float(payload["count"]), float(payload["clip"]), float(payload["epsilon"]))
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{origin} is not an observation-scaling file (mean, var, count, clip, epsilon)") from error
        if mean.ndim != 1 or mean.shape != var.shape:
            raise UserError(f"{origin}: mean and var must be lists of the same length")
        return scaling


def make_vec_normalize(env: VecEnv, gamma: float) -> VecNormalize:
    """Observation scaling only: rewards stay in the reward config's units, so reward terms remain comparable."""
    return VecNormalize(
        env, training=True, norm_obs=True, norm_reward=False, clip_obs=CLIP_OBS, gamma=gamma, epsilon=EPSILON
    )


def frozen_scaling(normalizer: VecNormalize) -> ObservationScaling:
    """The normalizer's statistics now, copied: later training steps do not change them."""
    rms = normalizer.obs_rms
    if not isinstance(rms, RunningMeanStd):
        raise TypeError("observation scaling supports flat Box observations only")
    return ObservationScaling(
        mean=np.array(rms.mean, dtype=np.float64),
        var=np.array(rms.var, dtype=np.float64),
        count=float(rms.count),
        clip=float(normalizer.clip_obs),
        epsilon=float(normalizer.epsilon),
    )


def model_scaling(model: BaseAlgorithm) -> ObservationScaling | None:
    """The frozen statistics of the model's training env, or None when it trains without `VecNormalize`."""
    normalizer = model.get_vec_normalize_env()
    return frozen_scaling(normalizer) if normalizer is not None else None


def scaling_path(model_path: Path) -> Path:
    """`best_model.zip` -> `best_model.obs_scaling.json`, in the same folder."""
    return model_path.with_name(model_path.stem + SCALING_SUFFIX)


def write_model(model: BaseAlgorithm, model_path: Path) -> None:
    """SB3's zip written atomically: a run killed, or a disk filled, while saving never leaves a truncated model."""

    def save(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            model.save(handle)

    write_atomic(model_path, save)


def save_model(model: BaseAlgorithm, model_path: Path) -> None:
    """`model.save`, plus the current observation statistics beside it when the model trains with `VecNormalize`.

    A stale statistics file from an earlier model at the same path is removed, so a model is never paired with
    statistics that are not its own.
    """
    scaling = model_scaling(model)
    write_model(model, model_path)
    if scaling is not None:
        write_json(scaling_path(model_path), scaling.to_json())
    else:
        scaling_path(model_path).unlink(missing_ok=True)


def read_scaling(model_path: Path) -> ObservationScaling | None:
    """The statistics saved beside `model_path`, or None for a model trained without observation scaling."""
    path = scaling_path(model_path)
    if not path.is_file():
        return None
    return ObservationScaling.from_json(read_json(path), str(path))


def normalizer_state(normalizer: VecNormalize) -> dict[str, Any]:
    """Everything `VecNormalize` updates while training (plain arrays), for an exact resume from a checkpoint."""
    obs_rms, ret_rms = normalizer.obs_rms, normalizer.ret_rms
    if not isinstance(obs_rms, RunningMeanStd):
        raise TypeError("observation scaling supports flat Box observations only")
    return {
        "obs_mean": obs_rms.mean.copy(),
        "obs_var": obs_rms.var.copy(),
        "obs_count": float(obs_rms.count),
        "ret_mean": np.array(ret_rms.mean, dtype=np.float64),
        "ret_var": np.array(ret_rms.var, dtype=np.float64),
        "ret_count": float(ret_rms.count),
        "returns": normalizer.returns.copy(),
    }


def load_normalizer_state(normalizer: VecNormalize, state: dict[str, Any]) -> None:
    """Put back what `normalizer_state` captured."""
    obs_rms, ret_rms = normalizer.obs_rms, normalizer.ret_rms
    if not isinstance(obs_rms, RunningMeanStd):
        raise TypeError("observation scaling supports flat Box observations only")
    obs_rms.mean, obs_rms.var, obs_rms.count = state["obs_mean"].copy(), state["obs_var"].copy(), state["obs_count"]
    ret_rms.mean, ret_rms.var, ret_rms.count = state["ret_mean"].copy(), state["ret_var"].copy(), state["ret_count"]
    normalizer.returns = state["returns"].copy()
