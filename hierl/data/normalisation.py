"""Feature scaling fitted on the training block only and applied to every row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NormalisationStats:
    """Per-feature mean and std over assets and training rows (where the asset has a real price).

    `fitted[f]` is False when the training block has no finite value of feature f; such a feature is set to 0
    everywhere, because a policy never saw it vary and would meet it first out of sample.
    """

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    fitted: np.ndarray

    def to_dict(self) -> dict[str, dict[str, float | bool]]:
        return {
            name: {"mean": float(m), "std": float(s), "fitted": bool(f)}
            for name, m, s, f in zip(self.names, self.mean, self.std, self.fitted, strict=True)
        }

    @classmethod
    def from_dict(cls, names: list[str], stats: dict[str, dict[str, float | bool]]) -> NormalisationStats:
        return cls(
            names=tuple(names),
            mean=np.array([float(stats[name]["mean"]) for name in names]),
            std=np.array([float(stats[name]["std"]) for name in names]),
            fitted=np.array([bool(stats[name]["fitted"]) for name in names]),
        )


def apply_normalisation(features: np.ndarray, stats: NormalisationStats, clip: float | None) -> np.ndarray:
    """Scaled float32 features, 0 where undefined or unfitted, clipped to +-`clip` standard deviations."""
    scaled = (features.astype(np.float64) - stats.mean) / stats.std
    scaled = np.where(np.isfinite(scaled) & stats.fitted, scaled, 0.0)
    if clip is not None:
        scaled = np.clip(scaled, -clip, clip)
    return scaled.astype(np.float32)
