"""Runs independent units of work (asset classes x seeds) one after another or as Ray tasks.

A unit that fails is reported with its error and costs nobody else's result: the caller gets one outcome per
unit, in the order given, whatever happened to the others.
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hierl.errors import UserError, require_extra
from hierl.tracking.heartbeat import heartbeat
from hierl.tracking.logging import get_logger

log = get_logger("execution")

T = TypeVar("T")


@dataclass(frozen=True)
class Unit(Generic[T]):
    """One independent piece of work: `fn(*args)` must be a module-level function so Ray can ship it."""

    name: str
    fn: Callable[..., T]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class UnitOutcome(Generic[T]):
    """What became of one unit: its value, or the error that stopped it."""

    name: str
    value: T | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ExecutionConfig:
    """Where units run: in this process, or as Ray tasks on a local or an existing Ray cluster."""

    distributed: bool = False
    num_workers: int = 2
    cpus_per_worker: float = 1.0
    address: str | None = None


def _run_one(unit: Unit[T]) -> UnitOutcome[T]:
    try:
        return UnitOutcome(unit.name, value=unit.fn(*unit.args))
    except Exception as error:
        log.error("unit %s failed: %s", unit.name, error)
        return UnitOutcome(
            unit.name, error=f"{type(error).__name__}: {error}", details={"traceback": traceback.format_exc()}
        )


def run_units(units: Sequence[Unit[T]], config: ExecutionConfig) -> list[UnitOutcome[T]]:
    """Run every unit; never raises for a unit's failure (see each outcome's `error`)."""
    if not config.distributed:
        return [_run_one(unit) for unit in units]
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


def _connect_ray(config: ExecutionConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    if config.address:
        _check_reachable(config.address)
        try:
            ray.init(address=config.address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(
                f"cannot reach the Ray cluster at multistage.ray.address={config.address!r} ({error}); start it "
                "with `ray start --head` or drop multistage.ray.address to use a local Ray"
            ) from None
        return
    ray.init(
        num_cpus=max(1, int(config.num_workers * config.cpus_per_worker)),
        include_dashboard=False,
        log_to_driver=False,
        # Workers must import hierl from the same place as this process.
        runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}},
    )


def _run_on_ray(units: Sequence[Unit[T]], config: ExecutionConfig) -> list[UnitOutcome[T]]:
    require_ray()
    import ray

    if config.num_workers < 1 or config.cpus_per_worker <= 0:
        raise UserError("multistage.num_workers must be >= 1 and multistage.ray.cpus_per_worker > 0")
    _connect_ray(config)
    remote_run: Any = ray.remote(num_cpus=config.cpus_per_worker, max_retries=0)(_run_one)
    refs = [remote_run.remote(unit) for unit in units]
    outcomes: list[UnitOutcome[T]] = []

    def collected() -> str:
        return f"{len(outcomes)}/{len(units)} units collected"

    # The units' own logs stay in their run folders; the driver says it is alive while it waits for them.
    with heartbeat(f"{len(units)} units on Ray", status=collected):
        for unit, ref in zip(units, refs, strict=True):
            try:
                outcomes.append(ray.get(ref))
            except Exception as error:  # a worker that died (out of memory, killed) rather than a unit that raised
                log.error("unit %s was lost: %s", unit.name, error)
                outcomes.append(UnitOutcome(unit.name, error=f"{type(error).__name__}: {error}"))
    return outcomes
