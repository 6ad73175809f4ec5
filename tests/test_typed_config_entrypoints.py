"""Entrypoints check the config before they import the heavy libraries, so a bad value stops in seconds.

torch, Stable-Baselines3, d3rlpy and Ray take several seconds to import; every entrypoint turns the composed config
into typed dataclasses first (`to_train_config`, which checks every value) and imports a stage's module only
once the config passed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from runs import experiment, hierl_train

HEAVY = ("torch", "stable_baselines3", "d3rlpy", "ray")
# Generous for a busy shared machine; a run that imports torch first takes several seconds more than this test's
# commands need, and the import check below is the exact guard.
SECONDS = 20.0


def loaded_heavy_modules(code: str) -> list[str]:
    """The heavy modules in `sys.modules` after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    return [name for name in result.stdout.strip().split(",") if name]


def test_importing_the_train_entrypoint_imports_no_heavy_library() -> None:
    assert loaded_heavy_modules("import hierl.train") == []


@pytest.mark.parametrize("script", sorted(p.stem for p in (REPO / "experiments").glob("*.py")))
def test_importing_a_multi_stage_script_imports_no_heavy_library(script: str) -> None:
    code = f"import runpy\nrunpy.run_path({str(REPO / 'experiments' / f'{script}.py')!r}, run_name='probe')"
    assert loaded_heavy_modules(code) == []


@pytest.mark.parametrize(
    ("command", "key"),
    [
        (hierl_train("env.cost_bps=-1"), "env.cost_bps=-1.0 must be a finite number >= 0"),
        (hierl_train("reward.dsr_eta=1.5"), "reward.dsr_eta=1.5 must lie in (0, 1)"),
        (hierl_train("reward.excess_reference=index"), "reward.excess_reference='index'"),
        (experiment("train_all_agents", "multistage.num_workers=0"), "multistage.num_workers=0 must be >= 1"),
        (experiment("train_ppo_agents", "env.cost_bps=-1"), "env.cost_bps=-1.0"),
    ],
)
def test_a_bad_value_stops_at_once_with_one_line_naming_the_key(command: list[str], key: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and lines[0].startswith("error: "), result.stderr[-2000:]
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    # Nothing half-made is left behind: not even the folder Hydra created for the run with its .hydra/.
    assert not (tmp_path / "run").exists()


def test_a_config_mistake_keeps_a_folder_that_holds_a_run(tmp_path: Path) -> None:
    from hierl.entrypoint import remove_unstarted_run_folder

    unstarted, resumed = tmp_path / "unstarted", tmp_path / "resumed"
    for folder in (unstarted, resumed):
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (resumed / "run_state.json").write_text('{"status": "interrupted"}')
    remove_unstarted_run_folder(unstarted)
    remove_unstarted_run_folder(resumed)
    assert not unstarted.exists() and (resumed / "run_state.json").is_file()
