"""The reward of an env step: a weighted sum of terms built from `RewardConfig`, each reported separately."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hierl.config.env import EXCESS_REFERENCES as EXCESS_REFERENCES
from hierl.config.env import RewardConfig, check_reward_values
from hierl.errors import RewardConfigError
from hierl.rewards.terms import (
    CVaRTerm,
    DifferentialSharpeTerm,
    DrawdownTerm,
    ReturnTerm,
    RewardTerm,
    TurnoverTerm,
    VolatilityTerm,
)

INFO_PREFIX = "reward/"


def signed_weights(cfg: RewardConfig) -> dict[str, float]:
    """Coefficient of each term in the reward, scale included; penalties carry a minus sign.

    Terms with a zero weight are left out, so they cost nothing and do not appear in `info`.
    """
    weights = {
        "return": cfg.return_weight,
        "volatility": -cfg.volatility_penalty,
        "drawdown": -cfg.drawdown_penalty,
        "turnover": -cfg.turnover_penalty,
        "differential_sharpe": cfg.differential_sharpe_weight,
        "cvar": -cfg.cvar_penalty,
    }
    return {name: cfg.scale * weight for name, weight in weights.items() if weight != 0.0}


def term_arguments(name: str, cfg: RewardConfig) -> dict[str, Any]:
    """The config values term `name` is built from, for its episode form (`terms`) and its batched form
    (`batched`) alike: the one place that maps a term to its `RewardConfig` fields."""
    arguments: dict[str, dict[str, Any]] = {
        "return": {"excess": cfg.excess_return},
        "volatility": {"window": cfg.volatility_window},
        "drawdown": {},
        "turnover": {},
        "differential_sharpe": {"eta": cfg.dsr_eta},
        "cvar": {"window": cfg.cvar_window, "alpha": cfg.cvar_alpha},
    }
    if name not in arguments:
        raise RewardConfigError(f"unknown reward term {name!r}; the terms are {', '.join(arguments)}")
    return arguments[name]


EPISODE_TERMS: dict[str, Callable[..., RewardTerm]] = {
    "return": ReturnTerm,
    "volatility": VolatilityTerm,
    "drawdown": DrawdownTerm,
    "turnover": TurnoverTerm,
    "differential_sharpe": DifferentialSharpeTerm,
    "cvar": CVaRTerm,
}


def make_term(name: str, cfg: RewardConfig) -> RewardTerm:
    """The episode-level term object called `name`."""
    arguments = term_arguments(name, cfg)
    return EPISODE_TERMS[name](**arguments)


class RewardFunction:
    """scale * sum(weight_i * term_i) over the active terms of one episode.

    `info_keys` are `reward/<term>`; each holds that term's contribution (scale and sign included), so the
    values in `info` add up to the reward.
    """

    def __init__(self, cfg: RewardConfig) -> None:
        check_reward_values(cfg)
        weights = signed_weights(cfg)
        self._terms = [(INFO_PREFIX + name, weight, make_term(name, cfg)) for name, weight in weights.items()]
        self.info_keys = tuple(key for key, _, _ in self._terms)
        # Bound `__call__` methods: calling an instance looks its `__call__` up on every call, which costs about
        # as much as the simplest term itself, and this runs once per env step.
        self._calls: list[tuple[str, float, Callable[[float, float, float, float], float]]] = [
            (key, weight, term.__call__) for key, weight, term in self._terms
        ]

    def reset(self) -> None:
        for _, _, term in self._terms:
            term.reset()

    def get_state(self) -> dict[str, Any]:
        """Each active term's running state by info key, as plain data (lists, floats, ints)."""
        return {key: term.get_state() for key, _, term in self._terms}

    def set_state(self, state: dict[str, Any]) -> None:
        """Put back what `get_state` returned; the terms must be those of the same `RewardConfig`."""
        if set(state) != set(self.info_keys):
            raise ValueError(f"reward state holds terms {sorted(state)}, this reward has {sorted(self.info_keys)}")
        for key, _, term in self._terms:
            term.set_state(state[key])

    def __call__(
        self, net_return: float, reference_return: float, turnover: float, drawdown: float, info: dict
    ) -> float:
        """The reward of one step; writes each term's contribution into `info`."""
        total = 0.0
        for key, weight, term in self._calls:
            contribution = weight * term(net_return, reference_return, turnover, drawdown)
            info[key] = contribution
            total += contribution
        return total
