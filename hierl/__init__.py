"""hierl: Hydra-configured hierarchical reinforcement learning for trading research."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_config", "make_env"]

if TYPE_CHECKING:
    from hierl.api import load_config, make_env


def __getattr__(name: str) -> Any:
    # Lazy, so `import hierl` stays cheap for the CLI's argument errors and for tools that only read the version.
    if name in ("load_config", "make_env"):
        from hierl import api

        return getattr(api, name)
    raise AttributeError(f"module 'hierl' has no attribute {name!r}")
