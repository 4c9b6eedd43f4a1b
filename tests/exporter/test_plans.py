"""The exporter's poll loop plans each AMBER_LOADS load from every new forecast (the simulator's
/prices/current): the cached window equals a brute-force recount over the same answer, and the next round
recomputes it from the next forecast."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from zoneinfo import ZoneInfo

from amber.advisor import parse_loads
from tests.exporter.test_collector import registry_for, value
from tests.exporter.test_poller import BOUNDARY, rig

LOADS = parse_loads("dishwasher 2h, car 3h by 23:00 7kW, battery 1h feedIn")
SYDNEY = ZoneInfo("Australia/Sydney")


def recount(intervals, load, now: dt.datetime):
    slots = sorted(
        ((i.end_time - dt.timedelta(minutes=i.duration), i.end_time,
          Fraction(repr(i.per_kwh if i.interval_type == "CurrentInterval" or i.advanced_price is None
                        else i.advanced_price.predicted)))
         for i in intervals if i.channel_type == load.channel and i.interval_type != "ActualInterval"),
        key=lambda s: s[0])  # fmt: skip
    n = load.minutes // 5
    limit = now + dt.timedelta(hours=24)
    if load.by is not None:
        local = now.astimezone(SYDNEY)
        limit = dt.datetime.combine(local.date(), load.by, tzinfo=SYDNEY)
        limit = limit if limit > now else limit + dt.timedelta(days=1)
    runs = [(sum(p for *_, p in slots[k:k + n]) / n, slots[k][0], slots[k + n - 1][1])
            for k in range(len(slots) - n + 1) if slots[k + n - 1][1] <= limit]
    return min(runs, key=lambda r: (r[0], r[1]))


def test_each_poll_plans_every_load_from_its_forecast():
    with rig(poller_kwargs={"loads": LOADS, "zone": SYDNEY}) as r:
        for when in (BOUNDARY, BOUNDARY + dt.timedelta(minutes=5)):
            r.at(when)
            (site_id,) = r.snap.prices
            served = r.client.current_prices(site_id, next=144, previous=1, resolution=5)
            plans = {p.load.name: p for p in r.snap.prices[site_id].plans}
            assert set(plans) == {"dishwasher", "car", "battery"}
            for load in LOADS:
                mean, start, end = recount(served, load, when)
                window = plans[load.name]
                assert (window.start, window.end) == (start, end), load.name
                assert abs(Fraction(window.mean_price) - mean) < Fraction(1, 10**20)
            registry = registry_for(r.snap, now=when.timestamp() + 20)
            labels = {"site_id": site_id, "load": "car", "channel": "general"}
            assert value(registry, "amber_plan_window_start_timestamp_seconds", **labels) == plans["car"].start.timestamp()
            assert plans["car"].end <= dt.datetime(2025, 1, 15, 23, 0, tzinfo=SYDNEY)
