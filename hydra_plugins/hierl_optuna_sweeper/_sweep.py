"""The ask-launch-tell loop: ask up to `n_jobs` trials, launch them as one Hydra batch, tell Optuna how each ended.

Any number of workers may run this loop on one study, with the same command, on one machine or many: `n_trials` is
the study's total, and a worker only ever ends its own trials (see `ask_trials` and `_study.open_study`).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import NopPruner
from optuna.storages import BaseStorage

# Optuna's own heartbeat thread, the one `Study.optimize` runs around each trial (a no-op without heartbeat).
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

from hydra_plugins.hierl_optuna_sweeper._factories import build_pruner, build_sampler
from hydra_plugins.hierl_optuna_sweeper._results import (
    OVERRIDES_ATTR,
    RUN_DIR_ATTR,
    SweepSummary,
    format_test_command,
    summarize,
    write_results,
)
from hydra_plugins.hierl_optuna_sweeper._search_space import SearchSpace, override_text
from hydra_plugins.hierl_optuna_sweeper._study import (
    count_started,
    fail_stale_trials,
    open_storage,
    open_study,
    shown_url,
)
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
    heartbeat_interval: int | None = None
    test_command: str | None = None

    @classmethod
    def from_config(
        cls,
        *,
        direction: Any,
        study_name: str,
        storage: str,
        n_trials: int,
        n_jobs: int,
        sampler: Any,
        pruner: Any,
        heartbeat_interval: int | None = None,
        warmup_steps: int = 0,
        test_command: str | None = None,
    ) -> SweepSettings:
        directions = _directions(direction)
        if n_trials < 0:
            raise SweeperConfigError(f"hydra.sweeper.n_trials is {n_trials}; it is the total of trials, 0 or more.")
        if n_jobs < 1:
            raise SweeperConfigError(f"hydra.sweeper.n_jobs is {n_jobs}; launch at least 1 trial per batch.")
        if heartbeat_interval is not None and heartbeat_interval < 1:
            raise SweeperConfigError(
                f"hydra.sweeper.heartbeat_interval is {heartbeat_interval}; use a number of seconds, 1 or more "
                "(or null for no heartbeat)."
            )
        if warmup_steps < 0:
            raise SweeperConfigError(f"hydra.sweeper.warmup_steps is {warmup_steps}; use 0 or more steps.")
        if test_command is not None:
            format_test_command(test_command, "<run dir>", ["<override>"])
        built_pruner = build_pruner(pruner)
        if len(directions) > 1 and not isinstance(built_pruner, NopPruner):
            raise SweeperConfigError(
                "Optuna cannot prune multi-objective trials; use `override /hydra/sweeper/pruner: none` "
                "with a list of directions."
            )
        build_sampler(sampler)
        return cls(
            study_name, storage, directions, n_trials, n_jobs, sampler, built_pruner, heartbeat_interval, test_command
        )

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
    """Run trials until the study has started `n_trials` in all (on this worker or others), then write and return
    the summary of the whole study."""
    validate([[*space.probe_overrides(), *settings.job_context()]])
    shown = shown_url(settings.storage)
    storage = open_storage(settings.storage, settings.heartbeat_interval)
    study = open_study(settings.study_name, storage, shown, settings.directions, settings.sampler(), settings.pruner)
    log.info(
        "study %r in %s: %d of %d trial(s) started, up to %d per batch",
        settings.study_name,
        shown,
        count_started(study),
        settings.n_trials,
        settings.n_jobs,
    )
    study_id = storage.get_study_id_from_name(settings.study_name)
    while trials := ask_trials(study, storage, study_id, settings, space):
        _run_batch(study, storage, study_id, trials, space, settings.job_context(), launch)
    summary = summarize(study, shown, settings.test_command)
    path = write_results(summary, sweep_dir)
    _log_summary(summary, path)
    return summary


def ask_trials(
    study: optuna.Study, storage: BaseStorage, study_id: int, settings: SweepSettings, space: SearchSpace
) -> list[optuna.Trial]:
    """Up to `n_jobs` trials to launch now, sampled, none beyond the study's `n_trials`; [] when the study is full.

    The storage numbers trials atomically, 0, 1, 2, ... in the order workers ask for them, and a queued (WAITING)
    trial is started before a new one is made, so the places 0 .. n_trials - 1 are the study's budget. Two workers
    may both see one place left and both ask: the one whose trial is numbered `n_trials` or more puts it back in the
    queue, unsampled (a later run with a larger `n_trials` starts it first), and runs nothing.

    Trial k is sampled by the sampler seeded `seed + k`: parallel workers never draw with the same seed, and a
    sweep resumed after an interruption draws the same points as one that was not interrupted.
    """
    fail_stale_trials(study)
    trials: list[optuna.Trial] = []
    while len(trials) < settings.n_jobs and count_started(study) < settings.n_trials:
        with warnings.catch_warnings():
            # The sweeper records each trial's heartbeat itself while its job runs (`_heartbeats`).
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with")
            trial = study.ask()
        if trial.number >= settings.n_trials:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_state_values(trial_id, TrialState.WAITING)
            log.info(
                "trial %d is beyond n_trials=%d (another worker started the last one); it is queued, not run",
                trial.number,
                settings.n_trials,
            )
            break
        study.sampler = settings.sampler(seed_offset=trial.number)
        for name, distribution in space.distributions.items():
            suggest(trial, name, distribution)
        trials.append(trial)
    return trials


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Sample `name` from `distribution` with the trial's public suggest API (an enqueued value wins, as ever)."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        low, high, step, log_scale = distribution.low, distribution.high, distribution.step, distribution.log
        return trial.suggest_int(name, low, high, step=step, log=log_scale)
    if isinstance(distribution, FloatDistribution):
        low_f, high_f, step_f = distribution.low, distribution.high, distribution.step
        return trial.suggest_float(name, low_f, high_f, step=step_f, log=distribution.log)
    raise TypeError(f"no suggest method for {distribution!r}")


@contextmanager
def _heartbeats(storage: BaseStorage, trial_ids: Sequence[int]) -> Iterator[None]:
    """Optuna's heartbeat for each trial while its job runs, so other workers can tell it from a dead worker's."""
    threads = [get_heartbeat_thread(trial_id, storage) for trial_id in trial_ids]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join()


def _run_batch(
    study: optuna.Study,
    storage: BaseStorage,
    study_id: int,
    trials: list[optuna.Trial],
    space: SearchSpace,
    context: list[str],
    launch: Launch,
) -> None:
    """Launch one batch, with a heartbeat per trial; if the launch itself is interrupted, fail its trials so none is
    left RUNNING. Each trial records its overrides and run folder (user attributes), which the summary reads."""
    job_overrides = [space.job_overrides(trial.params) for trial in trials]
    for trial, overrides in zip(trials, job_overrides, strict=True):
        trial.set_user_attr(OVERRIDES_ATTR, overrides)
    trial_ids = [storage.get_trial_id_from_study_id_trial_number(study_id, trial.number) for trial in trials]
    returns: list[JobReturn] = []
    try:
        with _heartbeats(storage, trial_ids):
            for run in consecutive_runs([trial.number for trial in trials]):
                returns.extend(launch([[*job_overrides[i], *context] for i in run], trials[run[0]].number))
    except BaseException:
        for trial in trials:
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        log.error("the launch of trials %s was interrupted; they are marked FAIL", [t.number for t in trials])
        raise
    for trial, job in zip(trials, returns, strict=True):
        run_dir = OmegaConf.select(job.hydra_cfg, "hydra.runtime.output_dir") if job.hydra_cfg else None
        if run_dir is not None:
            trial.set_user_attr(RUN_DIR_ATTR, str(run_dir))
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
        log.info("best trial %d: values %s, params %s, run %s", best.number, best.values, best.params, best.run_dir)
        if best.test_command:
            # The sweep chose on validation only; the chosen configuration is tested once, by this command.
            log.info("test it once on the test block: %s", best.test_command)
    log.info("trials: %s; results in %s", counts, path)
