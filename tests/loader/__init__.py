"""Builders for loader tests: API-shaped JSON items parsed by amber.parse, so models carry a real `raw`.

    price_item(start, type=..., channel=..., per_kwh=...)  -> dict as /prices returns it
    usage_item(start, identifier=..., kwh=..., cost=..., quality=...) -> dict as /usage returns it
    site_item(site_id, channels=..., ...)                   -> dict as /sites returns it
    parse_prices(*items) / parse_usages(*items) / parse_site(item) -> models

`start` is the aligned interval start (UTC); the item's startTime is start + 1 s, as Amber sends it,
unless `start_second=0`.
"""

from __future__ import annotations

import datetime as dt

from amber.models import PriceInterval, Site, Usage
from amber.parse import parse_price_intervals, parse_sites, parse_usage

NEM = dt.timezone(dt.timedelta(hours=10))
T0 = dt.datetime(2025, 1, 15, 0, 0, tzinfo=dt.UTC)  # 10:00 NEM time
SITE = "01JTESTSITE000000000000000"


def _z(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _times(start: dt.datetime, minutes: int, start_second: int) -> dict:
    end = start + dt.timedelta(minutes=minutes)
    return {
        "duration": minutes,
        "date": (start + dt.timedelta(seconds=1)).astimezone(NEM).date().isoformat(),
        "nemTime": end.astimezone(NEM).isoformat(),
        "startTime": _z(start + dt.timedelta(seconds=start_second)),
        "endTime": _z(end),
    }


def price_item(
    start: dt.datetime,
    *,
    type: str = "ActualInterval",
    channel: str = "general",
    per_kwh: float = 25.0,
    spot_per_kwh: float = 5.0,
    renewables: float = 40.0,
    minutes: int = 5,
    estimate: bool | None = None,
    descriptor: str = "low",
    spike_status: str = "none",
    tariff: dict | None = None,
    advanced: tuple[float, float, float] | None = None,
    price_range: tuple[float, float] | None = None,
    start_second: int = 1,
    **extra,
) -> dict:
    item = {
        "type": type,
        **_times(start, minutes, start_second),
        "spotPerKwh": spot_per_kwh,
        "perKwh": per_kwh,
        "renewables": renewables,
        "channelType": channel,
        "tariffInformation": tariff if tariff is not None else {"period": "shoulder", "season": "default"},
        "spikeStatus": spike_status,
        "descriptor": descriptor,
    }
    if estimate is None and type == "CurrentInterval":
        estimate = True
    if estimate is not None:
        item["estimate"] = estimate
    if advanced is not None:
        item["advancedPrice"] = dict(zip(("low", "predicted", "high"), advanced, strict=True))
    if price_range is not None:
        item["range"] = dict(zip(("min", "max"), price_range, strict=True))
    item.update(extra)
    return item


def usage_item(
    start: dt.datetime,
    *,
    identifier: str = "E1",
    channel: str = "general",
    kwh: float = 0.412,
    cost: float = 10.78286,
    quality: str = "billable",
    per_kwh: float = 26.172,
    spot_per_kwh: float = 5.42,
    renewables: float = 42.7,
    minutes: int = 30,
    start_second: int = 1,
    **extra,
) -> dict:
    return {
        "type": "Usage",
        **_times(start, minutes, start_second),
        "spotPerKwh": spot_per_kwh,
        "perKwh": per_kwh,
        "renewables": renewables,
        "channelType": channel,
        "tariffInformation": {"period": "solarSponge", "season": "default", "demandWindow": False},
        "spikeStatus": "none",
        "descriptor": "low",
        "channelIdentifier": identifier,
        "kwh": kwh,
        "quality": quality,
        "cost": cost,
        **extra,
    }


def site_item(
    site_id: str = SITE,
    *,
    channels: tuple[tuple[str, str, str | None], ...] = (("E1", "general", "A100"), ("B1", "feedIn", "A100")),
    status: str = "active",
    closed_on: str | None = None,
    interval_length: int | None = 5,
) -> dict:
    item = {
        "id": site_id,
        "nmi": "6407000000",
        "channels": [{"identifier": i, "type": t, "tariff": tariff} for i, t, tariff in channels],
        "network": "Jemena",
        "status": status,
        "activeFrom": "2021-03-01",
    }
    if closed_on is not None:
        item["closedOn"] = closed_on
    if interval_length is not None:
        item["intervalLength"] = interval_length
    return item


def parse_prices(*items: dict) -> list[PriceInterval]:
    return parse_price_intervals(list(items))


def parse_usages(*items: dict) -> list[Usage]:
    return parse_usage(list(items))


def parse_site(item: dict) -> Site:
    return parse_sites([item])[0]
