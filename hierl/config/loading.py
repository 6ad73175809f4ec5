"""From Hydra's composed DictConfig to typed dataclasses, once, at the entrypoint."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from hierl.config.checks import check_composed_keys, check_train_config
from hierl.config.moved_keys import rename_moved_keys
from hierl.config.paths import config_dir
from hierl.config.run import ComposedConfig, TrainConfig
from hierl.config.store import register_configs


def to_train_config(cfg: DictConfig) -> TrainConfig:
    """Resolve interpolations and convert to dataclasses; code below the entrypoint never sees a DictConfig.

    A key no schema has, or a value outside its range, raises one ConfigError (a UserError) here, before any
    data is read.
    """
    check_composed_keys(cfg)
    composed = OmegaConf.to_object(cfg)
    if not isinstance(composed, ComposedConfig):
        raise TypeError(f"expected a ComposedConfig, got {type(composed).__name__}")
    config: TrainConfig = TrainConfig(
        **{item.name: getattr(composed, item.name) for item in dataclasses.fields(composed)}
    )
    check_train_config(config)
    return config


def load_config(overrides: Sequence[str] = (), output_dir: str = "outputs/notebook") -> TrainConfig:
    """Compose the training config outside a Hydra app (notebooks, scripts, tests).

    `overrides` use the command-line syntax: `["asset=commodity", "agent.learning_rate=1e-3"]`.
    """
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=[*rename_moved_keys(overrides), f"paths.output_dir={output_dir}"])
    return to_train_config(cfg)


def flat_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config as flat dotted keys, for trackers and run comparison (sections in `ComposedConfig`'s order)."""
    nested = dataclasses.asdict(cfg)
    order = [item.name for item in dataclasses.fields(ComposedConfig)]
    return flatten({name: nested[name] for name in order})


def flatten(nested: Any) -> dict[str, Any]:
    """Nested mappings as flat dotted keys (`{"agent": {"gamma": 0.99}}` -> `{"agent.gamma": 0.99}`)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = node

    walk("", nested)
    return flat
