"""The comparison plan for "would I have saved?": a flat or time-of-use retail plan, described once in a
TOML file (AMBER_COMPARE_PLAN), dated like the bill's fixed charges. Examples: docs/compare.md.

    parse_plan(text) -> Plan        pure; ValueError with one line naming the problem and the fix

    name = "Old plan: Origin, Ausgrid time of use"

    [[tariff]]
    from = 2024-07-01                 # applies from this local date until the next [[tariff]]
    supply = 110.5                    # c/day incl. GST
    subscription = 0                  # dollars per month incl. GST (optional, default 0)
    import = [                        # c/kWh incl. GST; a number for a flat rate, or periods:
      { name = "peak", price = 55.0, days = "weekdays", start = "15:00", end = "21:00" },
      { name = "off-peak", price = 22.0 },          # no start/end: all day (the catch-all)
    ]
    controlled_load = 18.5            # optional (default: the import rates), flat or periods
    feed_in = 5.0                     # c/kWh you are PAID (positive), flat or periods

Periods: the first one matching an interval's local weekday and hour wins, so list the catch-all last.
`days` is "all" (default), "weekdays", "weekends" or a list like ["sat", "sun"]; start/end are local
times on the hour ("22:00" to "07:00" crosses midnight; "24:00" is the end of the day), because usage is
priced per local hour (usage_hourly). Every hour of every weekday must have a price.
Prices are read as exact decimals (tomllib's parse_float=Decimal); nothing is ever a binary float.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["CHANNELS", "Plan", "Rate", "Tariff", "parse_plan"]

CHANNELS = ("general", "controlledLoad", "feedIn")  # Amber's channel types, as stored in usage
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO day numbers 1-7 in this order
_DAY_SETS = {"all": (1, 2, 3, 4, 5, 6, 7), "weekdays": (1, 2, 3, 4, 5), "weekends": (6, 7)}
_TIME_RE = re.compile(r"^(\d{2}):00$")


@dataclass(frozen=True)
class Rate:
    name: str
    cents_per_kwh: Decimal  # feed-in: positive = you are paid
    days: tuple[int, ...]  # ISO weekdays 1 (Mon) - 7 (Sun)
    start_hour: int  # local hour, inclusive
    end_hour: int  # local hour, exclusive; 24 = midnight ending the day


@dataclass(frozen=True)
class Tariff:
    valid_from: dt.date
    supply_cents_per_day: Decimal
    subscription_cents_per_month: Decimal
    rates: dict[str, tuple[Rate, ...]]  # channel type -> periods in order (first match wins)


@dataclass(frozen=True)
class Plan:
    name: str
    tariffs: tuple[Tariff, ...]  # by valid_from


def parse_plan(text: str) -> Plan:
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"is not valid TOML ({exc}); see docs/compare.md for an example") from None
    unknown = set(data) - {"name", "tariff"}
    if unknown:
        raise ValueError(f"has unknown key(s) {', '.join(sorted(unknown))}; use name and [[tariff]] blocks")
    blocks = data.get("tariff")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError("needs at least one [[tariff]] block with from, supply and import (docs/compare.md)")
    tariffs = [_tariff(block) for block in blocks]
    dates = [t.valid_from for t in tariffs]
    if len(set(dates)) != len(dates):
        raise ValueError("has two [[tariff]] blocks with the same from date; keep one per date")
    return Plan(str(data.get("name", "comparison plan")), tuple(sorted(tariffs, key=lambda t: t.valid_from)))


def _tariff(block: object) -> Tariff:
    if not isinstance(block, dict):
        raise ValueError("[[tariff]] must be a table")
    start = block.get("from")
    if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
        raise ValueError("each [[tariff]] needs from = YYYY-MM-DD (a TOML date, no quotes)")
    where = f"[[tariff]] from {start}"
    unknown = set(block) - {"from", "supply", "subscription", "import", "controlled_load", "feed_in"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; use supply, subscription, import,"
                         " controlled_load, feed_in")
    if "supply" not in block or "import" not in block:
        raise ValueError(f"{where}: needs supply (c/day) and import (c/kWh)")
    supply = _number(block["supply"], f"{where}: supply", 0, 1000, "c/day")
    subscription = _number(block.get("subscription", 0), f"{where}: subscription", 0, 200, "dollars per month")
    imports = _rates(block["import"], f"{where}: import")
    rates = {
        "general": imports,
        "controlledLoad": _rates(block["controlled_load"], f"{where}: controlled_load")
        if "controlled_load" in block else imports,
        "feedIn": _rates(block.get("feed_in", 0), f"{where}: feed_in"),
    }
    return Tariff(start, supply, subscription * 100, rates)


def _number(value: object, what: str, low: int, high: int, unit: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"{what} must be a number in {unit}")
    number = Decimal(value)
    if not low <= number <= high:
        raise ValueError(f"{what} must be {unit} from {low} to {high}")
    return number


def _rates(value: object, what: str) -> tuple[Rate, ...]:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (Rate("flat", _number(value, what, -1000, 1000, "c/kWh"), _DAY_SETS["all"], 0, 24),)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what} must be a price in c/kWh or a list of periods like {{ price = 22.0 }}")
    rates: list[Rate] = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or "price" not in item:
            raise ValueError(f"{what} period {n} must be a table with a price, e.g. {{ price = 22.0 }}")
        unknown = set(item) - {"name", "price", "days", "start", "end"}
        if unknown:
            raise ValueError(f"{what} period {n}: unknown key(s) {', '.join(sorted(unknown))}; use name, price,"
                             " days, start, end")
        price = _number(item["price"], f"{what} period {n}: price", -1000, 1000, "c/kWh")
        days = _days(item.get("days", "all"), f"{what} period {n}")
        start, end = _hour(item.get("start", "00:00"), what, n), _hour(item.get("end", "24:00"), what, n)
        name = str(item.get("name", f"period {n}"))
        if start < end:
            rates.append(Rate(name, price, days, start, end))
        elif start > end:  # across midnight: two pieces (the morning piece on the same weekdays)
            rates += [Rate(name, price, days, start, 24), Rate(name, price, days, 0, end)]
        else:
            raise ValueError(f"{what} period {n}: start and end are the same; leave both out for all day")
    for day in range(1, 8):
        for hour in range(24):
            if not any(day in r.days and r.start_hour <= hour < r.end_hour for r in rates):
                raise ValueError(f"{what} has no price for {_WEEKDAYS[day - 1]} {hour:02d}:00; end the list with a"
                                 " catch-all period without days, start and end")
    return tuple(rates)


def _days(value: object, what: str) -> tuple[int, ...]:
    if isinstance(value, str) and value in _DAY_SETS:
        return _DAY_SETS[value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v.lower() in _WEEKDAYS for v in value):
        return tuple(sorted({_WEEKDAYS.index(v.lower()) + 1 for v in value}))
    raise ValueError(f'{what}: days must be "all", "weekdays", "weekends" or a list like ["sat", "sun"]')


def _hour(value: object, what: str, n: int) -> int:
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 24:
        raise ValueError(f'{what} period {n}: start and end are local times on the hour, "00:00" to "24:00"'
                         " (usage is priced per local hour)")
    return int(match[1])
