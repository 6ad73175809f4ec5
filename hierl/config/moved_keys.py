"""Command-line keys that moved into a section of their own, and the one rewrite that keeps old command lines working.

The multi-stage keys (`seeds`, `asset_classes`, `stages`, `stage_overrides`, `distributed`, `num_workers`, `ray`)
live in the `multistage` group since they configure multi-stage runs, not one stage. Commands typed before the move
(`experiments/train_all_agents.py seeds=[0,1] distributed=true`) keep working: each entrypoint rewrites such an
override to its new key before Hydra composes, and logs the new spelling once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

MOVED_KEYS: dict[str, str] = {
    name: f"multistage.{name}"
    for name in ("asset_classes", "seeds", "stages", "stage_overrides", "distributed", "num_workers", "ray")
}


def renamed(override: str) -> str:
    """`override` with a moved top-level key replaced by its new one: `+seeds=[0]` -> `+multistage.seeds=[0]`."""
    body = override.lstrip("+~")
    prefix = override[: len(override) - len(body)]
    key, sep, value = body.partition("=")
    head, dot, rest = key.partition(".")
    if head not in MOVED_KEYS:
        return override
    return f"{prefix}{MOVED_KEYS[head]}{dot}{rest}{sep}{value}"


def rename_moved_keys(overrides: Sequence[str]) -> list[str]:
    """Every override with its moved key renamed; a note on stderr names each new spelling."""
    result = [renamed(override) for override in overrides]
    for before, after in zip(overrides, result, strict=True):
        if before != after:
            print(f"note: {before.split('=', 1)[0]} is now {after.split('=', 1)[0]}", file=sys.stderr)
    return result


def rename_argv() -> None:
    """`rename_moved_keys` on this process's command line, before a Hydra main reads it."""
    sys.argv[1:] = rename_moved_keys(sys.argv[1:])
