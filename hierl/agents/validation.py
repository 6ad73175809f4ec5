"""Validation and selection: score the policy on the validation block every `eval_freq` timesteps and keep the
best model; what happens after each validation (early stopping, a sweep's pruning) is composed onto it.

The composition follows SB3's `EvalCallback(callback_after_eval=...)`: after each validation the
`after_validation` callbacks run with the validation callback as their `parent` (its `last_score`,
`improved`, `best_score`), and any of them returning False stops training at the next step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from hierl.agents.observation_scaling import save_model
from hierl.agents.schedule import BoundarySchedule
from hierl.tracking.logging import get_logger

log = get_logger("agents")


class ValidationCallback(BaseCallback):
    """Every `eval_freq` timesteps, score the policy on the validation block and keep the best model.

    The score comes from `score_fn` (the orchestration layer passes a validation backtest), so the model that is
    finally tested was chosen on validation data only. With `evaluate_at_end=False` the final model is scored
    only when the caller asks (`evaluate_final`), so an interrupted run does not score a half-trained one.
    A model trained with `VecNormalize` is saved with its observation statistics of that moment beside it.
    `after_validation` (e.g. `StopOnNoImprovement`, `ReportToTrial`) run after every validation, in order.
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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]
        self.best_timestep = state["best_timestep"]
        self.history = [dict(row) for row in state["history"]]
        self.stopped_early = state["stopped_early"]
        self.schedule.next_due = state["next_eval"]
        for callback, saved in zip(self.after_validation, state["after_validation"], strict=True):
            if saved is not None:
                callback.load_state_dict(saved)  # type: ignore[attr-defined]

    def evaluate_now(self) -> None:
        """Score the current policy, save it when it is the best so far, then run the after-validation callbacks."""
        scores = self.score_fn(self.model)
        score = scores[self.metric]
        self.history.append({"timestep": float(self.num_timesteps), **scores})
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
        return not self.stopped_early

    def _on_training_end(self) -> None:
        if self.evaluate_at_end:
            self.evaluate_final()


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
