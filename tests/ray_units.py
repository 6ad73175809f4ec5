"""Small units for tests/test_ray_cluster.py: each writes a small run folder in a second or two, so where units run,
how their folders travel and what Ray retries are tested without training anything.

Ray workers import this module by name, so every node must be able to import it: the tests ship it with
`multistage.ray.runtime_env` (`working_dir`), as a user ships code to machines without this checkout.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hierl.tracking.run_state import mark_finished

RESULT_FILE = "result.json"
STATE_FILE = "checkpoints/step_1/state.bin"
STATE_BYTES = bytes(range(256)) * 4
PARTIAL_FILE = "partial.txt"


@dataclass(frozen=True)
class FolderWriter:
    """A `FolderJob`: writes `run_dir`, copying the text of `source` (a file outside it) when it has one.

    `attempts`: a folder where each attempt leaves a mark named after its unit and node (the test's nodes all run
    on this machine, so they share it). `linger_on`: a Ray node id on which the unit waits to be killed.
    `crash_first`: the first attempt ends its worker process, as a worker killed by the system would.
    """

    name: str
    run_dir: Path
    source: Path | None = None
    attempts: Path | None = None
    linger_on: str | None = None
    crash_first: bool = False
    hold_seconds: float = 1.5

    def inputs(self) -> tuple[Path, ...]:
        return (self.source,) if self.source is not None else ()

    def relocated(self, run_dir: Path, inputs: Mapping[Path, Path]) -> FolderWriter:
        source = inputs.get(self.source, self.source) if self.source is not None else None
        return replace(self, run_dir=run_dir, source=source)


def node_id() -> str:
    """This Ray node's id, or "local" outside Ray (asking Ray's runtime context would start a Ray)."""
    import ray

    return str(ray.get_runtime_context().get_node_id()) if ray.is_initialized() else "local"


def write_folder(job: FolderWriter) -> dict[str, Any]:
    """What the unit did: reused its finished folder (writing nothing), or wrote it (where, on which node)."""
    result = job.run_dir / RESULT_FILE
    if result.is_file():  # a finished folder is reused, as `hierl.orchestration.ppo_stage.reuse_or_run` does
        return {**json.loads(result.read_text()), "reused": True}
    node = node_id()
    if job.attempts is not None:
        earlier = list(job.attempts.glob(f"{job.name}--*"))
        (job.attempts / f"{job.name}--{len(earlier)}--{node}").touch()
        if job.crash_first and not earlier:
            os._exit(1)
    if job.linger_on == node:
        time.sleep(120)  # until the test removes this node
    state = job.run_dir / STATE_FILE
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(STATE_BYTES)
    copied = job.source.read_text() if job.source is not None else None
    time.sleep(job.hold_seconds)  # the units overlap, so each node's one CPU is taken by one of them
    record = {"name": job.name, "node": node, "written_in": str(job.run_dir), "copied": copied}
    result.write_text(json.dumps(record))
    mark_finished(job.run_dir)  # as every hierl unit ends: run_state.json says "finished"
    return {**record, "reused": False}


def fail_after_writing(job: FolderWriter) -> None:
    """A unit that writes part of its folder, then raises (its own error, which Ray must not retry)."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    (job.run_dir / PARTIAL_FILE).write_text(f"written in {job.run_dir}")
    raise RuntimeError("the unit's own error")
