"""A class's trading calendar: its bar length and how many bars make a year.

Every annualisation (metrics, the safety gate's turnover, borrow fees) counts a year in the class's own bars, so
crypto (365 days a year), FX (about 260) and intraday bars are annualised as correctly as daily US equities (252).
"""

from __future__ import annotations

from dataclasses import dataclass

from hierl.config.run import CalendarConfig

DAILY = "1d"


@dataclass(frozen=True)
class BarCalendar:
    """The bar length (`frequency`, e.g. "1d") and the bars in one year of trading (`bars_per_year`)."""

    frequency: str
    bars_per_year: float


def bar_calendar(config: CalendarConfig, frequency: str = DAILY) -> BarCalendar:
    """The class's calendar for bars of `frequency`: `config.bars_per_year` when set, else its trading days a year
    (daily bars)."""
    if config.bars_per_year is not None:
        return BarCalendar(frequency, float(config.bars_per_year))
    return BarCalendar(frequency, float(config.days_per_year))
