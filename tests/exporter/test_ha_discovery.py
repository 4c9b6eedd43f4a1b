"""The pure Home Assistant message builders (exporter/ha_discovery.py) on the fixture Snapshot: signs and
units, the bounded forecast, availability from freshness, the discovery configs' shape, the plans hook."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from exporter.ha_discovery import (
    FORECAST_HOURS,
    PRICE_UNIT,
    Topics,
    channel_state,
    discovery_messages,
    forecast_points,
    plans_message,
    state_messages,
)
from exporter.snapshot import SitePrices, channel_views, frozen_map
from tests.exporter.test_collector import SCRAPED_AT, SITE, fixture_intervals, fixture_snapshot

TOPICS = Topics("amber-home", "homeassistant")
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


# --- the advisor's hook --------------------------------------------------------------------------------------


def test_plans_are_published_only_when_the_snapshot_has_them():
    assert plans_message(fixture_snapshot(), TOPICS) == {}

    @dataclasses.dataclass(frozen=True)
    class Window:
        load: str
        start: dt.datetime
        price: float

    snapshot = SimpleNamespace(plans={SITE: (Window("dishwasher", dt.datetime(2021, 5, 5, 3, tzinfo=dt.UTC), 0.1),)})
    assert json.loads(plans_message(snapshot, TOPICS)["amber-home/plans"]) == {
        SITE: [{"load": "dishwasher", "start": "2021-05-05T03:00:00+00:00", "price": 0.1}]
    }


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
    assert topics.site_of(topics.availability) is None and topics.site_of(topics.plans) is None
    assert topics.site_of("ha/sensor/someone_else/x/config") is None and topics.site_of("elsewhere/x/y") is None
