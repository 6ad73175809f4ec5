"""hierl's thread policy: how many CPU threads torch may use in a process that trains or evaluates a network.

torch's default is one intra-op thread per core. For hierl's small MLPs that is the slowest choice: an Adam update
of the default PPO policy takes about 1 ms on one thread and 50-100 ms on two when another process keeps a core
busy (OpenMP threads spin while they wait for each other). A shared machine is the normal case (CI, a laptop, two
sweep trials at once, Ray workers), so the policy gives small networks one thread and only large ones the
process's whole CPU budget. `nox -s bench` (`benchmarks/bench_threads.py`) measures the sizes where a second
thread starts to pay.

The CPU budget of a process is the smallest of: the cores it may run on (its affinity mask), the CPUs Ray
assigned to the task it runs in, and `OMP_NUM_THREADS` (which joblib's loky workers and Ray set per worker, and a
user may set for the whole machine). The count chosen is also exported as `OMP_NUM_THREADS` and `MKL_NUM_THREADS`,
so child processes (SubprocVecEnv workers) start with it.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hierl.errors import ConfigError
from hierl.tracking.logging import get_logger

log = get_logger("runtime")

T = TypeVar("T")

AUTO = "auto"
# Networks with fewer parameters than this train fastest on one thread, loaded machine or not (see the module doc).
LARGE_NETWORK_PARAMETERS = 1_000_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """The torch thread count a process uses, and why: `auto` (the policy) or `config` (runtime.torch_threads)."""

    threads: int
    budget: int
    source: str


def parse_torch_threads(setting: str | int) -> int | None:
    """`runtime.torch_threads`: None for `auto`, else the positive count it names; anything else is refused."""
    text = str(setting).strip().lower()
    if text == AUTO:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"runtime.torch_threads={setting!r} must be 'auto' or a whole number of threads >= 1")
    return int(text)


def mlp_parameters(n_inputs: int, hidden: Sequence[int], n_outputs: int) -> int:
    """Weights and biases of a fully connected network: what decides whether a second thread can pay."""
    widths = [n_inputs, *hidden, n_outputs]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(widths))


def _ray_task_cpus() -> float | None:
    """The CPUs Ray assigned to the task or actor this process runs, or None outside a Ray worker."""
    if "ray" not in sys.modules:  # never import Ray just to find out that it is not in use
        return None
    import ray

    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return None
    cpus = context.get_assigned_resources().get("CPU")
    return float(cpus) if cpus is not None else None


@functools.cache
def _inherited_omp_threads() -> int | None:
    """`OMP_NUM_THREADS` as this process found it, read once: the policy later overwrites it for children."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def cpu_budget() -> int:
    """How many cores this process may keep busy (see the module doc), at least 1."""
    budget = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ray_cpus = _ray_task_cpus()
    if ray_cpus is not None:
        budget = min(budget, max(1, int(ray_cpus)))
    inherited = _inherited_omp_threads()
    if inherited is not None:
        budget = min(budget, inherited)
    return max(1, budget)


def choose_torch_threads(setting: str | int, n_parameters: int, budget: int | None = None) -> ThreadChoice:
    """The thread count for a network of `n_parameters`: the configured one, or the policy's under `auto`."""
    fixed = parse_torch_threads(setting)
    budget = cpu_budget() if budget is None else budget
    if fixed is not None:
        return ThreadChoice(threads=fixed, budget=budget, source="config")
    threads = budget if n_parameters >= LARGE_NETWORK_PARAMETERS else 1
    return ThreadChoice(threads=threads, budget=budget, source=AUTO)


def single_threaded(make: Callable[[], T]) -> T:
    """`make()` in a worker process that only steps envs (SubprocVecEnv): one torch and OpenMP thread there.

    Runs in the worker itself, so it holds whatever start method the workers use (a forkserver's children do not
    see environment variables set in the parent after the server started).
    """
    import torch

    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    torch.set_num_threads(1)
    return make()


def apply_thread_policy(setting: str | int, n_parameters: int) -> ThreadChoice:
    """Set torch's intra-op threads for this process and its future children; returns (and logs) the choice."""
    import torch

    choice = choose_torch_threads(setting, n_parameters)
    _inherited_omp_threads()  # read the inherited value before overwriting it
    torch.set_num_threads(choice.threads)
    # What torch now uses, read back: the number a run records is the one its updates ran with.
    choice = dataclasses.replace(choice, threads=torch.get_num_threads())
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(choice.threads)
    log.info(
        "torch threads: %d (%s; network of %s parameters, CPU budget %d)",
        choice.threads,
        choice.source,
        f"{n_parameters:,}",
        choice.budget,
    )
    return choice
