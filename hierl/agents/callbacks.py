"""Small SB3 callbacks, one job each."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from hierl.tracking.logging import get_logger

log = get_logger("agents")


class ValidationCallback(BaseCallback):
    """Every `eval_freq` timesteps, score the deterministic policy on the validation block and keep the best model.

    The score comes from `score_fn` (the orchestration layer passes a validation backtest's Sharpe ratio), so the
    model that is finally tested was chosen on validation data only.
    """

    def __init__(
        self,
        score_fn: Callable[[BaseAlgorithm], dict[str, float]],
        metric: str,
        eval_freq: int,
        best_model_path: Path,
    ) -> None:
        super().__init__(verbose=0)
        self.score_fn = score_fn
        self.metric = metric
        self.eval_freq = max(1, eval_freq)
        self.best_model_path = best_model_path
        self.best_score = -math.inf
        self.best_timestep = 0
        self.history: list[dict[str, float]] = []
        self._next_eval = self.eval_freq

    def evaluate_now(self) -> None:
        """Score the current policy, log it, and save it when it is the best so far."""
        scores = self.score_fn(self.model)
        score = scores[self.metric]
        self.history.append({"timestep": float(self.num_timesteps), **scores})
        for key, value in scores.items():
            self.logger.record(f"val/{key}", value)
        if score > self.best_score:
            self.best_score = score
            self.best_timestep = self.num_timesteps
            self.model.save(self.best_model_path)
        log.info(
            "validation at %d steps: %s=%.3f (best %.3f at %d)",
            self.num_timesteps,
            self.metric,
            score,
            self.best_score,
            self.best_timestep,
        )

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next_eval:
            self._next_eval += self.eval_freq
            self.evaluate_now()
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1]["timestep"] != self.num_timesteps:
            self.evaluate_now()
