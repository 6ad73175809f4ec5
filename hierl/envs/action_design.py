"""How an action becomes the weight an episode trades to: the action designs of the single-asset envs.

By default the action is the target position (clip(action) * `env.max_leverage`), traded to in full at every row.
Three `env` options damp that, each off at its default:

- `no_trade_band` b >= 0: no trade while |target - drifted| <= b; outside the band, trade to the target (not to
  the band's edge: the action keeps its meaning, "the position I want", and a held position never depends on
  where the band was crossed).
- `partial_adjustment` a in (0, 1]: move a of the way, drifted + a * (target - drifted).
- `decision_interval` n >= 1: the action counts on steps 0, n, 2n, ... of an episode; on the steps between, the
  position is held (the drifted weight, no trade).

`traded_weight` is the one owner of this mapping. It runs on Python floats in `TradingEnv` and on [K] arrays in
`TradingVecEnv` with the same float operations in the same order, so the two envs agree to the bit. At the
defaults the envs skip it (`ActionDesign.of` returns None): the default step stays as fast as it was and its
numbers stay those it always produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from hierl.config.env import EnvConfig

Weight = TypeVar("Weight", float, np.ndarray)


@dataclass(frozen=True)
class ActionDesign:
    """The action-design options of one env (see the module doc); checked by `validate_env_config`."""

    no_trade_band: float = 0.0
    partial_adjustment: float = 1.0
    decision_interval: int = 1

    @classmethod
    def of(cls, cfg: EnvConfig) -> ActionDesign | None:
        """The env's action design, or None when every option is at its default (the env then trades to the
        target in full and need not call `traded_weight`)."""
        design = cls(float(cfg.no_trade_band), float(cfg.partial_adjustment), int(cfg.decision_interval))
        return None if design == cls() else design


def _select(condition: bool | np.ndarray, if_true: Weight, if_false: Weight | float) -> Weight:
    """`if_true` where `condition` holds, else `if_false`: a conditional on floats, `np.where` on arrays."""
    if isinstance(condition, np.ndarray):
        return np.where(condition, if_true, if_false)  # type: ignore[return-value]
    return if_true if condition else if_false  # type: ignore[return-value]


def traded_weight(
    target: Weight, drifted: Weight, tradable: bool | np.ndarray, step: int | np.ndarray, design: ActionDesign
) -> Weight:
    """The weight a book trades to at one row, given the target its action asks for.

    Args:
        target: the action's target position, clip(action) * max_leverage, in fractions of NAV.
        drifted: the weight the book holds going into the row (drifted with prices since its last trade).
        tradable: whether the asset has a price at the row; where it has none the weight is 0, as without options.
        step: the row's place in its episode (0 at the episode's first row), which decides whether the action
            counts under `decision_interval`.
        design: the options.

    Returns, where tradable (0 elsewhere):
        drifted                                   on a step that is not a multiple of decision_interval;
        drifted                                   when |target - drifted| <= no_trade_band;
        drifted + partial_adjustment * (target - drifted)   otherwise (exactly `target` when it is 1).
    Floats in, a float out; [K] arrays in, a [K] array out.
    """
    weight = target
    if design.partial_adjustment != 1.0:
        weight = drifted + design.partial_adjustment * (target - drifted)
    if design.no_trade_band > 0.0:
        weight = _select(abs(target - drifted) <= design.no_trade_band, drifted, weight)
    if design.decision_interval > 1:
        weight = _select(step % design.decision_interval == 0, weight, drifted)
    return _select(tradable, weight, 0.0)
