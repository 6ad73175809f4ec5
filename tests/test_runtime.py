"""hierl's thread policy: the count it chooses, and that every kind of process it runs in uses that count."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium
import joblib
import numpy as np
import pytest
import ray
import torch
from runs import hierl_train, read_json, run_ok
from stable_baselines3.common.vec_env import SubprocVecEnv

from hierl.errors import ConfigError
from hierl.orchestration.execution import ExecutionConfig, Unit, run_units
from hierl.runtime import (
    LARGE_NETWORK_PARAMETERS,
    apply_thread_policy,
    choose_torch_threads,
    mlp_parameters,
    parse_torch_threads,
    single_threaded,
)


def test_mlp_parameters_counts_weights_and_biases() -> None:
    # 612 -> 64 -> 64 -> 1: (612 + 1) * 64 + (64 + 1) * 64 + (64 + 1) * 1, counted by hand.
    assert mlp_parameters(612, [64, 64], 1) == 39232 + 4160 + 65
    net = torch.nn.Sequential(torch.nn.Linear(612, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 1))
    assert mlp_parameters(612, [64, 64], 1) == sum(p.numel() for p in net.parameters())


def test_small_networks_get_one_thread_and_large_ones_the_budget() -> None:
    assert choose_torch_threads("auto", 90_000, budget=8).threads == 1
    assert choose_torch_threads("auto", LARGE_NETWORK_PARAMETERS, budget=8).threads == 8
    assert choose_torch_threads("auto", LARGE_NETWORK_PARAMETERS, budget=1).threads == 1
    fixed = choose_torch_threads("3", 90_000, budget=2)
    assert (fixed.threads, fixed.source) == (3, "config")
    assert choose_torch_threads(2, 90_000, budget=2).threads == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_a_bad_thread_setting_names_the_key_and_the_choices(value: str) -> None:
    with pytest.raises(
        ConfigError, match=r"runtime\.torch_threads=.* must be 'auto' or a whole number of threads >= 1"
    ):
        parse_torch_threads(value)


def test_the_policy_sets_torch_and_the_variables_children_inherit(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    try:
        choice = apply_thread_policy("2", 10)
        assert torch.get_num_threads() == choice.threads == 2
        choice = apply_thread_policy("auto", 10)
        assert torch.get_num_threads() == choice.threads == 1
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def budget_in_a_fresh_process(omp: str | None) -> int:
    code = "from hierl.runtime import cpu_budget; print(cpu_budget())"
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return int(result.stdout.strip().splitlines()[-1])


def test_the_budget_is_the_affinity_capped_by_an_inherited_omp_num_threads() -> None:
    cores = len(os.sched_getaffinity(0))
    assert budget_in_a_fresh_process(None) == cores
    assert budget_in_a_fresh_process("1") == 1
    assert budget_in_a_fresh_process(str(cores + 5)) == cores


class ThreadReportingEnv(gymnasium.Env):
    """An env whose only job is to tell, from inside its worker process, how many threads torch uses there."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(1, dtype=np.float32), 0.0, False, False, {}

    def threads(self) -> tuple[int, str | None]:
        return torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")


@pytest.mark.slow
def test_subprocess_env_workers_run_one_thread_whatever_the_parent_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "2")  # torch starts with the smaller of the two
    torch.set_num_threads(2)
    try:
        plain = SubprocVecEnv([ThreadReportingEnv], start_method="spawn")
        policed = SubprocVecEnv([partial(single_threaded, ThreadReportingEnv)], start_method="spawn")
        try:
            # The positive control: without the policy a worker inherits the parent's two threads.
            assert plain.env_method("threads") == [(2, "2")]
            assert policed.env_method("threads") == [(1, "1")]
        finally:
            plain.close()
            policed.close()
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_a_ray_task_uses_the_cpus_ray_gave_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ray starts its workers from this process's environment: drop the suite's OMP_NUM_THREADS=1 so that the
    # budget a task sees comes from Ray's assignment (2 CPUs) and not from the variable.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    units = [
        Unit("large", apply_thread_policy, ("auto", LARGE_NETWORK_PARAMETERS)),
        Unit("small", apply_thread_policy, ("auto", 10_000)),
    ]
    try:
        outcomes = run_units(units, ExecutionConfig(distributed=True, num_workers=1, cpus_per_worker=2.0))
    finally:
        ray.shutdown()
    large, small = (outcome.value for outcome in outcomes)
    assert large is not None and small is not None
    assert (large.budget, large.threads) == (min(2, len(os.sched_getaffinity(0))),) * 2
    assert (small.budget, small.threads) == (large.budget, 1)


@pytest.mark.slow
def test_a_joblib_worker_gets_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hydra's joblib launcher runs trials in loky workers, which joblib starts with OMP_NUM_THREADS set to
    # cores // n_jobs; the policy reads that share as the worker's budget.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    choices = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(apply_thread_policy)("auto", LARGE_NETWORK_PARAMETERS) for _ in range(2)
    )
    assert [(c.budget, c.threads) for c in choices] == [(max(1, cores // 2),) * 2] * 2


@pytest.mark.slow
def test_a_run_records_its_threads_repeats_at_a_fixed_count_and_leaves_no_sb3_folder(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "SB3_LOGDIR"} | {"TMPDIR": str(temp)}
    metrics = []
    for name in ("a", "b"):
        run = tmp_path / name
        run_ok(hierl_train("debug=smoke", "runtime.torch_threads=1", f"hydra.run.dir={run}"), env=env, cwd=tmp_path)
        metrics.append({k: v for k, v in read_json(run / "metrics.json").items() if k != "train/seconds"})
    assert metrics[0]["train/torch_threads"] == 1.0
    assert metrics[0] == metrics[1]
    assert not list(temp.glob("SB3-*")), "a run wrote SB3's default log folder into the temp folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "tmp"], "a run wrote outside its run folder"
