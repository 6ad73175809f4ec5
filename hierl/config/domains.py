"""The allowed range of each numeric config value, checked once when the composed config becomes dataclasses.

The schemas' type check lets `agent.gamma=2.0` or `env.cost_bps=-1` through; left alone, such a value trains
silently on nonsense or fails with a traceback long after the data was built. Each schema module lists its
ranges as a table of `Interval`s and checks them with `check_ranges`, so every message has one shape:
`agent.gamma=2.0 must lie in (0, 1]`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hierl.errors import ConfigError, UserError


@dataclass(frozen=True)
class Interval:
    """A range of finite numbers; `optional` also allows null (None), which the message then mentions."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    optional: bool = False

    def contains(self, value: float | None) -> bool:
        """True for a finite number in the range (NaN and inf never are), or None when `optional`."""
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self, value: float | None = None) -> str:
        """How a message states the range: `lie in (0, 1]`, `be >= 1`, `be a finite number > 0`, `..., or null`.

        A one-sided range says "a finite number" unless `value` is an int, so `inf` is not read as in range."""
        if math.isinf(self.high) or math.isinf(self.low):
            bound = f"{'>' if self.low_open else '>='} {self.low:g}"
            if math.isinf(self.low):
                bound = f"{'<' if self.high_open else '<='} {self.high:g}"
            is_int = isinstance(value, int) and not isinstance(value, bool)
            text = f"be {bound}" if is_int else f"be a finite number {bound}"
        else:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"lie in {left}{self.low:g}, {self.high:g}{right}"
        return text + (", or null" if self.optional else "")


POSITIVE = Interval(0.0, low_open=True)
NON_NEGATIVE = Interval(0.0)
AT_LEAST_ONE = Interval(1.0)
# Discount factors and soft-update rates: 0 would ignore the future or never update.
UNIT_OPEN_BELOW = Interval(0.0, 1.0, low_open=True)
UNIT = Interval(0.0, 1.0)
UNIT_OPEN = Interval(0.0, 1.0, low_open=True, high_open=True)


def check_value(key: str, value: float | None, interval: Interval, error: type[UserError] = ConfigError) -> None:
    """Raise one `error` naming `key`, its value and the allowed range, unless the value lies in it.

    `error` lets a layer keep its own error type (the data layer raises DataError for `data.*` values)."""
    if not interval.contains(value):
        raise error(f"{key}={value} must {interval.describe(value)}")


def check_ranges(
    cfg: object, ranges: Mapping[str, Interval], prefix: str, error: type[UserError] = ConfigError
) -> None:
    """Check each field named in `ranges` of the dataclass `cfg`; keys in messages read `<prefix>.<field>`."""
    for name, interval in ranges.items():
        check_value(f"{prefix}.{name}", getattr(cfg, name), interval, error)
