"""A plain `pip install .` gets everything a run needs: configs, the sweeper plugin, reference data."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hierl.config import paths

REPO = Path(__file__).resolve().parent.parent


# The console scripts an installed hierl puts on the PATH, and the extras its base install leaves out.
CONSOLE_SCRIPTS = {
    "hierl-train": "hierl.train:main",
    "hierl-evaluate": "hierl.evaluate:main",
    "hierl-compare": "hierl.compare:main",
    "hierl-train-all": "hierl.train_all:main",
    "hierl-train-ppo-agents": "hierl.train_ppo_agents:main",
    "hierl-pretrain-cql": "hierl.pretrain_cql:main",
    "hierl-benchmark": "hierl.benchmark:main",
}
EXTRAS = ("ray", "tensorboard", "wandb")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hierl built as a wheel, the way `pip install .` builds it."""
    folder = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(folder), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = folder.glob("hierl-*.whl")
    return built


def wheel_file(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode()


@pytest.mark.slow
def test_the_wheel_carries_the_configs_the_sweeper_and_the_reference_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {str(p.relative_to(REPO)) for p in (REPO / "conf").rglob("*.yaml")}
    assert {f"hierl/{name}" for name in configs} <= names
    assert "hydra_plugins/hierl_optuna_sweeper/sweeper.py" in names
    assert "hydra_plugins/__init__.py" not in names  # a namespace package, shared with other Hydra plugins
    assert "hierl/data/reference/sectors.csv" in names


@pytest.mark.slow
def test_the_wheel_has_every_console_script_and_leaves_the_extras_out_of_its_requirements(wheel: Path) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel_file(wheel, ".dist-info/entry_points.txt"))
    scripts = dict(entry_points["console_scripts"])
    assert {name: scripts.get(name) for name in CONSOLE_SCRIPTS} == CONSOLE_SCRIPTS
    requires = [
        line.split(":", 1)[1].strip()
        for line in wheel_file(wheel, ".dist-info/METADATA").splitlines()
        if line.startswith("Requires-Dist:")
    ]
    for extra in EXTRAS:
        # `ray>=2.40; extra == 'ray'`: each requirement of the package names the extra that brings it, never none.
        markers = {r.partition(";")[2].strip() for r in requires if r.split(">")[0].split(";")[0].strip() == extra}
        assert markers == {f"extra == '{extra}'", "extra == 'all'", "extra == 'dev'"}, (extra, markers)


@pytest.mark.slow
def test_an_installed_wheel_finds_its_config_tree_and_runs_its_commands(wheel: Path, tmp_path: Path) -> None:
    # The wheel's files in a folder of their own, first on the path: hierl, its conf/ and its scripts come from there,
    # not from this checkout (the dependencies are this environment's).
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)

    where = run(sys.executable, "-c", "import hierl; from hierl.config.paths import config_dir; print(config_dir())")
    assert where.stdout.strip() == str(target / "hierl" / "conf"), where.stderr[-2000:]
    composed = run(sys.executable, "-m", "hierl.train_all", "--cfg", "job", "debug=smoke", "agent=sac")
    assert composed.returncode == 0 and "name: sac" in composed.stdout, composed.stderr[-2000:]
    for script in CONSOLE_SCRIPTS:
        if script in ("hierl-evaluate", "hierl-compare"):
            continue  # their --help is their own, not the page of the train.yaml commands
        shown = run(str(target / "bin" / script), "--help")
        assert shown.returncode == 0 and shown.stdout.startswith("usage: python -m hierl."), (script, shown.stderr)


def test_the_config_tree_is_found_inside_an_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "hierl"
    (package / "conf").mkdir(parents=True)
    (package / "conf" / "train.yaml").write_text("defaults: []\n")
    monkeypatch.setattr(paths, "_PACKAGE_DIR", package)
    assert paths.config_dir() == package / "conf"


def test_a_missing_config_tree_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "_PACKAGE_DIR", tmp_path / "hierl")
    with pytest.raises(FileNotFoundError, match="reinstall hierl"):
        paths.config_dir()
