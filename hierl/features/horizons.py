"""Feature horizons stated in time (`vol_24h`, `mom_30d`, `ret_15min`) turned into rows (bars).

A name like `vol_21` counts bars, as it always has. A unit after the count states trading time instead: `min` (or
`m`) minutes, `h` hours, `d` trading days, each a day of the class's `hours_per_day` trading hours. The horizon is
that time in bars of the data, rounded to the nearest whole bar:

    bars = count * unit_minutes / bar_minutes, with a day = hours_per_day * 60 trading minutes

so on 24/7 hourly bars `vol_24h` is 24 bars and `rsi_14d` 336; on daily bars `ret_1d` is 1 bar and `vol_24h` on a
6.5-hour equity day is 24 / 6.5 = 3.7, hence 4 bars. A horizon under one bar is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hierl.errors import DataError

# Float error in a span of bars that is meant to be whole (or half) is far below this.
TOLERANCE = 1e-9
TIME_HORIZON = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<count>\d+)(?P<unit>min|m|h|d)$")


@dataclass(frozen=True)
class BarClock:
    """The trading time one bar spans (`bar_minutes`) and one trading day holds (`day_minutes`).

    The default is a daily bar of a 6.5-hour day: one bar a day.
    """

    bar_minutes: float = 390.0
    day_minutes: float = 390.0

    def unit_minutes(self, unit: str) -> float:
        """Trading minutes in one `unit` ("min", "m", "h" or "d")."""
        return {"min": 1.0, "m": 1.0, "h": 60.0, "d": self.day_minutes}[unit]

    def bars(self, count: int, unit: str) -> float:
        """`count` units of trading time in bars, before rounding."""
        return count * self.unit_minutes(unit) / self.bar_minutes


def parse_time_horizon(name: str, kinds: dict[str, tuple[str, ...]], clock: BarClock) -> tuple[str, int] | None:
    """(kind, horizon in bars) of a time-stated name such as `vol_24h`; None when `name` is not one of `kinds`.

    A DataError when the time is shorter than one bar.
    """
    match = TIME_HORIZON.match(name)
    if match is None or match["kind"] not in kinds:
        return None
    exact = clock.bars(int(match["count"]), match["unit"])
    if exact < 1.0 - TOLERANCE:
        raise DataError(
            f"feature {name!r} spans {exact:.3g} bars of {clock.bar_minutes:g} trading minutes, less than one bar. "
            "Fix: a longer horizon in data.features, or a horizon in bars (e.g. "
            f"{match['kind']}_1)."
        )
    return match["kind"], math.floor(exact + 0.5 + TOLERANCE)  # to the nearest bar, halves up
