"""The `info` dict of an env step, cheap to deep-copy.

SB3's `DummyVecEnv` deep-copies every env's info on every step. `copy.deepcopy` walks a dict item by item
through its generic dispatch, which for the ten or so floats of a trading step costs more than the step itself
(about 2 us against 1.7 us here). Almost every value in a step's info is an immutable scalar, which a deep copy
may share, so `StepInfo` copies those by reference and deep-copies only the rest (arrays, lists, whatever a
wrapper adds). It is a plain `dict` in every other respect.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

_IMMUTABLE_SCALARS = frozenset({int, float, bool, str, bytes, type(None), np.float64, np.float32, np.int64, np.bool_})


class StepInfo(dict[str, Any]):
    """A step's `info`; `copy.deepcopy` of it gives an independent `StepInfo` with the same contents."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> StepInfo:
        return StepInfo(
            {
                key: value if type(value) in _IMMUTABLE_SCALARS else copy.deepcopy(value, memo)
                for key, value in self.items()
            }
        )
