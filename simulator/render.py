"""JSON objects in Amber's shapes (see madpilot/amberelectric.py docs and tests/fixtures/amber).

Numbers are rounded like Amber's: prices to 5 decimals, renewables to 3, energy to 4, cost to 6 (never
to whole cents). Keys appear in a fixed order so equal inputs give byte-identical JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from simulator.nemtime import iso_nem, iso_utc, nem_date
from simulator.pricing import ACTUAL, CURRENT, ChannelPrice, RegionView
from simulator.site import SiteSpec
from simulator.tariff import renewable_descriptor, tariff_information


def _r(value: float, places: int) -> float:
    return round(value, places) + 0.0  # + 0.0 turns -0.0 into 0.0


def _times(start: int, minutes: int) -> dict:
    end = start + minutes * 60
    return {
        "date": nem_date(start).isoformat(),
        "nemTime": iso_nem(end),
        "startTime": iso_utc(start + 1),
        "endTime": iso_utc(end),
    }


def price_interval(view: RegionView, channel_type: str, price: ChannelPrice) -> dict:
    obj = {
        "type": view.kind,
        "duration": view.minutes,
        "spotPerKwh": _r(view.spot, 5),
        "perKwh": _r(price.per_kwh, 5),
        **_times(view.start, view.minutes),
        "renewables": _r(view.renewables, 3),
        "channelType": channel_type,
        "tariffInformation": tariff_information(view.start),
        "spikeStatus": view.spike,
        "descriptor": price.descriptor,
    }
    if view.kind != ACTUAL:
        if price.range is not None:
            obj["range"] = {"min": _r(price.range[0], 5), "max": _r(price.range[1], 5)}
        if view.kind == CURRENT:
            obj["estimate"] = view.estimate
        if price.advanced is not None:
            low, predicted, high = price.advanced
            obj["advancedPrice"] = {"low": _r(low, 5), "predicted": _r(predicted, 5), "high": _r(high, 5)}
    return obj


def usage(view: RegionView, channel_type: str, identifier: str, price: ChannelPrice, kwh: float, quality: str) -> dict:
    per_kwh = _r(price.per_kwh, 5)
    return {
        "type": "Usage",
        "duration": view.minutes,
        "spotPerKwh": _r(view.spot, 5),
        "perKwh": per_kwh,
        **_times(view.start, view.minutes),
        "renewables": _r(view.renewables, 3),
        "channelType": channel_type,
        "tariffInformation": tariff_information(view.start),
        "spikeStatus": view.spike,
        "descriptor": price.descriptor,
        "channelIdentifier": identifier,
        "kwh": kwh,
        "quality": quality,
        # Energy moved x price: exported energy (negative kwh) at a negative feed-in price is a credit.
        "cost": _r(abs(kwh) * per_kwh, 6),
    }


def renewable(kind: str, start: int, minutes: int, percent: float) -> dict:
    return {
        "type": kind,
        "duration": minutes,
        **_times(start, minutes),
        "renewables": _r(percent, 3),
        "descriptor": renewable_descriptor(percent),
    }


def site(spec: SiteSpec, today: dt.date) -> dict:
    status = spec.status_on(today)
    obj: dict[str, Any] = {
        "id": spec.id,
        "nmi": spec.nmi,
        "channels": [{"identifier": c.identifier, "type": c.type, "tariff": c.tariff} for c in spec.channels_on(today)],
        "network": spec.network,
        "status": status,
        "activeFrom": spec.active_from.isoformat(),
    }
    if status == "closed" and spec.closed_on is not None:
        obj["closedOn"] = spec.closed_on.isoformat()
    obj["intervalLength"] = spec.interval_length
    return obj
