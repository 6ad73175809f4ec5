"""Runs independent units of work (asset classes x seeds) one after another or as Ray tasks.

A unit that fails is reported with its error and costs nobody else's result: the caller gets one outcome per
unit, in the order given, whatever happened to the others. Each outcome names the node it ran on.

This is the one module that talks to Ray. On a cluster of several machines (docs/distributed.md#multi-node) it
passes Ray the job's runtime environment (how the code reaches the nodes), streams the units' logs to this console,
lets Ray rerun a unit whose worker or node died (`max_retries`), and, unless every node sees the run folder
(`storage=shared`), runs each unit that names its folder in a node-local scratch folder and brings that folder
back (`hierl.orchestration.unit_folders`).
"""

from __future__ import annotations

import difflib
import os
import socket
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from hierl.errors import UserError, require_extra
from hierl.orchestration.unit_folders import (
    SHARED,
    FolderJob,
    Parcel,
    Returned,
    check_storage,
    discard,
    receive,
    run_node_local,
    send,
)
from hierl.tracking.heartbeat import heartbeat
from hierl.tracking.logging import get_logger
from hierl.tracking.run_state import read_state

log = get_logger("execution")

T = TypeVar("T")
RUNTIME_ENV_DOCS = "https://docs.ray.io/en/latest/ray-core/handling-dependencies.html"


@dataclass(frozen=True)
class Unit(Generic[T]):
    """One independent piece of work: `fn(*args)`, or `fn(job, *args)` for a unit that writes one run folder.

    `fn` must be a module-level function so Ray can ship it. A unit given its `job` (a `FolderJob`: a PPO, CQL or
    SAC job) may run in a node-local scratch folder when run folders travel (`multistage.ray.storage`); a unit
    without one runs as it is, so whatever it writes must be on a filesystem every node sees.
    """

    name: str
    fn: Callable[..., T]
    args: tuple[Any, ...] = ()
    job: FolderJob | None = None


@dataclass(frozen=True)
class Node:
    """Where a unit ran: the host, and Ray's node id when it ran as a Ray task."""

    hostname: str
    ray_node_id: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The summary's `node` entry of a unit."""
        entry = {"hostname": self.hostname}
        if self.ray_node_id is not None:
            entry["ray_node_id"] = self.ray_node_id
        return entry


@dataclass(frozen=True)
class UnitOutcome(Generic[T]):
    """What became of one unit: its value, or the error that stopped it, and the node it ran on (None when its
    node was lost before it could say)."""

    name: str
    value: T | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    node: Node | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ExecutionConfig:
    """Where units run: in this process, or as Ray tasks on a local Ray or an existing Ray cluster.

    The Ray settings are `multistage.ray.*` (`hierl.config.run.RayConfig` says what each means); `storage`,
    `runtime_env`, `log_to_driver` and `max_retries` matter only with `distributed=True`.
    """

    distributed: bool = False
    num_workers: int = 2
    cpus_per_worker: float = 1.0
    address: str | None = None
    storage: str = SHARED
    runtime_env: dict[str, Any] | None = None
    log_to_driver: bool | None = None
    max_retries: int = 2


def _call(unit: Unit[T], job: FolderJob | None) -> T:
    return unit.fn(job, *unit.args) if job is not None else unit.fn(*unit.args)


def _run_one(unit: Unit[T], job: FolderJob | None, node: Node) -> UnitOutcome[T]:
    try:
        return UnitOutcome(unit.name, value=_call(unit, job), node=node)
    except Exception as error:
        log.error("unit %s failed: %s", unit.name, error)
        return UnitOutcome(
            unit.name,
            error=f"{type(error).__name__}: {error}",
            details={"traceback": traceback.format_exc()},
            node=node,
        )


def run_units(units: Sequence[Unit[T]], config: ExecutionConfig) -> list[UnitOutcome[T]]:
    """Run every unit; never raises for a unit's failure (see each outcome's `error`)."""
    if not config.distributed:
        here = Node(socket.gethostname())
        return [_run_one(unit, unit.job, here) for unit in units]
    return _run_on_ray(units, config)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's long connection retries, when a `host:port` address does not answer."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms are Ray's to interpret
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            pass
    except OSError as error:
        raise UserError(
            f"cannot reach the Ray cluster at multistage.ray.address={address!r} ({error}); start it with "
            "`ray start --head` or drop multistage.ray.address to use a local Ray"
        ) from None


def require_ray() -> None:
    """Ray is an extra (`hierl[ray]`): without it, `multistage.distributed=true` is one line naming the extra."""
    require_extra("ray", "ray", "multistage.distributed=true")


def runtime_env(config: ExecutionConfig) -> dict[str, Any] | None:
    """The job's runtime environment: `multistage.ray.runtime_env` as given, else this process's PYTHONPATH (so
    workers import hierl from the same place as this process when every node sees it)."""
    if config.runtime_env is not None:
        return dict(config.runtime_env)
    pythonpath = os.environ.get("PYTHONPATH", "")
    return {"env_vars": {"PYTHONPATH": pythonpath}} if pythonpath else None


def check_runtime_env(env: dict[str, Any] | None) -> None:
    """One line for a runtime environment Ray would refuse (or, for an unknown key, fail on every node later)."""
    if env is None:
        return
    from ray.runtime_env import RuntimeEnv

    known = sorted(getattr(RuntimeEnv, "known_fields", ()))
    unknown = [key for key in env if known and key not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"Ray's keys are {[k for k in known if k[0] != '_']}"
        raise UserError(f"multistage.ray.runtime_env has no key {unknown[0]!r}; {hint} (see {RUNTIME_ENV_DOCS})")
    local = [env.get("working_dir"), *env.get("py_modules", [])]
    for path in local:
        if isinstance(path, str) and "://" not in path and not Path(path).exists():
            raise UserError(
                f"multistage.ray.runtime_env names {path!r}, which does not exist here (a relative path is relative "
                "to the folder the command runs in); Ray uploads local working_dir and py_modules from this machine"
            )
    try:
        RuntimeEnv(**env)
    except (TypeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"multistage.ray.runtime_env={env!r} is not a Ray runtime_env ({first}); see {RUNTIME_ENV_DOCS}"
        ) from None


def _connect_ray(config: ExecutionConfig) -> None:
    import ray

    env = runtime_env(config)
    check_runtime_env(env)
    if ray.is_initialized():
        return
    # Units' logs on this console: on a cluster they are the only view of what a node does; a local Ray's units
    # already write their logs into their run folders on this machine.
    to_driver = config.log_to_driver if config.log_to_driver is not None else config.address is not None
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": to_driver, "runtime_env": env}
    if config.address:
        _check_reachable(config.address)
        try:
            ray.init(address=config.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(
                f"cannot reach the Ray cluster at multistage.ray.address={config.address!r} ({error}); start it "
                "with `ray start --head` or drop multistage.ray.address to use a local Ray"
            ) from None
        return
    # "local": always a new Ray of this process's size, never the cluster `ray start` last recorded on this
    # machine nor RAY_ADDRESS (joining one is what multistage.ray.address is for).
    ray.init(address="local", num_cpus=max(1, int(config.num_workers * config.cpus_per_worker)), **options)


def _on_ray_node(unit: Unit[T], parcel: Parcel | None) -> tuple[UnitOutcome[T], Returned | None]:
    """One unit as a Ray task: in the driver's run folder, or in a node-local one that goes back (`parcel`)."""
    import ray

    node = Node(socket.gethostname(), ray.get_runtime_context().get_node_id())
    if parcel is None or unit.job is None:
        return _run_one(unit, unit.job, node), None
    return run_node_local(parcel, unit.job, lambda job: _run_one(unit, job, node))


def _check_ray_config(config: ExecutionConfig) -> None:
    if config.num_workers < 1 or config.cpus_per_worker <= 0:
        raise UserError("multistage.num_workers must be >= 1 and multistage.ray.cpus_per_worker > 0")
    if config.max_retries < 0:
        raise UserError(f"multistage.ray.max_retries={config.max_retries} must be >= 0")
    check_storage(config.storage)


def _collect(unit: Unit[T], ref: Any, parcel: Parcel | None) -> UnitOutcome[T]:
    """A finished task's outcome, with its folder unpacked into the driver's run folder when it travelled."""
    import ray

    try:
        try:
            outcome, returned = ray.get(ref)
        except Exception as error:  # a worker or node that died (out of memory, killed) past its retries
            log.error("unit %s was lost: %s", unit.name, error)
            return UnitOutcome(unit.name, error=f"{type(error).__name__}: {error}")
        if returned is None or parcel is None or unit.job is None:
            return outcome
        try:
            receive(unit.job, parcel, returned)
        except Exception as error:  # a full disk here, or storage that stopped answering
            where = outcome.node.hostname if outcome.node else "its node"
            log.error("unit %s: its run folder did not come back from %s: %s", unit.name, where, error)
            return replace(outcome, value=None, error=f"its run folder did not come back from {where}: {error}")
        return outcome
    finally:
        if parcel is not None:
            _discard(unit, parcel)


def _discard(unit: Unit[Any], parcel: Parcel) -> None:
    """Delete a unit's archives from storage; a failure costs some storage space, never the unit's result."""
    try:
        discard(parcel)
    except Exception as error:
        log.warning("unit %s: its archives stay in %s (%s)", unit.name, parcel.storage, error)


def _run_on_ray(units: Sequence[Unit[T]], config: ExecutionConfig) -> list[UnitOutcome[T]]:
    require_ray()
    import ray

    _check_ray_config(config)
    _connect_ray(config)
    # max_retries: Ray reruns a task whose worker or node died (a system failure); the unit's own exception is
    # caught in `_run_one`, so it is reported, never retried.
    remote_run: Any = ray.remote(num_cpus=config.cpus_per_worker, max_retries=config.max_retries)(_on_ray_node)
    pending: dict[Any, tuple[int, Parcel | None]] = {}
    outcomes: dict[int, UnitOutcome[T]] = {}
    here = Node(socket.gethostname())
    for index, unit in enumerate(units):
        job = unit.job if config.storage != SHARED else None  # the folder of a unit whose folder travels
        if job is not None and read_state(job.run_dir)["status"] == "finished":
            # Reuse (or refusal) needs only the driver's copy: shipping the folder to a node to learn that would
            # zip and send every model of a rerun for nothing.
            outcomes[index] = _run_one(unit, job, here)
            continue
        try:
            parcel = send(job, config.storage) if job is not None else None
        except OSError as error:  # an input or folder this machine cannot read, or storage that stopped answering
            log.error("unit %s: its run folder could not be sent: %s", unit.name, error)
            outcomes[index] = UnitOutcome(unit.name, error=f"its run folder could not be sent: {error}")
            continue
        # The task holds the archive now; the driver keeps only what it needs to receive and discard.
        pending[remote_run.remote(unit, parcel)] = (index, replace(parcel, archive=None) if parcel else None)

    def collected() -> str:
        return f"{len(outcomes)}/{len(units)} units collected"

    # The driver says it is alive while it waits; each unit's folder comes back as soon as the unit ends.
    with heartbeat(f"{len(units)} units on Ray", status=collected):
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index, parcel = pending.pop(ref)
            outcomes[index] = _collect(units[index], ref, parcel)
    return [outcomes[index] for index in range(len(units))]
