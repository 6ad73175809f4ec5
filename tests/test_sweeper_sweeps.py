"""End-to-end sweeps of the toy app in tests/sweeper_app, each a `python -m sweeper_app -m` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.study import StudyDirection
from optuna.trial import TrialState

REPO = Path(__file__).resolve().parent.parent
STUDY = "sweeper_app"


def sweep(sweep_dir: Path, *overrides: str, ok: bool = True) -> str:
    """Run the toy app's sweep into `sweep_dir`; return its combined output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    result = subprocess.run(
        [sys.executable, "-m", "sweeper_app", "-m", f"hydra.sweep.dir={sweep_dir}", *overrides],
        cwd=sweep_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, output
    return output


def storage(sweep_dir: Path) -> str:
    return f"sqlite:///{sweep_dir}/optuna.db"


def load(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=storage(sweep_dir))


def states(study: optuna.Study) -> list[TrialState]:
    return [trial.state for trial in study.get_trials()]


def enqueued_study(
    sweep_dir: Path, xs: list[float], direction: StudyDirection = StudyDirection.MINIMIZE
) -> optuna.Study:
    """A study whose next trials will try these x values, in order."""
    sweep_dir.mkdir(parents=True)
    study = optuna.create_study(study_name=STUDY, storage=storage(sweep_dir), direction=direction)
    for x in xs:
        study.enqueue_trial({"x": x})
    return study


def results(sweep_dir: Path) -> dict[str, Any]:
    loaded = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert isinstance(loaded, dict)
    return {str(key): value for key, value in loaded.items()}


def test_a_second_run_resumes_the_study_up_to_n_trials_in_total(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep(sweep_dir, "hydra.sweeper.n_trials=2")
    assert states(load(sweep_dir)) == [TrialState.COMPLETE] * 2

    sweep(sweep_dir, "hydra.sweeper.n_trials=4")
    study = load(sweep_dir)
    assert states(study) == [TrialState.COMPLETE] * 4
    assert len({trial.params["x"] for trial in study.trials}) == 4, "the resumed seeded sampler repeated points"
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    summary = results(sweep_dir)
    assert summary["trials_by_state"] == {"COMPLETE": 4}
    assert summary["best_value"] == pytest.approx(study.best_value)
    assert summary["best_params"] == study.best_params


def test_a_trial_another_worker_is_running_is_left_alone_and_holds_its_place(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, []).ask()  # running on a worker that records no heartbeat: never taken for dead
    sweep(sweep_dir, "hydra.sweeper.n_trials=2")
    assert states(load(sweep_dir)) == [TrialState.RUNNING, TrialState.COMPLETE]


def test_a_trial_reporting_bad_intermediate_values_is_pruned(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, [2.5, 40.0, 2.0])
    sweep(
        sweep_dir,
        "y=-1",
        "hydra.sweeper.n_trials=3",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=0",
    )
    good, bad, also_good = load(sweep_dir).get_trials()
    assert (good.state, bad.state, also_good.state) == (TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE)
    assert list(bad.intermediate_values) == [0], "a pruned trial stops at the step it was pruned"
    assert list(good.intermediate_values) == [0, 1, 2, 3, 4]
    assert results(sweep_dir)["trials_by_state"] == {"COMPLETE": 2, "PRUNED": 1}


def test_no_trial_is_pruned_before_warmup_steps_whatever_the_pruner(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, [2.5, 40.0])
    sweep(
        sweep_dir,
        "y=-1",
        "hydra.sweeper.n_trials=2",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.warmup_steps=3",
    )
    good, bad = load(sweep_dir).get_trials()
    assert (good.state, bad.state) == (TrialState.COMPLETE, TrialState.PRUNED)
    assert list(bad.intermediate_values) == [0, 1, 2, 3], "pruned at the first step after the warm-up"


def test_the_summary_holds_the_command_that_tests_the_best_trial(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, [0.0, 2.0])
    output = sweep(sweep_dir, "y=-1", "hydra.sweeper.n_trials=2", 'hydra.sweeper.test_command="evaluate {run_dir}"')
    summary = results(sweep_dir)
    assert summary["best_trial"] == 1 and summary["best_run_dir"] == str(sweep_dir / "1")
    assert summary["best_overrides"] == ["y=-1", "x=2.0"]
    assert summary["test_command"] == f"evaluate {sweep_dir / '1'}"
    assert f"test it once on the test block: evaluate {sweep_dir / '1'}" in output


def test_failing_and_nan_jobs_fail_their_trials_and_the_sweep_goes_on(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, [0.0, 5.0, 3.0, 1.0])
    output = sweep(sweep_dir, "hydra.sweeper.n_trials=4", "fail_above=4", "nan_above=2.5")
    assert states(load(sweep_dir)) == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE]
    assert "x=5.0 is above fail_above=4" in output
    assert "trial 2 failed: the task returned NaN" in output


def test_two_objectives_with_nsgaii_record_both_values(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep(
        sweep_dir,
        "objectives=2",
        "hydra.sweeper.direction=[minimize,minimize]",
        "hydra/sweeper/sampler=nsgaii",
        "hydra.sweeper.n_trials=3",
    )
    study = load(sweep_dir)
    assert len(study.directions) == 2
    for trial in study.trials:
        x, y = trial.params["x"], trial.params["y"]
        assert trial.values == pytest.approx([(x - 2) ** 2 + (y + 1) ** 2, (x + 1) ** 2])
    front = results(sweep_dir)["best_trials"]
    assert front and all(len(best["values"]) == 2 for best in front)


def test_parallel_batches_launch_n_jobs_trials_and_job_number_is_trial_number(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    record = tmp_path / "jobs.jsonl"
    output = sweep(sweep_dir, "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", f"record_file={record}")
    assert output.count("Launching 2 jobs locally") == 1
    assert output.count("Launching 1 jobs locally") == 1
    jobs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(job["job"], job["trial"]) for job in jobs] == [(0, 0), (1, 1), (2, 2)]
    assert states(load(sweep_dir)) == [TrialState.COMPLETE] * 3


def test_a_malformed_search_space_stops_the_sweep_before_any_trial(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    output = sweep(sweep_dir, "x=tag(log, interval(0, 1))", 'hydra.sweeper.params.y="choice(1,"', ok=False)
    assert "the search space has errors" in output
    assert "'x=tag(log, interval(0, 1))'" in output and "hydra.sweeper.params.y" in output
    assert "Traceback" not in output
    assert not sweep_dir.exists()


def test_resuming_with_the_opposite_direction_is_refused(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    enqueued_study(sweep_dir, [], direction=StudyDirection.MAXIMIZE)
    output = sweep(sweep_dir, "hydra.sweeper.n_trials=1", ok=False)
    assert "optimises ['maximize'], but hydra.sweeper.direction is ['minimize']" in output
    assert load(sweep_dir).trials == []


def test_parallel_jobs_in_joblib_processes_find_and_prune_their_trials(tmp_path: Path) -> None:
    # The dev extra the tests install with: an install without it fails here rather than skipping.
    import hydra_plugins.hydra_joblib_launcher  # noqa: F401

    sweep_dir = tmp_path / "sweep"
    record = tmp_path / "jobs.jsonl"
    enqueued_study(sweep_dir, [2.5, 2.0, 40.0, 1.0])
    sweep(
        sweep_dir,
        "y=-1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        f"record_file={record}",
    )
    jobs = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted((job["job"], job["trial"]) for job in jobs) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert states(load(sweep_dir))[2] == TrialState.PRUNED


def test_outside_a_hierl_optuna_sweep_a_job_gets_no_reporter(tmp_path: Path) -> None:
    record = tmp_path / "jobs.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    single_run = ["hydra.run.dir=run", f"record_file={record}"]
    basic_sweep = ["--config-name", "task", "-m", "hydra.sweep.dir=multi", "x=1,2", f"record_file={record}"]
    for overrides in (single_run, basic_sweep):
        subprocess.run(
            [sys.executable, "-m", "sweeper_app", *overrides], cwd=tmp_path, env=env, check=True, capture_output=True
        )
    jobs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [job["trial"] for job in jobs] == [None, None, None]
