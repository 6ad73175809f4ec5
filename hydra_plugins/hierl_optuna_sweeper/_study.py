"""Open (or resume) the study in its storage, so a re-run adds to the trials already there."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError

log = logging.getLogger(__name__)

_SQLITE = "sqlite:///"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def absolute_storage_url(url: str, base_dir: str | Path) -> str:
    """`url` with a relative SQLite path made absolute against `base_dir`.

    The sweeper and its jobs must open the same file even when a job runs in its own working directory.
    """
    if not url.startswith(_SQLITE):
        return url
    path = url[len(_SQLITE) :]
    if not path or path.startswith(":memory:") or Path(path).is_absolute():
        return url
    return _SQLITE + str(Path(base_dir).resolve() / path)


def open_study(
    name: str,
    storage: str,
    directions: list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study or load it, check it optimises the same directions, and fail trials a killed sweep left.

    Only one sweep should run a study at a time: every RUNNING trial found here is taken as abandoned.
    """
    if storage.startswith(_SQLITE):
        Path(storage[len(_SQLITE) :]).parent.mkdir(parents=True, exist_ok=True)
    wanted = [StudyDirection[d.upper()] for d in directions]
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=wanted,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.directions != wanted:
        found = [d.name.lower() for d in study.directions]
        raise SweeperConfigError(
            f"study {name!r} in {storage} optimises {found}, but hydra.sweeper.direction is {directions}. "
            "Set the same direction, or another study_name or storage for a new study."
        )
    abandoned = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in abandoned:
        study.tell(trial.number, state=TrialState.FAIL)
    if abandoned:
        log.warning(
            "marked %d trial(s) left running by an earlier sweep as FAIL: %s",
            len(abandoned),
            [t.number for t in abandoned],
        )
    return study


def count_finished(study: optuna.Study) -> int:
    """Trials that count towards `n_trials`: every one that ended, whether complete, pruned or failed."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))
