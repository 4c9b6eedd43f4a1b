"""The pure Home Assistant message builders (exporter/ha_discovery.py) on the fixture Snapshot: signs and
units, the bounded forecast, availability from freshness, the discovery configs' shape, each load's cheap window."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from decimal import Decimal

import pytest

from amber.advisor import Window, parse_loads
from exporter.ha_discovery import (
    FORECAST_HOURS,
    PRICE_UNIT,
    Topics,
    channel_state,
    discovery_messages,
    forecast_points,
    plan_state,
    state_messages,
)
from exporter.snapshot import SitePrices, channel_views, frozen_map
from tests.exporter.test_collector import LOADS, SCRAPED_AT, SITE, fixture_intervals, fixture_snapshot

TOPICS = Topics("amber-home", "homeassistant")
POOL = parse_loads("pool 2h controlledLoad")[0]  # no window can fit: the fixture site has no controlled load
# Keys HA's MQTT discovery needs (or this project relies on) per component.
REQUIRED = {"name", "unique_id", "state_topic", "value_template", "availability", "availability_mode", "device"}


def views():
    return {v.channel: v for v in channel_views(fixture_intervals())}


def states(snapshot=None, *, now=SCRAPED_AT, stale_after=900.0) -> dict[str, str]:
    return state_messages(snapshot or fixture_snapshot(), TOPICS, now=now, stale_after=stale_after)


# --- state ---------------------------------------------------------------------------------------------------


def test_prices_are_dollars_and_feed_in_is_what_you_are_paid():
    general, feed_in = views()["general"], views()["feedIn"]
    assert channel_state(general)["price"] == pytest.approx(general.current.per_kwh / 100)
    assert general.current.per_kwh > 0 and feed_in.current.per_kwh < 0  # the fixture: Amber's signs
    assert channel_state(feed_in)["price"] == pytest.approx(-feed_in.current.per_kwh / 100)
    assert channel_state(feed_in)["price"] > 0
    # The spot price is the wholesale price in Amber's sign, on every channel.
    assert channel_state(feed_in)["spot_price"] == pytest.approx(feed_in.current.spot_per_kwh / 100)


def test_the_state_carries_descriptor_spike_estimate_tariff_and_demand_window():
    state = channel_state(views()["general"])
    assert state["descriptor"] == "low" and state["spike"] == "OFF" and state["spike_status"] == "none"
    assert state["estimate"] == "ON" and state["tariff_period"] == "solarSponge" and state["demand_window"] == "OFF"
    assert state["start"] == "2021-05-05T02:00:00+00:00" and state["end"] == "2021-05-05T02:30:00+00:00"


def test_missing_values_are_null_so_home_assistant_shows_unknown():
    general = views()["general"]
    bare = dataclasses.replace(general.current, tariff_information=None, estimate=None, spike_status="spike")
    state = channel_state(dataclasses.replace(general, current=bare))
    assert state["tariff_period"] is None and state["demand_window"] is None and state["estimate"] is None
    assert state["spike"] == "ON"
    assert "null" in json.dumps(state)  # HA's template renders None as "None": unknown


def test_the_forecast_headline_and_attributes():
    forecast = json.loads(states()[TOPICS.forecast(SITE, "general")])
    assert forecast["next_start"] == "2021-05-05T02:30:00+00:00" and forecast["next_spike_status"] == "potential"
    assert forecast["next_hour_max"] >= forecast["next_hour_mean"] >= forecast["next_price"] > 0
    assert [p["spike_status"] for p in forecast["forecasts"]] == ["potential", "spike"]
    feed_in = json.loads(states()[TOPICS.forecast(SITE, "feedIn")])
    assert "next_hour_min" in feed_in and "next_hour_max" not in feed_in  # named by what you are paid
    assert feed_in["next_price"] > 0


def test_the_forecast_attribute_is_half_hourly_for_24_hours_at_most():
    template = views()["general"].forecast[0]
    start = template.end_time - dt.timedelta(minutes=30)  # the current interval's end
    five_minute = tuple(
        dataclasses.replace(template, duration=5, per_kwh=float(n), advanced_price=None,
                            spike_status="spike" if n == 7 else "none",
                            start_time=start + dt.timedelta(minutes=5 * n, seconds=1),
                            end_time=start + dt.timedelta(minutes=5 * (n + 1)))
        for n in range(2 * 24 * 12)  # 48 hours of 5-minute intervals
    )  # fmt: skip
    points = forecast_points(five_minute, paid=False, start=start.timestamp())
    assert len(points) == FORECAST_HOURS * 2
    assert points[0]["start"] == start.isoformat() and points[0]["price"] == pytest.approx(0.025)  # mean of 0..5 c
    assert points[0]["price_max"] == pytest.approx(0.05)
    assert points[1]["spike_status"] == "spike" and points[2]["spike_status"] == "none"
    paid = forecast_points(five_minute, paid=True, start=start.timestamp())
    assert paid[1]["price"] == -points[1]["price"] and paid[1]["price_max"] == pytest.approx(-0.06)  # least negative
    assert len(json.dumps(points)) < 16_384  # HA's recorder drops attributes above 16 kB
    ten_past = forecast_points(five_minute[2:], paid=False, start=start.timestamp() + 600)
    assert len(ten_past) == FORECAST_HOURS * 2 and ten_past[0]["start"] == (start + dt.timedelta(minutes=10)).isoformat()


def test_a_site_goes_offline_when_its_prices_are_stale_and_has_no_state_before_its_first_poll():
    assert states()[TOPICS.site_status(SITE)] == "online"
    assert states(now=SCRAPED_AT + 901)[TOPICS.site_status(SITE)] == "offline"
    empty = dataclasses.replace(fixture_snapshot(), prices=frozen_map({}))
    assert states(empty) == {TOPICS.site_status(SITE): "offline"}


def test_the_site_state_has_spot_renewables_and_when_it_was_polled():
    site = json.loads(states()[TOPICS.site_state(SITE)])
    assert site == {"spot_price": 0.0623, "renewables": 45.9, "grid_renewables": 45.9,
                    "updated_at": "2021-05-05T02:05:05+00:00"}  # fmt: skip


def test_closed_sites_and_the_nmi_are_never_published():
    snapshot = fixture_snapshot()
    published = {**states(snapshot), **discovery_messages(snapshot, TOPICS)}
    closed = [e.site.id for e in snapshot.sites if not e.polled]
    assert closed and not any(site in topic for topic in published for site in closed)
    nmis = [e.site.nmi for e in snapshot.sites]
    assert not any(nmi in text for nmi in nmis for pair in published.items() for text in pair)


# --- discovery -----------------------------------------------------------------------------------------------


def discovery() -> dict[str, dict]:
    return {topic: json.loads(payload) for topic, payload in discovery_messages(fixture_snapshot(), TOPICS).items()}


def test_every_config_has_what_home_assistant_needs_and_reads_a_published_value():
    configs, published = discovery(), states()
    assert len(configs) == 4 + 7 * 2  # site entities, and 7 per channel (general, feedIn)
    for topic, config in configs.items():
        assert re.fullmatch(r"homeassistant/(sensor|binary_sensor)/amber_home_[A-Z0-9]+/[A-Za-z_]+/config", topic)
        assert REQUIRED <= set(config), topic
        assert config["availability"][0] == {"topic": "amber-home/status"} and config["availability_mode"] == "all"
        assert config["device"]["identifiers"] == [f"amber_home_{SITE}"]
        key = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", config["value_template"]).group(1)
        assert key in json.loads(published[config["state_topic"]]), (topic, key)
        if topic.startswith("homeassistant/binary_sensor/"):
            assert json.loads(published[config["state_topic"]])[key] in ("ON", "OFF", None)


def test_unique_ids_are_unique_and_stable():
    ids = [c["unique_id"] for c in discovery().values()]
    assert len(ids) == len(set(ids))
    assert f"amber_home_{SITE}_general_price" in ids and f"amber_home_{SITE}_feedIn_spike" in ids
    assert ids == [c["unique_id"] for c in discovery().values()]


def test_price_sensors_have_units_and_state_class_for_statistics_and_the_energy_dashboard():
    configs = {c["unique_id"].removeprefix(f"amber_home_{SITE}_"): c for c in discovery().values()}
    for key in ("general_price", "feedIn_price", "spot_price"):
        assert configs[key]["unit_of_measurement"] == PRICE_UNIT == "AUD/kWh"
        assert configs[key]["state_class"] == "measurement"
        assert "device_class" not in configs[key]  # HA allows monetary only with state_class total
    assert configs["renewables"]["unit_of_measurement"] == "%"
    assert configs["updated"]["device_class"] == "timestamp"
    assert configs["general_forecast"]["json_attributes_topic"] == TOPICS.forecast(SITE, "general")
    assert "paid" in configs["feedIn_price"]["name"]


# --- each load's next cheap window (the advisor) ------------------------------------------------------------


def plan_states(snapshot=None) -> dict[str, dict]:
    snapshot = snapshot or fixture_snapshot()
    published = state_messages(snapshot, TOPICS, now=SCRAPED_AT, stale_after=900.0, loads=(*LOADS, POOL))
    return {t.rsplit("/", 1)[1]: json.loads(p) for t, p in published.items() if "/plans/" in t}


def plan_configs() -> dict[str, dict]:
    configs = discovery_messages(fixture_snapshot(), TOPICS, (*LOADS, POOL))
    return {c["unique_id"].removeprefix(f"amber_home_{SITE}_"): c for c in map(json.loads, configs.values())}


def test_a_load_s_window_is_published_in_dollars_with_timestamps():
    window = next(w for w in fixture_snapshot().prices[SITE].plans if w.load.name == "dishwasher")
    state = plan_states()["dishwasher"]
    assert state["start"] == "2021-05-05T02:00:00+00:00" == window.start.isoformat()
    assert state["end"] == "2021-05-05T03:00:00+00:00"
    assert state["mean_price"] == pytest.approx(float(window.mean_price) / 100) == pytest.approx(0.273765)
    assert (state["price_low"], state["price_high"]) == (pytest.approx(0.249765), pytest.approx(0.335765))
    assert state["saving"] == 0.0 and state["saving_aud"] == 0.0  # the fixture's cheapest hour starts now
    assert state["kw"] == 2.0 and state["channel"] == "general" and state["minutes"] == 60


def test_a_feed_in_window_is_what_you_are_paid_and_its_saving_is_what_you_gain():
    window = next(w for w in fixture_snapshot().prices[SITE].plans if w.load.name == "battery")
    assert window.mean_price < 0 and window.low < window.high < 0  # Amber's sign: negative = paid
    state = plan_states()["battery"]
    assert state["mean_price"] == pytest.approx(0.1277) and state["now_price"] == pytest.approx(0.05983)
    assert state["saving"] == pytest.approx(0.1277 - 0.05983) and state["saving"] > 0  # paid more then than now
    assert (state["price_low"], state["price_high"]) == (pytest.approx(0.1097), pytest.approx(0.1877))
    assert state["saving_aud"] is None and state["kw"] is None  # no power given: no dollars


def test_the_saving_in_dollars_is_the_load_s_power_times_hours_times_the_price_difference():
    car = parse_loads("car 2h by 07:00 7kW")[0]
    start = dt.datetime(2021, 5, 5, 15, tzinfo=dt.UTC)
    window = Window(car, start, start + dt.timedelta(hours=2), Decimal("10"), Decimal("30"), None, None)
    state = plan_state(car, window)
    assert state["saving"] == pytest.approx(0.20) and state["saving_aud"] == pytest.approx(2.80)  # 20c x 7kW x 2h
    assert state["price_low"] is None and state["price_high"] is None  # no band when Amber sent none
    assert state["by"] == "07:00" and state["kw"] == 7.0


def test_a_load_no_window_fits_is_unknown_and_so_is_every_load_before_the_first_poll():
    blank = {"start", "end", "mean_price", "now_price", "saving", "saving_aud", "price_low", "price_high"}
    pool = plan_states()["pool"]  # controlledLoad: the fixture site has no such channel
    assert {k for k, v in pool.items() if v is None} == blank | {"kw", "by"}
    unpolled = plan_states(dataclasses.replace(fixture_snapshot(), prices=frozen_map({})))
    assert set(unpolled) == {"dishwasher", "battery", "pool"}
    assert all(blank <= {k for k, v in state.items() if v is None} for state in unpolled.values())


def test_plan_entities_follow_the_other_entities_conventions():
    configs, published = plan_configs(), states_with_loads()
    plans = {k: c for k, c in configs.items() if k.startswith("plan_")}
    assert sorted(plans) == sorted(
        [f"plan_{n}_{k}" for n in ("dishwasher", "battery", "pool") for k in ("start", "end", "mean_price", "saving")]
        + ["plan_dishwasher_saving_aud"]  # the only load with a power
    )
    for key, config in plans.items():
        assert REQUIRED <= set(config) and config["device"]["identifiers"] == [f"amber_home_{SITE}"]
        assert config["availability"] == configs["spot_price"]["availability"]  # exporter and site freshness
        field = re.fullmatch(r"\{\{ value_json\.(\w+) \}\}", config["value_template"]).group(1)
        assert field in json.loads(published[config["state_topic"]]), key
        assert "state_class" not in config
    assert plans["plan_dishwasher_start"]["device_class"] == "timestamp"
    assert plans["plan_battery_end"]["device_class"] == "timestamp"
    assert plans["plan_dishwasher_mean_price"]["unit_of_measurement"] == PRICE_UNIT
    assert plans["plan_dishwasher_saving"]["unit_of_measurement"] == PRICE_UNIT
    assert plans["plan_dishwasher_saving_aud"]["unit_of_measurement"] == "AUD"
    assert plans["plan_battery_mean_price"]["json_attributes_topic"] == TOPICS.plan(SITE, "battery")
    assert "paid" in plans["plan_battery_mean_price"]["name"] and "paid" not in plans["plan_pool_mean_price"]["name"]
    assert list(plan_configs()) == list(configs)  # stable ids, stable order


def states_with_loads() -> dict[str, str]:
    return state_messages(fixture_snapshot(), TOPICS, now=SCRAPED_AT, stale_after=900.0, loads=(*LOADS, POOL))


def test_sites_without_prices_get_site_entities_only():
    snapshot = dataclasses.replace(fixture_snapshot(), prices=frozen_map({}))
    assert len(discovery_messages(snapshot, TOPICS)) == 4
    again = dataclasses.replace(snapshot, prices=frozen_map({SITE: SitePrices(channel_views(fixture_intervals()), 0)}))
    assert len(discovery_messages(again, TOPICS)) == 18


def test_topics_tell_which_site_they_belong_to():
    topics = Topics("home/amber", "ha")
    assert topics.site_of(topics.channel_state(SITE, "general")) == SITE
    assert topics.site_of(topics.site_status(SITE)) == SITE
    assert topics.site_of(topics.config("binary_sensor", SITE, "general_spike")) == SITE
    assert topics.site_of(topics.availability) is None and topics.site_of(topics.plan(SITE, "car")) == SITE
    assert topics.is_plan(topics.plan(SITE, "car")) and topics.is_plan(topics.config("sensor", SITE, "plan_car_end"))
    assert not topics.is_plan(topics.config("sensor", SITE, "general_price"))
    assert not topics.is_plan(topics.channel_state(SITE, "general")) and not topics.is_plan(topics.availability)
    assert not topics.is_plan("ha/sensor/someone_else/plan_x/config")
    assert topics.site_of("ha/sensor/someone_else/x/config") is None and topics.site_of("elsewhere/x/y") is None
