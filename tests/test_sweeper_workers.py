"""Several workers on one study: the same `python -m sweeper_app -m` command started twice, on SQLite, a journal
file and a real PostgreSQL server. The study ends with exactly `n_trials` trials and no worker fails another's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from postgres_server import postgres_server
from test_sweeper_sweeps import REPO, STUDY, results, sweep

from hydra_plugins.hierl_optuna_sweeper._study import open_storage
from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError

N_TRIALS = 6


def worker(sweep_dir: Path, storage: str, *overrides: str) -> subprocess.Popen[str]:
    """One worker of the toy app's sweep, as a user starts it in another terminal (or on another machine)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    command = [
        sys.executable,
        "-m",
        "sweeper_app",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.storage={storage}",
        *overrides,
    ]
    return subprocess.Popen(
        command, cwd=sweep_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    return output


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=open_storage(storage))


def wait_for_a_running_trial(storage: str, process: subprocess.Popen[str]) -> None:
    """Block until the study holds a RUNNING trial (the worker is inside a job), or fail with the worker's output."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker ended before running a trial:\n{process.communicate()[0]}")
        try:
            if load(storage).get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
        except (KeyError, SweeperConfigError):  # the worker has not created the study yet
            pass
        time.sleep(0.1)
    pytest.fail("no trial started within 120 s")


def two_workers(sweep_dir: Path, storage: str) -> tuple[str, str]:
    """The first worker is inside a trial when the second one opens the study; both run to the end."""
    overrides = (f"hydra.sweeper.n_trials={N_TRIALS}", "step_seconds=0.05", "hydra.sweeper.heartbeat_interval=1")
    first = worker(sweep_dir, storage, *overrides)
    wait_for_a_running_trial(storage, first)
    second = worker(sweep_dir, storage, *overrides)
    return finish(first), finish(second)


def assert_exactly_n_trials_without_failures(storage: str, outputs: tuple[str, str]) -> None:
    trials = load(storage).get_trials()
    states = Counter(trial.state for trial in trials)
    assert states[TrialState.COMPLETE] == N_TRIALS, states
    # A worker that asked just after the other took the last place leaves its trial queued, never run.
    assert set(states) <= {TrialState.COMPLETE, TrialState.WAITING} and states[TrialState.WAITING] <= 1, states
    assert sorted(trial.number for trial in trials if trial.state == TrialState.COMPLETE) == list(range(N_TRIALS))
    for output in outputs:
        assert "Cannot tell" not in output and "failed" not in output, output
    ran = [output.count("Launching 1 jobs locally") for output in outputs]
    assert all(ran) and sum(ran) == N_TRIALS, ran
    assert len({trial.params["x"] for trial in trials if trial.params}) == N_TRIALS, "two trials drew the same x"


def test_two_workers_on_one_sqlite_study_run_exactly_n_trials(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    storage = f"sqlite:///{sweep_dir}/optuna.db"
    outputs = two_workers(sweep_dir, storage)
    assert_exactly_n_trials_without_failures(storage, outputs)
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == [str(n) for n in range(N_TRIALS)]


def test_two_workers_on_one_journal_file_run_exactly_n_trials(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    storage = f"journal:///{sweep_dir}/optuna.log"
    outputs = two_workers(sweep_dir, storage)
    assert_exactly_n_trials_without_failures(storage, outputs)
    assert results(sweep_dir)["storage"] == storage


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server started for this module; it must start in CI, and may be missing elsewhere."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except Exception as error:
            reason = f"no PostgreSQL server for the test: {type(error).__name__}: {error}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        yield url


def test_two_workers_on_one_postgresql_study_run_exactly_n_trials(tmp_path: Path, postgres_url: str) -> None:
    sweep_dir = tmp_path / "sweep"
    outputs = two_workers(sweep_dir, postgres_url)
    assert_exactly_n_trials_without_failures(postgres_url, outputs)
    assert "postgresql+psycopg2://postgres@127.0.0.1" in results(sweep_dir)["storage"]


def test_a_killed_workers_trial_is_failed_by_the_next_worker_once_its_heartbeat_is_stale(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    storage = f"sqlite:///{sweep_dir}/optuna.db"
    heartbeat = "hydra.sweeper.heartbeat_interval=1"
    killed = worker(sweep_dir, storage, "hydra.sweeper.n_trials=3", "step_seconds=5", heartbeat)
    wait_for_a_running_trial(storage, killed)
    time.sleep(1.5)  # at least one heartbeat recorded
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    time.sleep(2.5)  # older than the grace period, 2 x heartbeat_interval
    output = sweep(sweep_dir, "hydra.sweeper.n_trials=3", heartbeat)
    states = [trial.state for trial in load(storage).get_trials()]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert "trial 0 failed: its worker stopped sending heartbeats" in output
    assert results(sweep_dir)["trials_by_state"] == {"COMPLETE": 2, "FAIL": 1}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nosuchdb://x/y", "hydra.sweeper.storage=nosuchdb://x/y cannot be opened"),
        ("not a url", "hydra.sweeper.storage=not a url cannot be opened"),
        ("postgresql://hierl:secret@127.0.0.1:1/db", "hydra.sweeper.storage=postgresql://hierl:***@127.0.0.1:1/db"),
        ("journal:///", "hydra.sweeper.storage=journal:/// names no file"),
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_line_naming_the_key(url: str, message: str) -> None:
    with pytest.raises(SweeperConfigError) as caught:
        open_storage(url)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text and "secret" not in text
    assert "journal:///<file>" in text


def test_a_bad_storage_stops_the_sweep_with_one_line(tmp_path: Path) -> None:
    output = sweep(tmp_path / "sweep", "hydra.sweeper.storage=nosuchdb://x/y", ok=False)
    assert "hydra.sweeper.storage=nosuchdb://x/y cannot be opened" in output
    assert "Traceback" not in output
