"""Validation and selection: score the policy on the validation block every `eval_freq` timesteps and keep the
best model; what happens after each validation (early stopping, a sweep's pruning) is composed onto it.

The composition follows SB3's `EvalCallback(callback_after_eval=...)`: after each validation the
`after_validation` callbacks run with the validation callback as their `parent` (its `last_score`,
`improved`, `best_score`), and any of them returning False stops training at the next step.

The selected model's validation score is the best of several: `selection_metrics` reports how many, and the
last model's score, beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from hierl.agents.observation_scaling import save_model
from hierl.agents.schedule import BoundarySchedule
from hierl.tracking.logging import get_logger

log = get_logger("agents")

# The key of a validation row (validation_history.json) that holds the mean training reward per env step over the
# steps since the previous validation: the learning curve draws it against the validation score.
TRAIN_REWARD_KEY = "train_mean_reward"


class ValidationCallback(BaseCallback):
    """Every `eval_freq` timesteps, score the policy on the validation block and keep the best model.

    The score comes from `score_fn` (the orchestration layer passes a validation backtest), so the model that is
    finally tested was chosen on validation data only. With `evaluate_at_end=False` the final model is scored
    only when the caller asks (`evaluate_final`), so an interrupted run does not score a half-trained one.
    A model trained with `VecNormalize` is saved with its observation statistics of that moment beside it.
    `after_validation` (e.g. `StopOnNoImprovement`, `ReportToTrial`) run after every validation, in order.
    Each row of `history` also holds `TRAIN_REWARD_KEY`, the raw env reward per step trained since the previous
    validation (absent when no step was), so the run's learning curve needs no logger output.
    """

    def __init__(
        self,
        score_fn: Callable[[BaseAlgorithm], dict[str, float]],
        metric: str,
        eval_freq: int,
        best_model_path: Path,
        after_validation: Sequence[BaseCallback] = (),
        evaluate_at_end: bool = True,
    ) -> None:
        super().__init__(verbose=0)
        self.score_fn = score_fn
        self.metric = metric
        self.schedule = BoundarySchedule(eval_freq)
        self.best_model_path = best_model_path
        self.evaluate_at_end = evaluate_at_end
        self.after_validation = list(after_validation)
        # SB3's CallbackList hands its own parent to its callbacks when initialised: they see this one.
        self._after = CallbackList(self.after_validation)
        self._after.parent = self
        self.best_score = -math.inf
        self.best_timestep = 0
        self.last_score = math.nan
        self.improved = False
        self.history: list[dict[str, float]] = []
        self.stopped_early = False
        # The training reward since the previous validation: the sum over every env step, and the count.
        self.reward_sum = 0.0
        self.reward_steps = 0

    def init_callback(self, model: BaseAlgorithm) -> None:
        super().init_callback(model)
        self._after.init_callback(model)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to choose the same best model and stop at the same validation."""
        return {
            "best_score": self.best_score,
            "best_timestep": self.best_timestep,
            "history": [dict(row) for row in self.history],
            "stopped_early": self.stopped_early,
            "next_eval": self.schedule.next_due,
            "after_validation": [_state_of(callback) for callback in self.after_validation],
            "reward_sum": self.reward_sum,
            "reward_steps": self.reward_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]
        self.best_timestep = state["best_timestep"]
        self.history = [dict(row) for row in state["history"]]
        self.stopped_early = state["stopped_early"]
        self.schedule.next_due = state["next_eval"]
        # A checkpoint written before the training reward was recorded resumes with an empty sum.
        self.reward_sum = float(state.get("reward_sum", 0.0))
        self.reward_steps = int(state.get("reward_steps", 0))
        for callback, saved in zip(self.after_validation, state["after_validation"], strict=True):
            if saved is not None:
                callback.load_state_dict(saved)  # type: ignore[attr-defined]

    def evaluate_now(self) -> None:
        """Score the current policy, save it when it is the best so far, then run the after-validation callbacks."""
        scores = self.score_fn(self.model)
        score = scores[self.metric]
        row = {"timestep": float(self.num_timesteps), **scores}
        if self.reward_steps > 0:
            row[TRAIN_REWARD_KEY] = self.reward_sum / self.reward_steps
        self.reward_sum, self.reward_steps = 0.0, 0
        self.history.append(row)
        for key, value in scores.items():
            self.logger.record(f"val/{key}", value)
        self.last_score = score
        self.improved = score > self.best_score
        if self.improved:
            self.best_score = score
            self.best_timestep = self.num_timesteps
            save_model(self.model, self.best_model_path)
        log.info(
            "validation at %d steps: %s=%.3f (best %.3f at %d)",
            self.num_timesteps,
            self.metric,
            score,
            self.best_score,
            self.best_timestep,
        )
        if self.after_validation and not self._after.on_step():
            self.stopped_early = True

    def evaluate_final(self) -> None:
        """Score the final model unless it was scored already (training ended on a validation)."""
        if self.stopped_early or (self.history and self.history[-1]["timestep"] == self.num_timesteps):
            return
        self.evaluate_now()

    def _on_rollout_start(self) -> None:
        if self.schedule.due(self.num_timesteps):
            self.evaluate_now()

    def _on_step(self) -> bool:
        # SB3 hands every env's raw reward of this step (before any bootstrapping of truncated episodes).
        rewards = np.asarray(self.locals["rewards"])
        self.reward_sum += float(np.sum(rewards, dtype=np.float64))
        self.reward_steps += rewards.size
        return not self.stopped_early

    def _on_training_end(self) -> None:
        if self.evaluate_at_end:
            self.evaluate_final()


def selection_metrics(history: Sequence[Mapping[str, float]], metric: str) -> dict[str, float]:
    """`val/<metric>_final` and `val/n_evaluations` of a validation history (empty for an empty history).

    The selected model's `val/<metric>` is the best of `n_evaluations` scores, so it is biased upwards; the last
    model's score (the model training ended with, validated last) and the count let a reader see by how much.
    """
    if not history:
        return {}
    return {f"val/{metric}_final": float(history[-1][metric]), "val/n_evaluations": float(len(history))}


def _state_of(callback: BaseCallback) -> dict[str, Any] | None:
    state_dict = getattr(callback, "state_dict", None)
    return state_dict() if callable(state_dict) else None


class StopOnNoImprovement(BaseCallback):
    """Early stopping: after `patience` validations in a row without a new best, training stops.

    Runs after each validation (`ValidationCallback(after_validation=[...])`), like SB3's
    `StopTrainingOnNoModelImprovement` after `EvalCallback`.
    """

    def __init__(self, patience: int) -> None:
        super().__init__(verbose=0)
        self.patience = patience
        self.without_improvement = 0

    def state_dict(self) -> dict[str, Any]:
        return {"without_improvement": self.without_improvement}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.without_improvement = state["without_improvement"]

    def _on_step(self) -> bool:
        validation = self.parent
        assert isinstance(validation, ValidationCallback)
        self.without_improvement = 0 if validation.improved else self.without_improvement + 1
        if self.without_improvement >= self.patience:
            log.info("early stop: %d validations without a better %s", self.without_improvement, validation.metric)
            return False
        return True
