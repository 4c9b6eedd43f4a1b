"""The MQTT publisher against a real Mosquitto broker on 127.0.0.1 (authentication on): retained discovery
and state, each load's cheap window (cleared when the load is removed, even across a restart), a new
interval from the simulator-driven poll loop, a broker restart mid-run while /metrics keeps answering, the
last will when `amber-home export` is killed, bad credentials. Only the Amber API is faked
(the project's simulator)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from amber.advisor import Load
from amber.secret import Secret
from exporter.ha_discovery import Topics
from exporter.mqtt import MqttPublisher
from exporter.snapshot import SnapshotStore, load_plans
from runtime.settings import MqttBroker
from tests.exporter.test_collector import (
    LOADS,
    POLLED_AT,
    SCRAPED_AT,
    SITE,
    SYDNEY,
    fixture_intervals,
    fixture_snapshot,
)
from tests.exporter.test_poller import BOUNDARY, at_nem, rig
from tests.exporter.test_server import serving
from tests.support.servers import MosquittoServer, free_port

ROOT = Path(__file__).parents[2]
TOPICS = Topics("amber-home", "homeassistant")
WAIT = 15.0  # seconds; generous for a loaded 2-core machine, never reached when things work


class Listener:
    """A separate MQTT client that subscribes to everything and remembers the last payload per topic."""

    def __init__(self, broker: MosquittoServer, *, password: str | None = None) -> None:
        self.messages: dict[str, str] = {}
        self.retained: set[str] = set()
        self._changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{id(self)}")
        self.client.username_pw_set(broker.username, password or broker.password)
        self.client.on_connect = lambda c, *_: c.subscribe([("amber-home/#", 1), ("homeassistant/#", 1)])
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._changed:
            self.messages[message.topic] = message.payload.decode()
            if message.retain:
                self.retained.add(message.topic)
            self._changed.notify_all()

    def wait_for(self, topic: str, check: Callable[[str], bool] = lambda _: True, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (topic in self.messages and check(self.messages[topic])):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{topic}: not seen in {timeout} s (last: {self.messages.get(topic)!r})")
                self._changed.wait(left)
            return self.messages[topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def listening(broker: MosquittoServer) -> Iterator[Listener]:
    listener = Listener(broker)
    try:
        yield listener
    finally:
        listener.close()


@contextmanager
def publishing(broker: MosquittoServer, store: SnapshotStore, *, password: str | None = None,
               clock: Callable[[], float] = lambda: SCRAPED_AT, loads: tuple[Load, ...] = (),
               tick: float = 0.5) -> Iterator[MqttPublisher]:  # fmt: skip
    publisher = MqttPublisher(store, MqttBroker("127.0.0.1", broker.port, False), TOPICS, username=broker.username,
                              password=Secret(password or broker.password), keepalive=5, tick=tick, clock=clock,
                              loads=loads)  # fmt: skip
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()


def general_state(listener: Listener, check: Callable[[dict], bool] = lambda _: True) -> dict:
    return json.loads(listener.wait_for(TOPICS.channel_state(SITE, "general"), lambda p: check(json.loads(p))))


# --- discovery and retained state ----------------------------------------------------------------------------


def test_discovery_and_state_are_retained_for_a_client_that_connects_later(mosquitto):
    with publishing(mosquitto, SnapshotStore(fixture_snapshot())) as publisher:
        with listening(mosquitto) as first:
            first.wait_for(TOPICS.availability, lambda p: p == "online")
        published = publisher.published
        with listening(mosquitto) as late:  # connects after everything was sent: gets it from the broker
            late.wait_for(TOPICS.availability, lambda p: p == "online")
            general_state(late)
            time.sleep(0.5)  # let the rest of the retained burst arrive
            configs = {t: json.loads(p) for t, p in late.messages.items() if t.startswith("homeassistant/")}
            assert len(configs) == 18 and set(late.messages) <= late.retained
            for config in configs.values():  # each entity's state topic holds a value already
                assert config["state_topic"] in late.messages
            assert json.loads(late.messages[TOPICS.channel_state(SITE, "feedIn")])["price"] > 0
            assert late.messages[TOPICS.site_status(SITE)] == "online"
        assert publisher.published == published  # nothing changed, nothing sent again


def test_a_new_interval_is_published_within_seconds_without_extra_amber_requests(mosquitto):
    with rig(estimate_seconds=0) as r:
        site = r.sim.site_ids[0]
        general = TOPICS.channel_state(site, "general")
        with publishing(mosquitto, r.store, clock=lambda: BOUNDARY.timestamp() + 10), listening(mosquitto) as listener:
            wake = r.at(BOUNDARY)
            first = json.loads(listener.wait_for(general))
            assert first["start"] == at_nem(12, 5).astimezone(dt.UTC).isoformat()
            began = time.monotonic()
            r.at(wake)  # 12:10:05: the next interval
            after = json.loads(listener.wait_for(general, lambda p: json.loads(p)["start"] != first["start"]))
            assert time.monotonic() - began < 5
            assert after["start"] == at_nem(12, 10).astimezone(dt.UTC).isoformat()
            forecast = json.loads(listener.wait_for(TOPICS.forecast(site, "general")))
            assert 40 <= len(forecast["forecasts"]) <= 48  # 24 h half-hourly from the simulator's forecast
        assert r.requests("prices_current") == 2 and r.requests("sites") == 1  # the poll loop's own, no more


def test_a_site_no_longer_polled_is_removed_from_home_assistant(mosquitto):
    store = SnapshotStore(fixture_snapshot())
    config = f"homeassistant/sensor/amber_home_{SITE}/general_price/config"
    with publishing(mosquitto, store), listening(mosquitto) as listener:
        listener.wait_for(config)
        listener.wait_for(TOPICS.availability, lambda p: p == "online")
        store.update(lambda s: dataclasses.replace(  # the site was closed: the poller stops polling it
            s, sites=tuple(dataclasses.replace(e, polled=False) for e in s.sites), prices={}))
        for topic in (config, TOPICS.channel_state(SITE, "general"), TOPICS.site_status(SITE)):
            listener.wait_for(topic, lambda p: p == "")
        # Nothing of it stays retained. The publisher clears every topic of the site, the three above first;
        # on a loaded machine the rest may take a moment, so a late client looks again until a deadline.
        deadline = time.monotonic() + 15
        while True:
            with listening(mosquitto) as late:
                late.wait_for(TOPICS.availability)
                time.sleep(0.5)
                left = [t for t in late.messages if SITE in t]
            if not left or time.monotonic() > deadline:
                break
        assert not left


def plan_config(load: str, key: str) -> str:
    return TOPICS.config("sensor", SITE, f"plan_{load}_{key}")


def test_each_load_s_cheap_window_reaches_home_assistant_retained(mosquitto):
    with publishing(mosquitto, SnapshotStore(fixture_snapshot()), loads=LOADS):
        with listening(mosquitto) as first:
            first.wait_for(TOPICS.availability, lambda p: p == "online")
        with listening(mosquitto) as late:  # everything from the broker's retained store
            late.wait_for(TOPICS.availability, lambda p: p == "online")
            start = json.loads(late.wait_for(plan_config("dishwasher", "start")))
            assert start["device_class"] == "timestamp"
            assert start["unique_id"] == f"amber_home_{SITE}_plan_dishwasher_start"
            assert start["state_topic"] == TOPICS.plan(SITE, "dishwasher")
            saving = json.loads(late.wait_for(plan_config("dishwasher", "saving_aud")))
            assert saving["unit_of_measurement"] == "AUD"
            json.loads(late.wait_for(plan_config("battery", "mean_price")))  # feed-in: no kW, no saving_aud
            dishwasher = json.loads(late.wait_for(TOPICS.plan(SITE, "dishwasher")))
            battery = json.loads(late.wait_for(TOPICS.plan(SITE, "battery")))
            assert (dishwasher["start"], dishwasher["end"]) == ("2021-05-05T02:00:00+00:00", "2021-05-05T03:00:00+00:00")
            assert battery["mean_price"] == pytest.approx(0.1277)  # what exporting then pays, AUD/kWh
            time.sleep(0.5)  # let the rest of the retained burst arrive
            assert plan_config("battery", "saving_aud") not in late.messages
            plans = [t for t in late.messages if "plan" in t]
            assert len(plans) == 5 + 4 + 2 and set(plans) <= late.retained


def test_a_load_removed_from_the_settings_is_cleared_even_after_a_restart(mosquitto):
    store = SnapshotStore(fixture_snapshot())
    # An earlier run, with the dishwasher and the battery.
    with publishing(mosquitto, store, loads=LOADS), listening(mosquitto) as listener:
        listener.wait_for(TOPICS.plan(SITE, "battery"))
        listener.wait_for(plan_config("battery", "start"))
    # The user removes the battery and the dishwasher's power, and restarts: the new run never sent them.
    dishwasher = dataclasses.replace(LOADS[0], kw=None)
    plans = load_plans(fixture_intervals(), (dishwasher,), POLLED_AT, SYDNEY)  # as the new run's poller plans
    store.update(lambda s: dataclasses.replace(s, prices={SITE: dataclasses.replace(s.prices[SITE], plans=plans)}))
    with listening(mosquitto) as listener, publishing(mosquitto, store, loads=(dishwasher,), tick=60):
        gone = [TOPICS.plan(SITE, "battery"), plan_config("battery", "start"), plan_config("battery", "mean_price"),
                plan_config("dishwasher", "saving_aud")]  # fmt: skip
        for topic in gone:
            listener.wait_for(topic, lambda p: p == "")
        assert json.loads(listener.messages[TOPICS.plan(SITE, "dishwasher")])["saving_aud"] is None
        with listening(mosquitto) as late:
            late.wait_for(TOPICS.availability, lambda p: p == "online")
            late.wait_for(plan_config("dishwasher", "start"))
            time.sleep(0.5)
            assert not [t for t in late.messages if "battery" in t or "saving_aud" in t]
            assert late.messages[TOPICS.channel_state(SITE, "general")]  # the rest of the site stays


# --- outages -------------------------------------------------------------------------------------------------


def test_a_broker_restart_mid_run_republishes_everything_and_metrics_keep_answering(mosquitto):
    store = SnapshotStore(fixture_snapshot())
    with publishing(mosquitto, store) as publisher, serving(store) as http:
        with listening(mosquitto) as listener:
            before = general_state(listener)
        mosquitto.stop()  # no persistence: every retained message is gone with it
        deadline = time.monotonic() + WAIT
        while publisher.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not publisher.connected
        # Meanwhile the poll loop stores a new price and /metrics answers at once, with it.
        snap = fixture_snapshot()
        prices = snap.prices[SITE]
        general = next(v for v in prices.channels if v.channel == "general")
        dearer = dataclasses.replace(general, current=dataclasses.replace(general.current, per_kwh=55.5))
        channels = tuple(dearer if v.channel == "general" else v for v in prices.channels)
        store.update(lambda s: dataclasses.replace(s, prices={SITE: dataclasses.replace(prices, channels=channels)}))
        began = time.monotonic()
        response = http.get("/metrics")
        assert response.status_code == 200 and time.monotonic() - began < 2
        assert f'amber_price_dollars_per_kwh{{channel="general",site_id="{SITE}"}} 0.555' in response.text
        published = publisher.published
        mosquitto.resume()
        with listening(mosquitto) as watcher:  # the publisher reconnects (backoff from 1 s) and sends it all
            watcher.wait_for(TOPICS.availability, lambda p: p == "online")
        assert publisher.connected and publisher.published >= published + 18 + 6
        with listening(mosquitto) as late:  # a client new to the restarted broker gets it all, retained
            assert general_state(late, lambda s: s["price"] == 0.555)["price"] != before["price"]
            late.wait_for(f"homeassistant/sensor/amber_home_{SITE}/general_price/config")
            late.wait_for(TOPICS.availability, lambda p: p == "online")
            assert {TOPICS.channel_state(SITE, "general"), TOPICS.availability} <= late.retained


def test_a_broker_that_is_not_up_yet_is_waited_for_with_one_warning(mosquitto, caplog):
    caplog.set_level(logging.INFO)
    mosquitto.stop()  # as when Compose starts the exporter before the broker
    with publishing(mosquitto, SnapshotStore(fixture_snapshot())) as publisher:
        deadline = time.monotonic() + WAIT
        while not any("cannot reach" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not publisher.connected and publisher.publish_once() == 0
        mosquitto.resume()
        with listening(mosquitto) as listener:
            listener.wait_for(TOPICS.availability, lambda p: p == "online")
            general_state(listener)
    warnings = [r.getMessage() for r in caplog.records if r.name == "exporter.mqtt" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot reach the broker" in warnings[0]


def test_the_last_will_says_offline_when_the_exporter_is_killed(mosquitto):
    from simulator import SimulatorConfig, SimulatorServer

    with SimulatorServer(SimulatorConfig(seed=3, sites=1, resolution=5, speed=0.0, start=BOUNDARY)) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "DATABASE_URL", "APPRISE_", "MQTT_"))}
        password_file = mosquitto.directory / "exporter-password"
        password_file.write_text(mosquitto.password + "\n")
        env.update(AMBER_API_BASE_URL=sim.base_url, EXPORTER_HOST="127.0.0.1", EXPORTER_PORT=str(free_port()),
                   MQTT_URL=f"mqtt://127.0.0.1:{mosquitto.port}", MQTT_USERNAME=mosquitto.username,
                   MQTT_PASSWORD_FILE=str(password_file), LOG_LEVEL="INFO")  # fmt: skip
        with listening(mosquitto) as listener:
            process = subprocess.Popen([sys.executable, "-m", "amber_home.cli", "export"], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
            try:
                listener.wait_for(TOPICS.availability, lambda p: p == "online", timeout=30)
                state = json.loads(listener.wait_for(TOPICS.channel_state(sim.site_ids[0], "general")))
                assert isinstance(state["price"], float)
                metrics = httpx.get(f"http://127.0.0.1:{env['EXPORTER_PORT']}/metrics", timeout=10).text
                assert "amber_mqtt_connected 1.0" in metrics
                sent = re.search(r"^amber_mqtt_messages_published_total (\S+)$", metrics, re.MULTILINE)
                assert sent and float(sent.group(1)) >= 18
                process.send_signal(signal.SIGKILL)  # no clean stop: only the broker can say it
                listener.wait_for(TOPICS.availability, lambda p: p == "offline")
            finally:
                process.kill()
                output = process.communicate(timeout=10)[0]
        assert mosquitto.password not in output
        assert "MQTT: connected to mqtt://127.0.0.1" in output


def test_a_clean_stop_says_offline(mosquitto):
    with listening(mosquitto) as listener:
        with publishing(mosquitto, SnapshotStore(fixture_snapshot())):
            listener.wait_for(TOPICS.availability, lambda p: p == "online")
        listener.wait_for(TOPICS.availability, lambda p: p == "offline")


def test_refused_credentials_are_one_warning_without_the_password_and_nothing_stalls(mosquitto, caplog):
    caplog.set_level(logging.INFO)
    store = SnapshotStore(fixture_snapshot())
    with publishing(mosquitto, store, password="wrong-password") as publisher:
        deadline = time.monotonic() + WAIT
        while not any("refused" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        began = time.monotonic()
        for _ in range(20):  # the poll loop's writes return at once
            store.update(lambda s: dataclasses.replace(s, last_poll=time.time()))
        assert time.monotonic() - began < 0.5
        assert not publisher.connected and publisher.published == 0
    warnings = [r for r in caplog.records if r.name == "exporter.mqtt" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "refused" in warnings[0].getMessage() and warnings[0].exc_info is None
    assert "wrong-password" not in caplog.text and mosquitto.password not in caplog.text
    assert "\n" not in warnings[0].getMessage()
