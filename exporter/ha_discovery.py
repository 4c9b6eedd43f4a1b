"""Home Assistant MQTT messages built from a Snapshot: pure (Snapshot in, {topic: payload} out), no I/O.

    topics = Topics("amber-home", "homeassistant")
    discovery_messages(snapshot, topics, loads)                # HA discovery configs, one per entity
    state_messages(snapshot, topics, now=..., stale_after=900, loads=loads)  # availability, state JSON

exporter/mqtt.py publishes every message retained, so Home Assistant (or any client) that connects later
gets the latest value at once. Topics (`{site}` is Amber's site id; the NMI is never published):

    {prefix}/status                       online | offline: the exporter itself (its last will says offline)
    {prefix}/{site}/status                online while the site's prices are fresh (EXPORTER_STALE_SECONDS)
    {prefix}/{site}/state                 JSON: spot price, renewables, updated_at (per site)
    {prefix}/{site}/{channel}/state       JSON: the current interval on general, controlledLoad or feedIn
    {prefix}/{site}/{channel}/forecast    JSON: next interval, next-hour mean and max, 24 h half-hourly
    {prefix}/{site}/plans/{load}          JSON: the load's next cheap window (AMBER_LOADS, amber/advisor.py)
    {discovery}/{component}/amber_home_{site}/{object}/config

A site that is no longer polled (closed, or left out of AMBER_SITE_ID) has its topics cleared (an empty
retained message), which removes its device from HA; `Topics.site_of` tells which topics are a site's.
So does a load no longer in AMBER_LOADS (or a kW no longer given): `Topics.is_plan` tells its topics.

Units and signs, as Home Assistant's own Amber integration has them (so automations carry over):
prices in AUD/kWh including GST; the feed-in price is what you are PAID per kWh exported (Amber's sign
flipped: positive = you earn, negative = exporting costs you); general and controlled-load prices are what
you pay. The spot price is the wholesale market price in Amber's sign. Renewables in percent.

Entities (one HA device per site): per channel a price sensor (state_class measurement, so HA keeps
long-term statistics; no device_class, since HA allows `monetary` only with state_class total), forecast,
descriptor and tariff-period sensors, and binary sensors for spike, estimate and demand window; per site
spot price, renewables, grid renewables and last update; per load (`snapshot.prices[site].plans`) its
cheap window's start and end (timestamps), mean price, saving per kWh against starting now and, for a
load with a power, the saving in AUD, with Amber's low/high band as attributes. A value the API does not
give (or a load no window fits) is JSON null, which HA's templates render as "None", shown as unknown.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from amber.advisor import Load, Window
from amber.models import FEED_IN, PriceInterval
from exporter.snapshot import ChannelView, SiteEntry, SitePrices, Snapshot, fresh, price_for_forecast, start_timestamp

PRICE_UNIT = "AUD/kWh"  # HA's Energy dashboard takes a price entity whose unit ends in /kWh
FORECAST_HOURS = 24
FORECAST_STEP = 1800  # seconds: the attribute list is half-hourly, at most 48 points (a few kB in HA)
MAX_FORECAST_POINTS = FORECAST_HOURS * 3600 // FORECAST_STEP  # a mid-half-hour start would make 49
SPIKE_ORDER = {"none": 0, "potential": 1, "spike": 2}
CHANNEL_NAMES = {"general": "General", "controlledLoad": "Controlled load", "feedIn": "Feed-in"}
ONLINE, OFFLINE = "online", "offline"
PAID = " (you are paid)"  # the feed-in entities' name suffix: their sign is flipped
PLAN = "plan_"  # object id prefix of the cheap-window entities (Topics.is_plan)


@dataclass(frozen=True)
class Topics:
    prefix: str  # MQTT_TOPIC_PREFIX
    discovery_prefix: str  # MQTT_DISCOVERY_PREFIX

    @property
    def availability(self) -> str:
        return f"{self.prefix}/status"

    def site_status(self, site_id: str) -> str:
        return f"{self.prefix}/{site_id}/status"

    def site_state(self, site_id: str) -> str:
        return f"{self.prefix}/{site_id}/state"

    def channel_state(self, site_id: str, channel: str) -> str:
        return f"{self.prefix}/{site_id}/{channel}/state"

    def forecast(self, site_id: str, channel: str) -> str:
        return f"{self.prefix}/{site_id}/{channel}/forecast"

    def plan(self, site_id: str, load: str) -> str:
        return f"{self.prefix}/{site_id}/plans/{load}"  # "plans": never a channel, so no clash with a load name

    def config(self, component: str, site_id: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{node_id(site_id)}/{object_id}/config"

    def site_of(self, topic: str) -> str | None:
        """The site id a topic above belongs to; None for the exporter's own topics."""
        levels = topic.removeprefix(f"{self.discovery_prefix}/").split("/")
        if topic.startswith(f"{self.discovery_prefix}/") and len(levels) == 4 and levels[1].startswith("amber_home_"):
            return levels[1].removeprefix("amber_home_")
        levels = topic.removeprefix(f"{self.prefix}/").split("/")
        if topic.startswith(f"{self.prefix}/") and len(levels) >= 2:
            return levels[0]
        return None

    def is_plan(self, topic: str) -> bool:
        """Whether a topic is a load's cheap-window state or discovery config (see the publisher's clearing)."""
        if topic.startswith(f"{self.discovery_prefix}/") and self.site_of(topic) is not None:
            return topic.split("/")[-2].startswith(PLAN)
        levels = topic.removeprefix(f"{self.prefix}/").split("/")
        return topic.startswith(f"{self.prefix}/") and len(levels) == 3 and levels[1] == "plans"

    def plan_subscriptions(self, site_id: str) -> list[str]:
        """Filters under which the broker may still hold a site's plan topics from an earlier run."""
        return [self.config("sensor", site_id, "+"), self.plan(site_id, "+")]


def node_id(site_id: str) -> str:
    return f"amber_home_{site_id}"


def dollars(cents: float | None, *, paid: bool = False) -> float | None:
    """c/kWh -> AUD/kWh; `paid` flips the sign (feed-in: positive = the user earns)."""
    if cents is None:
        return None
    value = round(cents / 100.0, 10)
    return -value if paid and value else value  # never -0.0


def on_off(value: bool | None) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _json(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)


# --- state ---------------------------------------------------------------------------------------------


def channel_state(view: ChannelView) -> dict[str, Any]:
    """The current interval of one channel, as the channel's state topic carries it."""
    current, paid = view.current, view.channel == FEED_IN
    tariff = current.tariff_information
    return {
        "price": dollars(current.per_kwh, paid=paid),
        "spot_price": dollars(current.spot_per_kwh),
        "descriptor": current.descriptor,
        "spike": on_off(current.spike_status == "spike"),
        "spike_status": current.spike_status,
        "estimate": on_off(current.estimate),
        "renewables": current.renewables,
        "tariff_period": tariff.period if tariff else None,
        "tariff_season": tariff.season if tariff else None,
        "demand_window": on_off(tariff.demand_window if tariff else None),
        "range_min": dollars(current.range.min, paid=paid) if current.range else None,
        "range_max": dollars(current.range.max, paid=paid) if current.range else None,
        "advanced_price_predicted": dollars(current.advanced_price.predicted, paid=paid) if current.advanced_price else None,
        "start": _iso(start_timestamp(current)),
        "end": current.end_time.isoformat(),
    }  # fmt: skip


def forecast_points(forecast: tuple[PriceInterval, ...], *, paid: bool, start: float) -> list[dict[str, Any]]:
    """The next FORECAST_HOURS from `start` in FORECAST_STEP buckets: mean and max price (Amber's advanced
    prediction where given, as the metrics' headline uses), and the worst spike status in the bucket."""
    buckets: dict[int, list[PriceInterval]] = {}
    for interval in forecast:
        begin = start_timestamp(interval)
        if begin >= start + FORECAST_HOURS * 3600:
            break
        buckets.setdefault(math.floor(begin / FORECAST_STEP), []).append(interval)
    points = []
    for key in sorted(buckets)[:MAX_FORECAST_POINTS]:
        items = buckets[key]
        prices = [price_for_forecast(i) for i in items]
        worst = max((i.spike_status for i in items), key=lambda s: SPIKE_ORDER.get(s, 0))
        points.append({
            "start": _iso(max(key * FORECAST_STEP, start_timestamp(items[0]))),
            "end": items[-1].end_time.isoformat(),
            "price": dollars(sum(prices) / len(prices), paid=paid),
            "price_max": dollars(min(prices) if paid else max(prices), paid=paid),  # the highest in HA's sign
            "spike_status": worst,
        })  # fmt: skip
    return points


def channel_forecast(view: ChannelView) -> dict[str, Any]:
    """The forecast headline (state: the next interval's price) and the next 24 h (attributes)."""
    paid = view.channel == FEED_IN
    following = view.forecast[0] if view.forecast else None
    means, maxima = dict(view.forecast_mean), dict(view.forecast_max)
    return {
        "next_price": dollars(price_for_forecast(following), paid=paid) if following else None,
        "next_start": _iso(start_timestamp(following)) if following else None,
        "next_descriptor": following.descriptor if following else None,
        "next_spike_status": following.spike_status if following else None,
        "next_hour_mean": dollars(means.get("1h"), paid=paid),
        # The headline's max is in Amber's sign, the worst hour for the user: for feed-in the least paid.
        ("next_hour_min" if paid else "next_hour_max"): dollars(maxima.get("1h"), paid=paid),
        "forecasts": forecast_points(view.forecast, paid=paid, start=view.current.end_time.timestamp()),
    }


def state_messages(snapshot: Snapshot, topics: Topics, *, now: float, stale_after: float,
                   loads: Sequence[Load] = ()) -> dict[str, str]:  # fmt: skip
    """Every polled site's availability and each load's cheap window (AMBER_LOADS) and, once its prices
    arrived, its state and forecast topics."""
    messages: dict[str, str] = {}
    for entry in _polled(snapshot):
        site_id = entry.site.id
        prices = snapshot.prices.get(site_id)
        is_fresh = prices is not None and fresh(prices.fetched_at, now, stale_after)
        messages[topics.site_status(site_id)] = ONLINE if is_fresh else OFFLINE
        windows = _windows(prices)
        for load in loads:  # before the first poll too: unknown, never a retained window of an earlier run
            messages[topics.plan(site_id, load.name)] = _json(plan_state(load, windows.get(load.name)))
        if prices is None:
            continue
        grid = snapshot.renewables.get(entry.state) if entry.state else None
        first = prices.channels[0].current
        messages[topics.site_state(site_id)] = _json({
            "spot_price": dollars(first.spot_per_kwh),
            "renewables": first.renewables,
            "grid_renewables": grid.current.renewables if grid else None,
            "updated_at": _iso(prices.fetched_at),
        })  # fmt: skip
        for view in prices.channels:
            messages[topics.channel_state(site_id, view.channel)] = _json(channel_state(view))
            messages[topics.forecast(site_id, view.channel)] = _json(channel_forecast(view))
    return messages


def plan_state(load: Load, window: Window | None) -> dict[str, Any]:
    """One load's next cheap window (the advisor's, c/kWh) in HA's units; all null when none fits, which HA
    shows as unknown. A feed-in load's prices are what you are paid; the saving is better-than-now in
    either sign (the advisor's now - mean: more paid for feed-in), so it is never flipped."""
    paid = load.channel == FEED_IN
    low, high = (_dollars(window.low, paid), _dollars(window.high, paid)) if window else (None, None)
    return {
        "start": _iso(window.start.timestamp()) if window else None,
        "end": _iso(window.end.timestamp()) if window else None,
        "mean_price": _dollars(window.mean_price, paid) if window else None,
        "now_price": _dollars(window.now_price, paid) if window else None,
        "saving": _dollars(window.saving_per_kwh) if window else None,
        "saving_aud": _dollars(window.saving_cents) if window else None,  # null without the load's kW
        # Amber's advanced low/high band over the window, ordered in HA's sign (flipped for feed-in).
        "price_low": high if paid else low,
        "price_high": low if paid else high,
        "channel": load.channel,
        "minutes": load.minutes,
        "kw": float(load.kw) if load.kw is not None else None,
        "by": load.by.isoformat(timespec="minutes") if load.by else None,
    }


def _dollars(cents: Decimal | None, paid: bool = False) -> float | None:
    return dollars(None if cents is None else float(cents), paid=paid)


def _windows(prices: SitePrices | None) -> dict[str, Window]:
    return {w.load.name: w for w in prices.plans} if prices else {}


# --- discovery -----------------------------------------------------------------------------------------


def device(entry: SiteEntry) -> dict[str, Any]:
    site = entry.site
    return {
        "identifiers": [node_id(site.id)],
        "name": f"Amber {site.id[-6:]}",  # short and stable; rename it in HA if you like
        "manufacturer": "Amber Electric",
        "model": f"Site on {site.network}" if site.network else "Site",
    }


def _entity(entry: SiteEntry, topics: Topics, object_id: str, name: str, state_topic: str, template: str,
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    site_id = entry.site.id
    return {
        "name": name,
        "unique_id": f"{node_id(site_id)}_{object_id}",
        "state_topic": state_topic,
        "value_template": template,
        "availability": [{"topic": topics.availability}, {"topic": topics.site_status(site_id)}],
        "availability_mode": "all",
        "device": device(entry),
        **extra,
    }


def site_entities(entry: SiteEntry, topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, object id, config) of the per-site entities."""
    state = topics.site_state(entry.site.id)
    return [
        ("sensor", "spot_price", _entity(entry, topics, "spot_price", "Spot price", state, "{{ value_json.spot_price }}",
                                         unit_of_measurement=PRICE_UNIT, state_class="measurement",
                                         icon="mdi:transmission-tower")),
        ("sensor", "renewables", _entity(entry, topics, "renewables", "Renewables", state, "{{ value_json.renewables }}",
                                         unit_of_measurement="%", state_class="measurement", icon="mdi:leaf")),
        ("sensor", "grid_renewables", _entity(entry, topics, "grid_renewables", "Grid renewables", state,
                                              "{{ value_json.grid_renewables }}", unit_of_measurement="%",
                                              state_class="measurement", icon="mdi:leaf")),
        ("sensor", "updated", _entity(entry, topics, "updated", "Last update", state, "{{ value_json.updated_at }}",
                                      device_class="timestamp", entity_category="diagnostic")),
    ]  # fmt: skip


def channel_entities(entry: SiteEntry, channel: str, topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, object id, config) of one channel's entities."""
    site_id, label = entry.site.id, CHANNEL_NAMES.get(channel, channel)
    state, forecast = topics.channel_state(site_id, channel), topics.forecast(site_id, channel)
    paid = PAID if channel == FEED_IN else ""

    def entity(component: str, key: str, name: str, topic: str, template: str, **extra: Any):
        object_id = f"{channel}_{key}"
        return component, object_id, _entity(entry, topics, object_id, f"{label} {name}", topic, template, **extra)

    return [
        entity("sensor", "price", f"price{paid}", state, "{{ value_json.price }}", unit_of_measurement=PRICE_UNIT,
               state_class="measurement", icon="mdi:cash", json_attributes_topic=state),
        entity("sensor", "forecast", f"forecast{paid}", forecast, "{{ value_json.next_price }}",
               unit_of_measurement=PRICE_UNIT, icon="mdi:chart-line", json_attributes_topic=forecast),
        entity("sensor", "descriptor", "price descriptor", state, "{{ value_json.descriptor }}", icon="mdi:tag"),
        entity("sensor", "tariff_period", "tariff period", state, "{{ value_json.tariff_period }}",
               icon="mdi:clock-outline"),
        entity("binary_sensor", "spike", "price spike", state, "{{ value_json.spike }}", icon="mdi:flash-alert"),
        entity("binary_sensor", "demand_window", "demand window", state, "{{ value_json.demand_window }}",
               icon="mdi:clock-alert"),
        entity("binary_sensor", "estimate", "price is an estimate", state, "{{ value_json.estimate }}",
               entity_category="diagnostic"),
    ]  # fmt: skip


def plan_entities(entry: SiteEntry, load: Load, topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, object id, config) of one load's next-cheap-window entities. No state_class: a window
    is a plan for later, not a measurement worth long-term statistics."""
    state = topics.plan(entry.site.id, load.name)
    paid = PAID if load.channel == FEED_IN else ""

    def entity(key: str, name: str, **extra: Any):
        object_id = f"{PLAN}{load.name}_{key}"
        return "sensor", object_id, _entity(entry, topics, object_id, f"{load.name} {name}", state,
                                            f"{{{{ value_json.{key} }}}}", **extra)  # fmt: skip

    entities = [
        entity("start", "cheap window start", device_class="timestamp", icon="mdi:clock-start"),
        entity("end", "cheap window end", device_class="timestamp", icon="mdi:clock-end"),
        entity("mean_price", f"cheap window price{paid}", unit_of_measurement=PRICE_UNIT, icon="mdi:cash-clock",
               json_attributes_topic=state),  # price_low/price_high and the load's settings as attributes
        entity("saving", "saving per kWh vs now", unit_of_measurement=PRICE_UNIT, icon="mdi:piggy-bank"),
    ]
    if load.kw is not None:  # a saving in dollars needs the load's power
        entities.append(entity("saving_aud", "saving vs now", unit_of_measurement="AUD", icon="mdi:piggy-bank"))
    return entities


def discovery_messages(snapshot: Snapshot, topics: Topics, loads: Sequence[Load] = ()) -> dict[str, str]:
    """Discovery configs for every polled site and load, and for each channel its prices arrived for."""
    messages: dict[str, str] = {}
    for entry in _polled(snapshot):
        prices = snapshot.prices.get(entry.site.id)
        entities = site_entities(entry, topics)
        for load in loads:
            entities += plan_entities(entry, load, topics)
        for view in prices.channels if prices else ():
            entities += channel_entities(entry, view.channel, topics)
        for component, object_id, config in entities:
            messages[topics.config(component, entry.site.id, object_id)] = _json(config)
    return messages


def _polled(snapshot: Snapshot) -> list[SiteEntry]:
    return [e for e in snapshot.sites if e.polled]
