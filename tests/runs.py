"""hierl's entrypoints run as a user runs them, in a subprocess: one way for every end-to-end test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO

# A walk-forward of two short folds on a small synthetic file (`data.path=` it), one inner fold for SAC's
# out-of-fold signals, every budget at its smallest: the whole run in about a minute of CPU.
# The meta-controller's smoke budget inside a walk-forward (its units get no `debug` preset of their own).
SAC_SMOKE = "multistage.stage_overrides.sac=['agent.total_timesteps=512','agent.learning_starts=256']"
WALK_FORWARD_SMOKE = (
    "debug=smoke",
    "data=csv",
    "data.start=null",
    "walk_forward.folds=2",
    "walk_forward.train_years=1.0",
    "walk_forward.val_years=0.2",
    "walk_forward.test_years=0.2",
    "walk_forward.oof_folds=1",
    "walk_forward.oof_years=0.3",
    "agent.total_timesteps=512",
    "agent.n_steps=128",
    "agent.eval_freq=512",
    "agent.checkpoint_freq=256",
    SAC_SMOKE,
)


def hierl_walk_forward(*overrides: str) -> list[str]:
    """`python -m hierl.walk_forward <overrides>`."""
    return [sys.executable, "-m", "hierl.walk_forward", *overrides]


def hierl_train(*overrides: str) -> list[str]:
    """`python -m hierl.train <overrides>`."""
    return [sys.executable, "-m", "hierl.train", *overrides]


def experiment(script: str, *overrides: str) -> list[str]:
    """`python experiments/<script>.py <overrides>`."""
    return [sys.executable, str(REPO / "experiments" / f"{script}.py"), *overrides]


def run_ok(command: list[str], timeout: float = 600, **popen: Any) -> subprocess.CompletedProcess[str]:
    """`command` run to its end; the test fails with the end of its stderr unless it exits 0."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **popen)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def replay(run_dir: Path, *overrides: str, **popen: Any) -> Path:
    """`python -m hierl.evaluate run_dir=<run_dir> <overrides>`; the replay folder it created."""
    before = set(run_dir.parent.glob(f"{run_dir.name}_replay_*"))
    run_ok([sys.executable, "-m", "hierl.evaluate", f"run_dir={run_dir}", *overrides], timeout=300, **popen)
    (created,) = set(run_dir.parent.glob(f"{run_dir.name}_replay_*")) - before
    return created


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def metrics_without_timing(run_dir: Path) -> dict[str, float]:
    """A finished run's metrics without its wall-clock time, which no two runs share."""
    metrics: dict[str, float] = read_json(run_dir / "metrics.json")
    return {k: v for k, v in metrics.items() if k != "train/seconds"}
