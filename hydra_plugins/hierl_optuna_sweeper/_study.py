"""The study's storage and the study itself, shared by any number of workers on one machine or many.

Storage URLs (`hydra.sweeper.storage`):

- an RDB URL, as SQLAlchemy spells it: `sqlite:///<file>`, `postgresql://<user>@<host>[:<port>]/<db>`,
  `mysql+pymysql://<user>@<host>/<db>`. Optuna's heartbeat runs on these: a trial whose worker stopped
  (killed, or its machine lost) is failed once its heartbeat is `2 * heartbeat_interval` seconds old, by whichever
  worker looks next, and never while its worker is alive;
- `journal:///<file>`: Optuna's `JournalStorage` on a `JournalFileBackend`, an append-only log that needs no database
  server and works on a filesystem shared by several machines. Optuna has no heartbeat for it: a trial whose worker
  was killed stays RUNNING (see docs/sweeps.md for ending it by hand).

A relative path after `sqlite:///` or `journal:///` is relative to the sweeper's working directory (four slashes
make it absolute, as SQLAlchemy spells SQLite files).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError

log = logging.getLogger(__name__)

SQLITE = "sqlite:///"
JOURNAL = "journal:///"
# Every trial that holds a place in `n_trials`: the finished ones and those running on some worker. Queued (WAITING)
# trials take their place when a worker starts them.
STARTED = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_URL_FORMS = (
    "use sqlite:///<file>, postgresql://<user>@<host>[:<port>]/<database>, mysql+pymysql://<user>@<host>/<database> "
    "or journal:///<file>"
)


def absolute_storage_url(url: str, base_dir: str | Path) -> str:
    """`url` with a relative SQLite or journal path made absolute against `base_dir`.

    The sweeper and its jobs must open the same file even when a job runs in its own working directory.
    """
    for prefix in (SQLITE, JOURNAL):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path.startswith(":memory:") or Path(path).is_absolute():
                return url
            return prefix + str(Path(base_dir).resolve() / path)
    return url


def shown_url(url: str) -> str:
    """`url` as logs and results files show it: a database password is masked."""
    if url.startswith(JOURNAL):
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_storage(url: str, heartbeat_interval: int | None = None) -> BaseStorage:
    """The Optuna storage `url` names (see the module docstring), created if it does not exist yet.

    `heartbeat_interval` (seconds) turns on Optuna's heartbeat for an RDB storage; the sweeper records the heartbeat
    of each trial it runs and fails the stale trials of dead workers. Jobs open the storage without it: they only
    report intermediate values. A URL that cannot be opened is one line naming `hydra.sweeper.storage`.
    """
    if url.startswith(JOURNAL):
        return _journal_storage(url)
    if url.startswith(SQLITE) and not url[len(SQLITE) :].startswith(":memory:"):
        Path(url[len(SQLITE) :]).parent.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return _rdb_storage(url, heartbeat_interval)
    except ImportError:
        raise SweeperConfigError(
            f"hydra.sweeper.storage={shown_url(url)} needs a database driver that is not installed "
            "(psycopg2-binary for postgresql://, pymysql for mysql+pymysql://); install it, or "
            f"{_URL_FORMS}."
        ) from None
    except (SQLAlchemyError, ValueError, optuna.exceptions.StorageInternalError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SweeperConfigError(
            f"hydra.sweeper.storage={shown_url(url)} cannot be opened ({reason}); {_URL_FORMS}."
        ) from None


def _rdb_storage(url: str, heartbeat_interval: int | None) -> RDBStorage:
    """Optuna's RDBStorage, opened a second time if the first attempt lost a race: workers started together on a
    new database all create its tables, and all but one may see a duplicate-key error while doing so."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    def attempt() -> RDBStorage:
        with warnings.catch_warnings():
            # Optuna marks `heartbeat_interval` experimental; it is the documented way to detect dead workers.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url, heartbeat_interval=heartbeat_interval, heartbeat_stale_trial_callback=_log_stale_trial
            )

    try:
        return attempt()
    except (IntegrityError, OperationalError, ProgrammingError):
        time.sleep(1.0)
        return attempt()


def _journal_storage(url: str) -> JournalStorage:
    path = Path(url[len(JOURNAL) :])
    if not path.name:
        raise SweeperConfigError(f"hydra.sweeper.storage={url} names no file; use journal:///<file>.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as error:
        raise SweeperConfigError(
            f"hydra.sweeper.storage={url} cannot be opened ({error.strerror or error}); "
            "use journal:///<a file in a writable folder>."
        ) from None


def _log_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's callback for each stale trial it failed: say which, so a FAIL in the study is explained."""
    log.warning("trial %d failed: its worker stopped sending heartbeats (killed, or its machine lost)", trial.number)


def open_study(
    name: str,
    storage: BaseStorage,
    shown_storage: str,
    directions: list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study or load it, check it optimises the same directions, and fail stale trials of dead workers.

    Trials other workers are running are left alone: on an RDB storage with a heartbeat only trials whose heartbeat
    stopped are failed (Optuna's `fail_stale_trials`), and without one no running trial is touched.
    """
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
            f"study {name!r} in {shown_storage} optimises {found}, but hydra.sweeper.direction is {directions}. "
            "Set the same direction, or another study_name or storage for a new study."
        )
    fail_stale_trials(study)
    return study


def fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's `fail_stale_trials`: FAIL each running trial whose heartbeat stopped (a no-op without heartbeat)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def count_started(study: optuna.Study) -> int:
    """Trials that hold a place in `n_trials`: complete, pruned, failed, and running on any worker."""
    return len(study.get_trials(deepcopy=False, states=STARTED))
