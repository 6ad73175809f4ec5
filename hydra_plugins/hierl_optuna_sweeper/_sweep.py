"""The ask-launch-tell loop: ask `n_jobs` trials, launch them as one Hydra batch, tell Optuna how each ended."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.pruners import NopPruner
from optuna.trial import TrialState

from hydra_plugins.hierl_optuna_sweeper._factories import build_pruner, build_sampler
from hydra_plugins.hierl_optuna_sweeper._results import SweepSummary, summarize, write_results
from hydra_plugins.hierl_optuna_sweeper._search_space import SearchSpace, override_text
from hydra_plugins.hierl_optuna_sweeper._study import count_finished, open_study
from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError

log = logging.getLogger(__name__)

Launch = Callable[[Sequence[Sequence[str]], int], Sequence[JobReturn]]
Validate = Callable[[Sequence[Sequence[str]]], None]

_DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class SweepSettings:
    """`hydra.sweeper`, checked: every field is usable, so a bad value stops the sweep before its first trial."""

    study_name: str
    storage: str
    directions: list[str]
    n_trials: int
    n_jobs: int
    sampler_node: Any
    pruner: optuna.pruners.BasePruner

    @classmethod
    def from_config(
        cls, *, direction: Any, study_name: str, storage: str, n_trials: int, n_jobs: int, sampler: Any, pruner: Any
    ) -> SweepSettings:
        directions = _directions(direction)
        if n_trials < 0:
            raise SweeperConfigError(f"hydra.sweeper.n_trials is {n_trials}; it is the total of trials, 0 or more.")
        if n_jobs < 1:
            raise SweeperConfigError(f"hydra.sweeper.n_jobs is {n_jobs}; launch at least 1 trial per batch.")
        built_pruner = build_pruner(pruner)
        if len(directions) > 1 and not isinstance(built_pruner, NopPruner):
            raise SweeperConfigError(
                "Optuna cannot prune multi-objective trials; use `override /hydra/sweeper/pruner: none` "
                "with a list of directions."
            )
        build_sampler(sampler)
        return cls(study_name, storage, directions, n_trials, n_jobs, sampler, built_pruner)

    def job_context(self) -> list[str]:
        """Hydra overrides that give every job the study exactly as the sweeper resolved it.

        A job re-resolves its own `hydra.sweeper`; a study name or storage interpolating a swept key, or a relative
        path in a job that changes directory, would otherwise point it at another study.
        """
        return [
            f"hydra.sweeper.study_name={override_text(self.study_name)}",
            f"hydra.sweeper.storage={override_text(self.storage)}",
        ]

    def sampler(self, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
        return build_sampler(self.sampler_node, seed_offset)


def _directions(direction: Any) -> list[str]:
    values = [direction] if isinstance(direction, str) else list(direction or [])
    if not values or any(not isinstance(d, str) or d.lower() not in _DIRECTIONS for d in values):
        raise SweeperConfigError(
            f"hydra.sweeper.direction is {direction!r}; use minimize, maximize, or a list of them "
            "(one per value the task returns)."
        )
    return [d.lower() for d in values]


def optimize(
    settings: SweepSettings, space: SearchSpace, launch: Launch, validate: Validate, sweep_dir: Path
) -> SweepSummary:
    """Run trials until the study holds `n_trials` finished ones, then write and return the summary."""
    validate([[*space.probe_overrides(), *settings.job_context()]])
    study = open_study(settings.study_name, settings.storage, settings.directions, settings.sampler(), settings.pruner)
    earlier = len(study.get_trials(deepcopy=False))
    if earlier:
        study.sampler = settings.sampler(seed_offset=earlier)
    remaining = settings.n_trials - count_finished(study)
    log.info(
        "study %r in %s: %d trial(s) to run of %d, %d per batch",
        settings.study_name,
        settings.storage,
        max(remaining, 0),
        settings.n_trials,
        settings.n_jobs,
    )
    while remaining > 0:
        trials = [study.ask(space.distributions) for _ in range(min(settings.n_jobs, remaining))]
        _run_batch(study, trials, space, settings.job_context(), launch)
        remaining -= len(trials)
    summary = summarize(study, settings.storage)
    path = write_results(summary, sweep_dir)
    _log_summary(summary, path)
    return summary


def _run_batch(
    study: optuna.Study, trials: list[optuna.Trial], space: SearchSpace, context: list[str], launch: Launch
) -> None:
    """Launch one batch; if the launch itself is interrupted, fail its trials so none is left RUNNING."""
    overrides = [[*space.job_overrides(trial.params), *context] for trial in trials]
    returns: list[JobReturn] = []
    try:
        for run in consecutive_runs([trial.number for trial in trials]):
            returns.extend(launch([overrides[i] for i in run], trials[run[0]].number))
    except BaseException:
        for trial in trials:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        log.error("the launch of trials %s was interrupted; they are marked FAIL", [t.number for t in trials])
        raise
    for trial, job in zip(trials, returns, strict=True):
        _tell(study, trial, job)


def consecutive_runs(numbers: Sequence[int]) -> list[list[int]]:
    """Indices of `numbers` grouped into runs of consecutive trial numbers.

    Hydra numbers the jobs of a launch `initial_job_idx`, `initial_job_idx + 1`, ...; launching each run with its
    first trial number makes every job's `hydra.job.num` its trial number, which is how a job finds its trial.
    """
    runs: list[list[int]] = []
    for index, number in enumerate(numbers):
        if runs and numbers[runs[-1][-1]] + 1 == number:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _tell(study: optuna.Study, trial: optuna.Trial, job: JobReturn) -> None:
    if job.status != JobStatus.COMPLETED:
        error = job._return_value
        if isinstance(error, optuna.TrialPruned):
            log.info("%s", error or f"trial {trial.number} pruned")
            study.tell(trial, state=TrialState.PRUNED)
            return
        log.error(
            "trial %d failed (overrides: %s)",
            trial.number,
            " ".join(job.overrides or []),
            exc_info=(type(error), error, error.__traceback__) if isinstance(error, BaseException) else None,
        )
        study.tell(trial, state=TrialState.FAIL)
        return
    try:
        values = objective_values(job.return_value, len(study.directions))
    except (TypeError, ValueError) as problem:
        log.error("trial %d failed: %s", trial.number, problem)
        study.tell(trial, state=TrialState.FAIL)
        return
    log.info("trial %d: %s", trial.number, values[0] if len(values) == 1 else values)
    study.tell(trial, values)


def objective_values(value: Any, n_objectives: int) -> list[float]:
    """The job's return value as one finite-or-infinite float per direction; NaN or a wrong shape is an error."""
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else [value]
    if len(items) != n_objectives:
        raise ValueError(f"the task returned {len(items)} value(s) for {n_objectives} direction(s): {value!r}")
    numbers: list[float] = []
    for item in items:
        if item is None or isinstance(item, str | bytes | bool):
            raise TypeError(f"the task returned {item!r}, not a number")
        number = float(item)
        if math.isnan(number):
            raise ValueError(f"the task returned NaN: {value!r}")
        numbers.append(number)
    return numbers


def _log_summary(summary: SweepSummary, path: Path) -> None:
    counts = ", ".join(f"{state} {n}" for state, n in summary.trials_by_state.items())
    if not summary.best_trials:
        log.warning("no trial completed (%s); results in %s", counts or "no trials", path)
        return
    for best in summary.best_trials:
        log.info("best trial %d: values %s, params %s", best.number, best.values, best.params)
    log.info("trials: %s; results in %s", counts, path)
