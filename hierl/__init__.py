"""hierl: Hydra-configured hierarchical reinforcement learning for trading research."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_config", "make_env", "make_vec_env"]

if TYPE_CHECKING:
    from hierl.api import load_config, make_env, make_vec_env


def _silence_legacy_gym_notice() -> None:
    """Keep the legacy `gym` package's deprecation notice out of every command's stderr, without importing gym.

    d3rlpy installs the legacy `gym`, which d3rlpy and Stable-Baselines3 import when present; on import, gym prints
    the notice that `gym_notices.notices` holds for its version. hierl only uses gymnasium, so the notice is noise.
    Emptying that table (a tiny module) silences it at no cost, where importing gym to swallow the notice cost
    0.2 s on every `import hierl`. Ray workers import hierl before unpickling a unit, so they are silenced too.
    """
    with contextlib.suppress(ImportError, AttributeError):  # no legacy gym, or a gym_notices of another shape
        from gym_notices import notices

        notices.notices.clear()


_silence_legacy_gym_notice()


def __getattr__(name: str) -> Any:
    # Lazy, so `import hierl` stays cheap for the CLI's argument errors and for tools that only read the version.
    if name in ("load_config", "make_env", "make_vec_env"):
        from hierl import api

        return getattr(api, name)
    raise AttributeError(f"module 'hierl' has no attribute {name!r}")
