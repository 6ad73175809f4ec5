"""A plain `pip install .` gets everything a run needs: configs, the sweeper plugin, reference data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hierl.config import paths

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_carries_the_configs_the_sweeper_and_the_reference_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("hierl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {str(p.relative_to(REPO)) for p in (REPO / "conf").rglob("*.yaml")}
    assert {f"hierl/{name}" for name in configs} <= names
    assert "hydra_plugins/hierl_optuna_sweeper/sweeper.py" in names
    assert "hydra_plugins/__init__.py" not in names  # a namespace package, shared with other Hydra plugins
    assert "hierl/data/reference/sectors.csv" in names


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
