"""Where the YAML config tree lives: inside the installed package, or beside it in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """`hierl/conf` in an installed wheel, `<checkout>/conf` in an editable install or a source tree."""
    for candidate in (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"hierl's config tree was not found beside {_PACKAGE_DIR}; reinstall hierl (pip install .)")
