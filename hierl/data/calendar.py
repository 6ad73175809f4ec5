"""A class's trading calendar: its bar length and how many bars make a year.

Every annualisation (metrics, the safety gate's turnover, borrow fees) counts a year in the class's own bars, so
crypto (365 days a year), FX (about 260) and intraday bars are annualised as correctly as daily US equities (252).

Bars per year (unless `asset.calendar.bars_per_year` is set):
- daily bars ("1d"): `days_per_year`, one bar a trading day;
- intraday bars of m minutes: `days_per_year * hours_per_day * 60 / m` (365 * 24 for hourly crypto, 252 * 6.5 for
  hourly bars of a US equity session);
- bars of n >= 2 days (weekly data is "7d"): 365.25 / n, since such bars are spaced in calendar time whatever the
  class's trading days (weekly bars make 52.2 a year on any calendar).
"""

from __future__ import annotations

from dataclasses import dataclass

from hierl.config.data import DAILY, DAILY_BARS_PER_YEAR, MINUTES_PER_DAY, bar_minutes
from hierl.config.run import CalendarConfig
from hierl.features.horizons import BarClock

DAYS_PER_CALENDAR_YEAR = 365.25


@dataclass(frozen=True)
class BarCalendar:
    """The bar length (`frequency`, e.g. "1d") and the bars in one year of trading (`bars_per_year`)."""

    frequency: str
    bars_per_year: float

    @property
    def is_daily_default(self) -> bool:
        """True for daily bars on a 252-day year: the calendar whose numbers predate calendars, and whose cache
        keys must stay as they were."""
        return self.frequency == DAILY and self.bars_per_year == DAILY_BARS_PER_YEAR


def bar_calendar(config: CalendarConfig, frequency: str = DAILY) -> BarCalendar:
    """The class's calendar for bars of `frequency`: `config.bars_per_year` when set, else by the module's rule."""
    if config.bars_per_year is not None:
        return BarCalendar(frequency, float(config.bars_per_year))
    minutes = bar_minutes(frequency, "frequency")
    if minutes < MINUTES_PER_DAY:
        return BarCalendar(frequency, float(config.days_per_year) * float(config.hours_per_day) * 60.0 / minutes)
    if minutes == MINUTES_PER_DAY:
        return BarCalendar(frequency, float(config.days_per_year))
    return BarCalendar(frequency, DAYS_PER_CALENDAR_YEAR * MINUTES_PER_DAY / minutes)


def bar_clock(config: CalendarConfig, frequency: str = DAILY) -> BarClock:
    """How much trading time one bar of `frequency` spans, for feature horizons stated in time (`vol_24h`).

    A day is one trading day of `hours_per_day` hours. An intraday bar spans its own length; a daily bar one trading
    day; a bar of n days n trading days.
    """
    minutes = bar_minutes(frequency, "frequency")
    day_minutes = float(config.hours_per_day) * 60.0
    if minutes < MINUTES_PER_DAY:
        return BarClock(bar_minutes=float(minutes), day_minutes=day_minutes)
    return BarClock(bar_minutes=day_minutes * minutes / MINUTES_PER_DAY, day_minutes=day_minutes)
