"""A lean install: Ray, W&B and TensorBoard are extras (`hierl[ray]`, `hierl[wandb]`, `hierl[tensorboard]`).

What this proves, and how. Installing hierl again without the extras into a fresh environment would resolve and
download torch and the rest (gigabytes) for every run of the suite, so the proof is in three parts instead:
- the base requirements (pyproject.toml) name none of the extras, and `all` and `dev` bring them all (the wheel's
  own metadata is checked in test_packaging.py);
- no module of hierl or its sweeper plugin imports an extra when it is imported: every import of one sits inside
  a function (the lazy imports behind `logger=...` and `multistage.distributed=true`), found with `ast`;
- commands run in a subprocess whose import system cannot see the extras (`WITHOUT_EXTRAS` replaces the path
  finder with one that finds neither their modules nor their metadata, as if they were not installed): a smoke
  run trains and reports, and each option that needs an extra stops with one line naming the extra before torch
  is imported.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

from hierl.config.run import LoggerConfig
from hierl.errors import MissingExtraError, require_extra
from hierl.orchestration.execution import ExecutionConfig, Unit, require_ray, run_units
from hierl.tracking.trackers import check_logger

# The module each extra installs, by extra (they share their names).
EXTRAS = ("ray", "tensorboard", "wandb")
HEAVY = ("torch", "stable_baselines3", "d3rlpy")

# Runs `python -c WITHOUT_EXTRAS <module> <args>` as `python -m <module> <args>` with the extras invisible: the
# path finder of `sys.meta_path` is replaced by one that finds neither their modules nor their distributions.
# At exit it writes which heavy libraries were imported into $HIERL_IMPORTED (if set).
WITHOUT_EXTRAS = f"""
import atexit, importlib.util, json, os, runpy, sys
from importlib.machinery import PathFinder

BLOCKED = {EXTRAS!r}


class WithoutExtras:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] in BLOCKED else PathFinder.find_spec(name, path, target)

    @classmethod
    def find_distributions(cls, *args, **kwargs):
        found = PathFinder.find_distributions(*args, **kwargs)
        return (d for d in found if (d.metadata["Name"] or "").lower() not in BLOCKED)

    @classmethod
    def invalidate_caches(cls):
        PathFinder.invalidate_caches()


sys.meta_path[:] = [WithoutExtras if finder is PathFinder else finder for finder in sys.meta_path]
assert all(importlib.util.find_spec(name) is None for name in BLOCKED)
if os.environ.get("HIERL_IMPORTED"):
    atexit.register(
        lambda: open(os.environ["HIERL_IMPORTED"], "w").write(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    )
module, *args = sys.argv[1:]
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def without_extras(
    module: str, *args: str, cwd: Path, imported: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m <module> <args>` with the extras invisible; `imported` receives the heavy libraries it imported."""
    env = {**os.environ, "HIERL_IMPORTED": str(imported) if imported else ""}
    command = [sys.executable, "-c", WITHOUT_EXTRAS, module, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd, env=env, check=False)


def requirement_name(requirement: str) -> str:
    name = requirement
    for separator in "<>=!~;[ ":
        name = name.split(separator, 1)[0]
    return name.lower()


def test_the_base_install_asks_for_no_extra_and_dev_brings_them_all() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {requirement_name(r) for r in project["dependencies"]}.isdisjoint(EXTRAS)
    extras = project["optional-dependencies"]
    for extra in EXTRAS:
        assert [requirement_name(r) for r in extras[extra]] == [extra]
    (everything,) = extras["all"]
    assert everything.startswith("hierl[") and sorted(everything[6:-1].split(",")) == sorted(EXTRAS)
    assert "hierl[all]" in extras["dev"]  # CI and nox install .[dev]: the tests have every extra


def module_level_imports(path: Path, names: tuple[str, ...]) -> list[int]:
    """The lines of every import of `names` that runs when `path` is imported: outside any function and outside
    `if TYPE_CHECKING:`."""
    found: list[int] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(module.split(".")[0] in names for module in modules):
                found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_the_extras_are_imported_only_inside_functions() -> None:
    files = sorted([*(REPO / "hierl").rglob("*.py"), *(REPO / "hydra_plugins").rglob("*.py")])
    eager = [f"{path.relative_to(REPO)}:{line}" for path in files for line in module_level_imports(path, EXTRAS)]
    assert eager == [], f"these import an extra when the module is imported; import it inside the function: {eager}"
    # The lazy imports exist (the check above would pass vacuously if they had moved out of hierl).
    lazy = [path for path in files if any(f"import {name}" in path.read_text() for name in EXTRAS)]
    assert len(lazy) >= 2


def test_the_ast_check_finds_an_eager_import(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text("import ray\n\ndef f():\n    import wandb\n\nif True:\n    from tensorboard import x\n")
    assert module_level_imports(module, EXTRAS) == [1, 7]


@pytest.mark.parametrize("extra", EXTRAS)
def test_a_missing_extra_names_the_install_command(extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, extra, None)  # what the import system reports for a package not installed
    message = rf"^x=y needs {extra}, which is not installed: pip install 'hierl\[{extra}\]'$"
    with pytest.raises(MissingExtraError, match=message):
        require_extra(extra, extra, "x=y")


def test_the_logger_and_ray_checks_ask_only_for_what_they_use(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("none", "csv", "tensorboard", "wandb"):
        check_logger(LoggerConfig(name=name))  # every extra is installed in the test environment
    require_ray()
    for extra in EXTRAS:
        monkeypatch.setitem(sys.modules, extra, None)
    for name in ("none", "csv"):
        check_logger(LoggerConfig(name=name))
    for name in ("tensorboard", "wandb"):
        with pytest.raises(MissingExtraError, match=rf"logger={name} needs {name}.*hierl\[{name}\]"):
            check_logger(LoggerConfig(name=name))
    calls: list[int] = []
    with pytest.raises(MissingExtraError, match=r"multistage.distributed=true needs ray.*hierl\[ray\]"):
        run_units([Unit("unit", calls.append, (1,))], ExecutionConfig(distributed=True))
    assert calls == []  # refused before any unit ran
    assert run_units([Unit("unit", calls.append, (1,))], ExecutionConfig())[0].ok and calls == [1]


@pytest.mark.slow
def test_a_smoke_run_trains_and_reports_without_any_extra(tmp_path: Path) -> None:
    result = without_extras("hierl.train", "debug=smoke", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run folder:" in result.stdout
    assert json.loads((tmp_path / "run" / "run_state.json").read_text())["status"] == "finished"
    assert "Gym has been unmaintained" not in result.stderr  # the legacy gym's notice stays silenced


@pytest.mark.parametrize(
    ("command", "extra", "needed_for"),
    [
        (("hierl.train", "logger=wandb"), "wandb", "logger=wandb"),
        (("hierl.train", "logger=tensorboard"), "tensorboard", "logger=tensorboard"),
        (("hierl.train", "experiment=hierarchy", "multistage.distributed=true"), "ray", "multistage.distributed=true"),
        (("hierl.train_all", "multistage.distributed=true"), "ray", "multistage.distributed=true"),
        (("hierl.train_ppo_agents", "distributed=true"), "ray", "multistage.distributed=true"),  # the old spelling
        (("hierl.benchmark", "debug=smoke"), "ray", "multistage.distributed=true"),  # experiment=benchmark uses Ray
        (("hierl.train_all", "logger=wandb"), "wandb", "logger=wandb"),
    ],
)
def test_an_option_that_needs_a_missing_extra_stops_in_one_line_before_any_work(
    command: tuple[str, ...], extra: str, needed_for: str, tmp_path: Path
) -> None:
    imported = tmp_path / "imported.json"
    module, *args = command
    result = without_extras(module, *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, imported=imported)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("note: ")]
    expected = f"error: {needed_for} needs {extra}, which is not installed: pip install 'hierl[{extra}]'"
    assert lines == [expected], result.stderr[-3000:]
    assert json.loads(imported.read_text()) == []  # no torch, SB3 or d3rlpy: nothing was trained or loaded
    if module == "hierl.train":  # a single run that never started leaves no folder behind
        assert not (tmp_path / "run").exists()
