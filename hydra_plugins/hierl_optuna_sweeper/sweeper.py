"""`hierl_optuna`: a Hydra sweeper driving an Optuna study with ask-and-tell, one launcher batch at a time.

Hydra imports this module in every app to find its plugins, so Optuna and the sweep machinery are imported only
when a sweep starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from hydra_plugins.hierl_optuna_sweeper._results import SweepSummary

log = logging.getLogger(__name__)


class HierlOptunaSweeper(Sweeper):
    """Optimises the task's return value over `params` (plus command-line sweeps) with an Optuna study.

    Each batch is `n_jobs` trials launched together through the configured launcher; job number = trial number.
    Several workers (the same command, on one machine or many) may share one study. Returns a `SweepSummary` with
    the best trial(s) of the whole study.
    """

    def __init__(
        self,
        direction: Any,
        study_name: str,
        storage: str,
        n_trials: int,
        n_jobs: int,
        sampler: Any,  # built by Hydra, not used: `sweep` rebuilds it from its config node to move its seed on
        pruner: Any,
        params: Mapping[str, Any] | None,
        heartbeat_interval: int | None = 60,
        warmup_steps: int = 0,
        test_command: str | None = None,
    ) -> None:
        self.direction = OmegaConf.to_container(direction) if OmegaConf.is_list(direction) else direction
        self.study_name = study_name
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.pruner = pruner
        self.heartbeat_interval = heartbeat_interval
        self.warmup_steps = warmup_steps
        self.test_command = test_command
        self.params: dict[str, Any] = {
            str(k): (OmegaConf.to_container(v) if OmegaConf.is_config(v) else v) for k, v in (params or {}).items()
        }
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> SweepSummary:
        from hydra_plugins.hierl_optuna_sweeper._search_space import parse_search_space
        from hydra_plugins.hierl_optuna_sweeper._study import absolute_storage_url
        from hydra_plugins.hierl_optuna_sweeper._sweep import SweepSettings, optimize

        assert self.config is not None, "setup() runs before sweep()"
        settings = SweepSettings.from_config(
            direction=self.direction,
            study_name=self.study_name,
            storage=absolute_storage_url(self.storage, os.getcwd()),
            n_trials=self.n_trials,
            n_jobs=self.n_jobs,
            sampler=OmegaConf.select(self.config, "hydra.sweeper.sampler"),
            pruner=self.pruner,
            heartbeat_interval=self.heartbeat_interval,
            warmup_steps=self.warmup_steps,
            test_command=self.test_command,
        )
        space = parse_search_space(self.params, arguments)
        return optimize(settings, space, self._launch, self.validate_batch_is_legal, Path(self.config.hydra.sweep.dir))

    def _launch(self, overrides: Sequence[Sequence[str]], first_trial: int) -> Sequence[JobReturn]:
        assert self.launcher is not None
        return self.launcher.launch(overrides, initial_job_idx=first_trial)
