"""hierl: Hydra-configured hierarchical reinforcement learning for trading research."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import TYPE_CHECKING, Any

if importlib.util.find_spec("gym") is not None:
    # d3rlpy installs the legacy `gym`, which Stable-Baselines3 imports when present and which prints a
    # deprecation notice to stderr on import; hierl only uses gymnasium, so that notice is noise in every command.
    with contextlib.redirect_stderr(io.StringIO()):
        import gym  # noqa: F401

__version__ = "0.1.0"
__all__ = ["__version__", "load_config", "make_env", "make_vec_env"]

if TYPE_CHECKING:
    from hierl.api import load_config, make_env, make_vec_env


def __getattr__(name: str) -> Any:
    # Lazy, so `import hierl` stays cheap for the CLI's argument errors and for tools that only read the version.
    if name in ("load_config", "make_env", "make_vec_env"):
        from hierl import api

        return getattr(api, name)
    raise AttributeError(f"module 'hierl' has no attribute {name!r}")
