"""Intermediate values from inside a job to its Optuna trial, so the sweep's pruner can stop a poor trial early.

    reporter = current_trial_reporter()          # once per job; None when not in a hierl_optuna sweep
    ...
    if reporter is not None:
        reporter.report(val_sharpe, timesteps)   # raises optuna.TrialPruned when the pruner says stop

Hydra imports this module in every app to find its plugins, so Optuna is imported only when a reporter is made.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from hydra_plugins.hierl_optuna_sweeper.config import SWEEPER_TARGET

if TYPE_CHECKING:
    import optuna


class TrialReporter:
    """The running job's trial: records each intermediate value and asks the pruner whether to go on.

    Before `warmup_steps` (`hydra.sweeper.warmup_steps`) the pruner is not asked: early validation scores are noise,
    and the preset's warm-up holds whichever pruner is chosen.
    """

    def __init__(self, trial: optuna.Trial, warmup_steps: int = 0, run_dir: Path | None = None) -> None:
        self._trial = trial
        self._warmup_steps = warmup_steps
        self._run_dir = run_dir

    @property
    def run_dir(self) -> Path | None:
        """The job's output folder: a run trained inside the job, in another folder, does not report."""
        return self._run_dir

    @property
    def trial_number(self) -> int:
        return self._trial.number

    def report(self, value: float, step: int) -> None:
        """Record `value` at `step` (a non-negative, growing count such as timesteps); raise if pruned.

        Raising `optuna.TrialPruned` out of the task makes the sweeper record the trial as PRUNED.
        """
        from optuna import TrialPruned

        self._trial.report(value, step)
        if step >= self._warmup_steps and self._trial.should_prune():
            raise TrialPruned(f"trial {self._trial.number} pruned at step {step} (value {value})")


def current_trial_reporter() -> TrialReporter | None:
    """The reporter of this job's trial, or None outside a hierl_optuna sweep.

    The job finds its trial from its own Hydra config: `hydra.sweeper.storage` and `study_name` name the study and
    `hydra.job.num` is the trial number. A multi-objective study gets None, because Optuna records intermediate
    values for one objective only.
    """
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN or OmegaConf.select(hydra_cfg.sweeper, "_target_") != SWEEPER_TARGET:
        return None

    import optuna

    from hydra_plugins.hierl_optuna_sweeper._factories import build_pruner
    from hydra_plugins.hierl_optuna_sweeper._study import absolute_storage_url

    sweeper = hydra_cfg.sweeper
    storage = _storage(absolute_storage_url(sweeper.storage, hydra_cfg.runtime.cwd))
    # The job never samples, so the cheapest sampler will do; the pruner is the sweep's own.
    study = optuna.load_study(
        study_name=sweeper.study_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),
        pruner=build_pruner(sweeper.pruner),
    )
    if len(study.directions) > 1:
        return None
    study_id = storage.get_study_id_from_name(sweeper.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, int(hydra_cfg.job.num))
    warmup_steps = int(OmegaConf.select(sweeper, "warmup_steps", default=0))
    return TrialReporter(optuna.Trial(study, trial_id), warmup_steps, Path(hydra_cfg.runtime.output_dir))


@functools.cache
def _storage(url: str) -> optuna.storages.BaseStorage:
    """One storage (and connection pool) per URL and process, however many jobs run in it; the sweeper's own
    opening rules (`journal:///` files, RDB URLs), without its heartbeat."""
    from hydra_plugins.hierl_optuna_sweeper._study import open_storage

    return open_storage(url)
