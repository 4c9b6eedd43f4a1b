"""Sunshine shared by the price model (cheap solar middays) and the household model (rooftop solar),
so a cloudy day is both dearer and lower in export. Pure functions of (seed, region, time)."""

from __future__ import annotations

import math

from simulator import seeded
from simulator.nemtime import DAY_S, NEM_OFFSET_S, nem_hour

REGIONS = ("nsw", "vic", "qld", "sa")


def nem_day(seconds: float) -> int:
    """Day number of the NEM date (days since 1970-01-01 in UTC+10)."""
    return int((seconds + NEM_OFFSET_S) // DAY_S)


def season_strength(seconds: float) -> float:
    """Solar strength by time of year, 0.5 at the June solstice to 1.0 at the December one."""
    day_of_year = nem_day(seconds) % 365.2425
    return 0.75 + 0.25 * math.cos(2 * math.pi * (day_of_year - 355) / 365.2425)


def clear_sky(hour: float) -> float:
    """Clear-sky output as a fraction of peak, by NEM hour (sun up 06:00-18:00)."""
    if hour <= 6.0 or hour >= 18.0:
        return 0.0
    return math.sin(math.pi * (hour - 6.0) / 12.0) ** 1.5


def cloudiness(seed: int, region: str, day: int) -> float:
    """0 (clear) to 1 (overcast) for a region's NEM day; most days are fairly clear."""
    return seeded.unit(seed, "cloud", region, day) ** 2


def sun(seed: int, region: str, start: int, minutes: int = 5) -> float:
    """Irradiance fraction (0..1) for the interval starting at `start`, evaluated at its midpoint."""
    middle = start + minutes * 30
    shape = clear_sky(nem_hour(middle))
    if shape == 0.0:
        return 0.0
    day = nem_day(middle)
    passing = 0.85 + 0.15 * seeded.unit(seed, "cloud-half-hour", region, middle // 1800)
    return shape * season_strength(middle) * (1.0 - 0.75 * cloudiness(seed, region, day)) * passing
