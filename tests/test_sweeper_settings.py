"""Sweeper settings are checked before any trial; job results become Optuna values; helpers of the loop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hydra_plugins.hierl_optuna_sweeper._factories import build_pruner, build_sampler
from hydra_plugins.hierl_optuna_sweeper._search_space import parse_search_space
from hydra_plugins.hierl_optuna_sweeper._study import absolute_storage_url, shown_url
from hydra_plugins.hierl_optuna_sweeper._sweep import SweepSettings, consecutive_runs, objective_values, optimize
from hydra_plugins.hierl_optuna_sweeper.config import MedianPrunerConfig, RandomSamplerConfig
from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError
from hydra_plugins.hierl_optuna_sweeper.reporting import current_trial_reporter


def settings(**changes: Any) -> SweepSettings:
    fields: dict[str, Any] = {
        "direction": "minimize",
        "study_name": "s",
        "storage": "sqlite:///x.db",
        "n_trials": 4,
        "n_jobs": 1,
        "sampler": None,
        "pruner": None,
    }
    return SweepSettings.from_config(**{**fields, **changes})


def test_directions_are_normalised_to_a_list() -> None:
    assert settings(direction="MAXIMIZE").directions == ["maximize"]
    assert settings(direction=["minimize", "maximize"]).directions == ["minimize", "maximize"]


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"direction": "up"}, "hydra.sweeper.direction"),
        ({"direction": []}, "hydra.sweeper.direction"),
        ({"n_jobs": 0}, "hydra.sweeper.n_jobs"),
        ({"n_trials": -1}, "hydra.sweeper.n_trials"),
        ({"sampler": OmegaConf.create({"_target_": "builtins.dict"})}, "not an Optuna sampler"),
        ({"sampler": OmegaConf.create({"_target_": "optuna.samplers.NoSuchSampler"})}, "hydra.sweeper.sampler"),
        ({"pruner": OmegaConf.create({"_target_": "builtins.dict"})}, "not an Optuna pruner"),
        (
            {"direction": ["minimize", "minimize"], "pruner": OmegaConf.structured(MedianPrunerConfig)},
            "cannot prune multi-objective",
        ),
    ],
)
def test_bad_settings_raise_one_error_naming_the_key(changes: dict[str, Any], names: str) -> None:
    with pytest.raises(SweeperConfigError, match=names):
        settings(**changes)


def test_sampler_and_pruner_nodes_build_their_optuna_objects() -> None:
    assert isinstance(build_sampler(OmegaConf.structured(RandomSamplerConfig)), optuna.samplers.RandomSampler)
    pruner = build_pruner(OmegaConf.structured(MedianPrunerConfig(n_startup_trials=1)))
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert isinstance(build_pruner(None), optuna.pruners.NopPruner)


def first_draw(sampler: optuna.samplers.BaseSampler) -> float:
    return optuna.create_study(sampler=sampler).ask().suggest_float("x", 0, 1)


def test_a_resumed_seeded_sampler_moves_its_seed_on_by_the_trials_already_run() -> None:
    node = OmegaConf.structured(RandomSamplerConfig(seed=5))
    assert first_draw(build_sampler(node)) == first_draw(optuna.samplers.RandomSampler(seed=5))
    assert first_draw(build_sampler(node, seed_offset=3)) == first_draw(optuna.samplers.RandomSampler(seed=8))


def test_objective_values_accept_numbers_and_infinity() -> None:
    assert objective_values(1, 1) == [1.0]
    assert objective_values((0.5, 2), 2) == [0.5, 2.0]
    assert objective_values(math.inf, 1) == [math.inf]


@pytest.mark.parametrize(
    ("bad", "n", "error", "message"),
    [
        (math.nan, 1, ValueError, r"the task returned NaN: nan"),
        ((1.0, math.nan), 2, ValueError, r"the task returned NaN: \(1\.0, nan\)"),
        (1.0, 2, ValueError, r"the task returned 1 value\(s\) for 2 direction\(s\): 1\.0"),
        ((1.0, 2.0), 1, ValueError, r"the task returned 2 value\(s\) for 1 direction\(s\)"),
        ("1.0", 1, TypeError, r"the task returned '1\.0', not a number"),
        (None, 1, TypeError, r"the task returned None, not a number"),
        (True, 1, TypeError, r"the task returned True, not a number"),
    ],
)
def test_objective_values_name_what_the_task_returned(bad: Any, n: int, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        objective_values(bad, n)
    assert type(caught.value) is error


def test_trials_are_launched_in_runs_of_consecutive_numbers() -> None:
    assert consecutive_runs([4, 5, 6]) == [[0, 1, 2]]
    assert consecutive_runs([4, 5, 9, 10, 12]) == [[0, 1], [2, 3], [4]]
    assert consecutive_runs([]) == []


def test_relative_sqlite_paths_become_absolute_and_other_urls_are_kept(tmp_path: Path) -> None:
    assert absolute_storage_url("sqlite:///sweep/optuna.db", tmp_path) == f"sqlite:///{tmp_path}/sweep/optuna.db"
    assert absolute_storage_url("sqlite:////abs/optuna.db", tmp_path) == "sqlite:////abs/optuna.db"
    assert absolute_storage_url("postgresql://u@host/db", tmp_path) == "postgresql://u@host/db"


def test_there_is_no_reporter_outside_a_sweep() -> None:
    assert current_trial_reporter() is None


class RecordingLauncher:
    """Stands in for a Hydra launcher: records each launch, returns a completed job per override list."""

    def __init__(self, interrupt: bool = False) -> None:
        self.launches: list[tuple[list[list[str]], int]] = []
        self.interrupt = interrupt

    def __call__(self, overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        self.launches.append(([list(o) for o in overrides], initial_job_idx))
        if self.interrupt:
            raise KeyboardInterrupt
        return [JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=1.0) for o in overrides]


def run_optimize(tmp_path: Path, launcher: RecordingLauncher, n_trials: int = 3) -> optuna.Study:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    space = parse_search_space({"x": "interval(0, 1)"}, ["fixed=1"])
    optimize(settings(storage=storage, n_trials=n_trials, n_jobs=2), space, launcher, lambda batch: None, tmp_path)
    return optuna.load_study(study_name="s", storage=storage)


def test_batches_start_at_their_first_trial_number_and_carry_the_resolved_study(tmp_path: Path) -> None:
    launcher = RecordingLauncher()
    study = run_optimize(tmp_path, launcher)
    assert [(len(batch), first) for batch, first in launcher.launches] == [(2, 0), (1, 2)]
    storage = f"sqlite:///{tmp_path}/optuna.db"
    for batch, _ in launcher.launches:
        for overrides in batch:
            assert overrides[0] == "fixed=1" and overrides[1].startswith("x=")
            context = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(overrides[2:])}
            assert context == {"hydra.sweeper.study_name": "s", "hydra.sweeper.storage": storage}
    assert [trial.value for trial in study.trials] == [1.0, 1.0, 1.0]


def test_an_interrupted_launch_leaves_no_trial_running(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_optimize(tmp_path, RecordingLauncher(interrupt=True))
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [trial.state for trial in study.trials] == [TrialState.FAIL, TrialState.FAIL]


def test_a_trial_asked_beyond_n_trials_goes_back_to_the_queue_unsampled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another worker took the last place between this worker's count and its ask: the count it read was stale.
    from hydra_plugins.hierl_optuna_sweeper import _sweep

    storage = f"sqlite:///{tmp_path}/optuna.db"
    other_worker = optuna.create_study(study_name="s", storage=storage)
    other_worker.ask()
    other_worker.ask()
    monkeypatch.setattr(_sweep, "count_started", lambda study: 1)
    launcher = RecordingLauncher()
    study = run_optimize(tmp_path, launcher, n_trials=2)
    assert launcher.launches == []
    assert [(t.number, t.state, t.params) for t in study.trials][2] == (2, TrialState.WAITING, {})

    monkeypatch.undo()
    study = run_optimize(tmp_path, launcher, n_trials=3)  # a later run with a larger budget starts it first
    assert [first for _, first in launcher.launches] == [2]
    assert study.trials[2].state == TrialState.COMPLETE and "x" in study.trials[2].params


def test_trial_k_is_sampled_with_seed_plus_k_so_a_resumed_sweep_draws_what_an_uninterrupted_one_does(
    tmp_path: Path,
) -> None:
    def xs(folder: Path, budgets: list[int]) -> list[float]:
        folder.mkdir()
        storage = f"sqlite:///{folder}/optuna.db"
        space = parse_search_space({"x": "interval(0, 1)"}, [])
        node = OmegaConf.structured(RandomSamplerConfig(seed=3))
        for n_trials in budgets:
            optimize(
                settings(storage=storage, n_trials=n_trials, sampler=node), space, RecordingLauncher(), print, folder
            )
        return [t.params["x"] for t in optuna.load_study(study_name="s", storage=storage).trials]

    assert xs(tmp_path / "once", [4]) == xs(tmp_path / "resumed", [1, 3, 4])
    assert len(set(xs(tmp_path / "other", [4]))) == 4


def test_the_summary_names_the_best_trials_run_folder_overrides_and_test_command(tmp_path: Path) -> None:
    class Launcher(RecordingLauncher):
        def __call__(self, overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
            jobs = super().__call__(overrides, initial_job_idx)
            for number, job in enumerate(jobs, start=initial_job_idx):
                job.hydra_cfg = OmegaConf.create({"hydra": {"runtime": {"output_dir": f"/sweep/{number}"}}})
                job.return_value = float(number)
            return jobs

    storage = f"sqlite:///{tmp_path}/optuna.db"
    space = parse_search_space({"x": "interval(0, 1)"}, ["net=[64, 64]"])
    command = "train {overrides} evaluate_test=true # {run_dir}"
    summary = optimize(
        settings(storage=storage, n_trials=3, test_command=command), space, Launcher(), print, tmp_path
    ).as_dict()
    assert summary["best_trial"] == 0 and summary["best_run_dir"] == "/sweep/0"
    assert summary["best_overrides"][0] == "net=[64, 64]" and summary["best_overrides"][1].startswith("x=")
    assert (
        summary["test_command"] == f"train 'net=[64, 64]' {summary['best_overrides'][1]} evaluate_test=true # /sweep/0"
    )


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"heartbeat_interval": 0}, "hydra.sweeper.heartbeat_interval"),
        ({"warmup_steps": -1}, "hydra.sweeper.warmup_steps"),
        ({"test_command": "evaluate {run}"}, "hydra.sweeper.test_command"),
        ({"test_command": "evaluate {0}"}, "hydra.sweeper.test_command"),
    ],
)
def test_bad_worker_settings_raise_one_error_naming_the_key(changes: dict[str, Any], names: str) -> None:
    with pytest.raises(SweeperConfigError, match=names):
        settings(**changes)


def test_relative_journal_paths_become_absolute_and_passwords_are_masked(tmp_path: Path) -> None:
    assert absolute_storage_url("journal:///s/optuna.log", tmp_path) == f"journal:///{tmp_path}/s/optuna.log"
    assert absolute_storage_url("journal:////abs/optuna.log", tmp_path) == "journal:////abs/optuna.log"
    assert shown_url("postgresql://hierl:secret@db/optuna") == "postgresql://hierl:***@db/optuna"
    assert shown_url("journal:////abs/optuna.log") == "journal:////abs/optuna.log"
