"""The cheapest hours ahead: for each configured load, the cheapest contiguous run of forecast intervals
(before its deadline), its mean price and what it saves against starting now. Pure: no I/O, no clock.

    parse_loads(text) -> tuple[Load, ...]                   AMBER_LOADS; ValueError naming the fix
    cheapest_window(slots, load, now=, zone=, horizon=) -> Window | None

AMBER_LOADS lists loads separated by commas; each is a name, a duration and optional words:

    AMBER_LOADS="dishwasher 2h, car 4h by 07:00 7kW, pool 6h controlledLoad, battery 2h feedIn"

- duration: `2h`, `90m` or `1h30m`; rounded up to whole intervals (30-minute sites: 45m runs 1 h);
- `by HH:MM`: finish by this local time (the next one after now; daylight saving handled by the zone);
- `NkW`: the load's power, so the saving is also in dollars;
- channel: `general` (default), `controlledLoad`, or `feedIn` — the best hours to EXPORT (battery
  owners): the same search, since a feed-in price is lowest (most negative, Amber's sign) when exports
  pay most.

A slot is one interval: its predicted price (callers use Amber's advancedPrice predicted when given, else
perKwh — the rule of the forecast headline) and, where Amber sends them, advancedPrice low and high, which
say how sure the forecast is. Windows start on interval boundaries, from the current interval (which is
"now") onwards; the earliest of equally cheap windows wins. Means are duration-weighted, exact Decimals.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

__all__ = ["CHANNELS", "DEFAULT_HORIZON", "Load", "Slot", "Window", "cheapest_window", "parse_loads"]

CHANNELS = ("general", "controlledLoad", "feedIn")
DEFAULT_HORIZON = dt.timedelta(hours=24)
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_DURATION_RE = re.compile(r"^(?:(\d{1,2})h)?(?:(\d{1,4})m)?$")
_KW_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,3})?)kW$", re.IGNORECASE)
_EXAMPLE = 'e.g. AMBER_LOADS="dishwasher 2h, car 4h by 07:00 7kW, battery 2h feedIn"'


@dataclass(frozen=True)
class Load:
    name: str
    minutes: int
    channel: str = "general"
    by: dt.time | None = None  # latest local finish
    kw: Decimal | None = None


@dataclass(frozen=True)
class Slot:
    start: dt.datetime  # aware
    end: dt.datetime
    price: Decimal  # c/kWh incl. GST (feedIn: negative = paid)
    low: Decimal | None = None  # advancedPrice low / high, when Amber sends them
    high: Decimal | None = None


@dataclass(frozen=True)
class Window:
    load: Load
    start: dt.datetime
    end: dt.datetime
    mean_price: Decimal  # c/kWh, duration-weighted over the window
    now_price: Decimal  # the same for a window starting with the current interval
    low: Decimal | None  # mean advancedPrice low / high over the window, when every slot has them
    high: Decimal | None

    @property
    def saving_per_kwh(self) -> Decimal:
        """c/kWh saved against starting now (0 when now is the best time)."""
        return self.now_price - self.mean_price

    @property
    def saving_cents(self) -> Decimal | None:
        """Cents saved against starting now, for a load with a power (kW x hours x c/kWh)."""
        if self.load.kw is None:
            return None
        hours = Decimal((self.end - self.start).total_seconds()) / 3600
        return self.saving_per_kwh * self.load.kw * hours


def parse_loads(text: str) -> tuple[Load, ...]:
    loads: dict[str, Load] = {}
    for entry in (part.strip() for part in text.split(",")):
        words = entry.split()
        if not words or not _NAME_RE.match(words[0]):
            raise ValueError(f"each load starts with a name (letters, digits, - or _), {_EXAMPLE}")
        name, minutes, channel, by, kw = words[0], None, "general", None, None
        rest = iter(words[1:])
        for word in rest:
            duration = _DURATION_RE.match(word)
            if word == "by":
                by = _clock_time(next(rest, ""), name)
            elif word in CHANNELS:
                channel = word
            elif power := _KW_RE.match(word):
                kw = Decimal(power[1])
            elif duration and word and (duration[1] or duration[2]):
                minutes = int(duration[1] or 0) * 60 + int(duration[2] or 0)
            else:
                raise ValueError(f"load {name}: cannot read {word!r}; use a duration (2h, 90m), by HH:MM, a power"
                                 f" (7kW) or a channel ({', '.join(CHANNELS)})")
        if minutes is None or not 5 <= minutes <= 24 * 60:
            raise ValueError(f"load {name}: needs a duration from 5m to 24h, {_EXAMPLE}")
        if name in loads:
            raise ValueError(f"load {name} is listed twice; give each load its own name")
        loads[name] = Load(name, minutes, channel, by, kw)
    return tuple(loads.values())


def _clock_time(word: str, name: str) -> dt.time:
    if re.fullmatch(r"\d{2}:\d{2}", word):
        try:
            return dt.time.fromisoformat(word)
        except ValueError:
            pass
    raise ValueError(f"load {name}: by needs a local time as HH:MM, e.g. by 07:00")


def deadline(by: dt.time, now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first local `by` after `now` (today's if still ahead, else tomorrow's)."""
    local = now.astimezone(zone)
    for days in (0, 1, 2):
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=days), by, tzinfo=zone)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a local time recurs within two days")


def cheapest_window(
    slots: Sequence[Slot],
    load: Load,
    *,
    now: dt.datetime,
    zone: ZoneInfo,
    horizon: dt.timedelta = DEFAULT_HORIZON,
) -> Window | None:
    """The cheapest run of whole contiguous slots lasting at least load.minutes, starting with the slot
    holding `now` or later, ending by now + horizon and by the load's deadline. None when no run fits
    (no forecast yet, a gap in it, or a deadline too close)."""
    ordered = sorted((s for s in slots if s.end > now), key=lambda s: s.start)
    if not ordered or ordered[0].start > now:
        return None  # no interval holds now: nothing to compare with
    limit = now + horizon
    if load.by is not None:
        limit = min(limit, deadline(load.by, now, zone))
    need = dt.timedelta(minutes=load.minutes)
    windows: list[tuple[Decimal, int, int]] = []  # (mean, first slot, last slot + 1)
    for first in range(len(ordered)):
        total, seconds, last = Decimal(0), 0, first
        while last < len(ordered):
            if last > first and ordered[last].start != ordered[last - 1].end:
                break  # a gap in the forecast: the run cannot be contiguous
            length = int((ordered[last].end - ordered[last].start).total_seconds())
            total += ordered[last].price * length
            seconds += length
            last += 1
            if dt.timedelta(seconds=seconds) >= need:
                break
        if dt.timedelta(seconds=seconds) < need or ordered[last - 1].end > limit:
            if first == 0:
                return None  # even starting now does not fit: nothing to offer
            continue
        windows.append((total / seconds, first, last))
    if not windows:
        return None
    now_mean = windows[0][0]
    mean, first, last = min(windows, key=lambda w: (w[0], w[1]))
    run = ordered[first:last]
    return Window(load, run[0].start, run[-1].end, mean, now_mean, _bound(run, "low"), _bound(run, "high"))


def _bound(run: Sequence[Slot], which: str) -> Decimal | None:
    values = [getattr(s, which) for s in run]
    if any(v is None for v in values):
        return None
    seconds = [int((s.end - s.start).total_seconds()) for s in run]
    return sum(v * n for v, n in zip(values, seconds, strict=True)) / sum(seconds)
