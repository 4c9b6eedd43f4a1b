"""Fixed charges of a bill as dated values: "a value from a date on", so history stays right when a rate
changes (networks change supply charges each 1 July; Amber has changed its subscription before).

    parse_dated(text, low=, high=, scale=, unit=, example=) -> tuple[DatedCharge, ...]
    parse_bill_day(text) -> int

Text format (AMBER_SUPPLY_CHARGE, AMBER_SUBSCRIPTION): entries separated by commas, each
`YYYY-MM-DD=VALUE`, optionally prefixed by a site id and a colon for one site only:

    AMBER_SUPPLY_CHARGE="2024-07-01=110.0,2025-07-01=118.5,01F5A5CRKMZ5BCX9P1S4V990AM:2025-07-01=95.2"

On a day, the entry with the latest date on or before it applies; on the same date a site's own entry
beats one for every site (the rule itself lives in SQL: amber_charge() in sql/014_bill.sql). Values
are Decimals kept exactly as typed, scaled to cents (`scale`: 1 for c/day, 100 for dollars).
Pure: no I/O; errors are ValueError with a message that names the fix and never quotes the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["DatedCharge", "parse_bill_day", "parse_dated"]

_ENTRY_RE = re.compile(r"^(?:(?P<site>[A-Za-z0-9_-]+):)?(?P<day>\d{4}-\d{2}-\d{2})=(?P<value>[0-9.]+)$")


@dataclass(frozen=True)
class DatedCharge:
    valid_from: date
    cents: Decimal  # exact, in cents (c/day for supply, c/month for the subscription)
    site_id: str | None = None  # None: every site


def parse_dated(text: str, *, low: Decimal, high: Decimal, scale: Decimal, unit: str, example: str) -> tuple[DatedCharge, ...]:
    entries: dict[tuple[str | None, date], DatedCharge] = {}
    for part in (p.strip() for p in text.split(",")):
        match = _ENTRY_RE.match(part) if part else None
        if match is None:
            raise ValueError(f"each entry must be YYYY-MM-DD=VALUE (optionally SITE_ID:YYYY-MM-DD=VALUE), e.g. {example}")
        try:
            day = date.fromisoformat(match["day"])
            value = Decimal(match["value"])
        except (ValueError, InvalidOperation):
            raise ValueError(f"has an impossible date or number; write entries like {example}") from None
        if not low <= value <= high:
            raise ValueError(f"values are {unit} from {low} to {high}, e.g. {example}")
        key = (match["site"], day)
        if key in entries:
            raise ValueError(f"gives {day} twice{' for site ' + match['site'] if match['site'] else ''}; keep one value per date")
        entries[key] = DatedCharge(day, value * scale, match["site"])
    return tuple(sorted(entries.values(), key=lambda c: (c.site_id or "", c.valid_from)))


def parse_bill_day(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 28):
        raise ValueError("must be the day of the month your billing periods start, a whole number from 1 to 28")
    return int(text)
