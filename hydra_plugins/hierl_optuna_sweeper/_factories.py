"""Samplers and pruners from `hydra.sweeper.sampler` / `hydra.sweeper.pruner`, checked before any trial runs."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.pruners import BasePruner, NopPruner
from optuna.samplers import BaseSampler, TPESampler

from hydra_plugins.hierl_optuna_sweeper.config import PRUNERS, SAMPLERS
from hydra_plugins.hierl_optuna_sweeper.errors import SweeperConfigError


def build_sampler(node: Any, seed_offset: int = 0) -> BaseSampler:
    """The sampler of a `_target_` node, its `seed` (if set) moved on by `seed_offset`.

    A resumed sweep passes the number of trials the study already holds: a seeded sampler restarted with its first
    seed would propose the same points as the first run, and the offset keeps the resumed sweep reproducible.
    """
    if node is None:
        return TPESampler()
    if seed_offset and isinstance(node, DictConfig) and node.get("seed") is not None:
        node = OmegaConf.to_container(node, resolve=True)
        node["seed"] += seed_offset
    sampler = _instantiate(node, "sampler", SAMPLERS)
    if not isinstance(sampler, BaseSampler):
        raise SweeperConfigError(_not_a("sampler", sampler, SAMPLERS))
    return sampler


def build_pruner(node: Any) -> BasePruner:
    """The configured pruner; jobs build it again from their own config to decide whether to stop."""
    if node is None:
        return NopPruner()
    pruner = _instantiate(node, "pruner", PRUNERS)
    if not isinstance(pruner, BasePruner):
        raise SweeperConfigError(_not_a("pruner", pruner, PRUNERS))
    return pruner


def _instantiate(node: Any, kind: str, options: dict[str, type]) -> Any:
    if not isinstance(node, DictConfig | dict):
        return node
    try:
        return instantiate(node)
    except InstantiationException as error:
        raise SweeperConfigError(f"hydra.sweeper.{kind} cannot be built: {error}. {_pick(kind, options)}") from None


def _not_a(kind: str, value: Any, options: dict[str, type]) -> str:
    return f"hydra.sweeper.{kind} is {type(value).__name__}, not an Optuna {kind}. {_pick(kind, options)}"


def _pick(kind: str, options: dict[str, type]) -> str:
    names = ", ".join(options)
    return f"Pick one of {names} with `override /hydra/sweeper/{kind}: <name>` (or hydra/sweeper/{kind}=<name>)."
