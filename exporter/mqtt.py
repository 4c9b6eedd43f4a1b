"""Publish the poll loop's Snapshot to an MQTT broker for Home Assistant (discovery, retained state).

    publisher = MqttPublisher.from_settings(settings, store)   # None when MQTT_URL is unset
    registry.register(MqttCollector(publisher))                # amber_mqtt_connected, ..._published_total
    publisher.start()     # connects in the background; publishes on every Snapshot update
    publisher.stop()      # says offline, disconnects

No Amber request of its own: it reads what the poll loop stored (exporter/ha_discovery.py builds the
messages). It never holds up the poll loop or /metrics: the store only wakes its thread (an Event), and
the thread reads the latest Snapshot, so updates that arrive while it is busy or disconnected collapse
into one. While the broker is away nothing is queued; on every (re)connect everything is published again
(a restarted broker may have lost its retained messages). Otherwise only changed payloads are sent.
Topics of a site no longer polled are cleared. So are plan topics of a load no longer configured: those
sent this run, and those the broker still retains from an earlier run (the publisher subscribes to each
live site's plan topics to learn them; they arrive just after a connect, so the clearing pass that
follows removes them).

paho-mqtt's own network thread connects, keeps alive and reconnects with backoff (RECONNECT_MIN..MAX s).
The broker publishes the last will, `{prefix}/status` = offline (retained), when the exporter dies.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from amber.advisor import Load
from amber.secret import Secret
from exporter.ha_discovery import OFFLINE, ONLINE, Topics, discovery_messages, state_messages
from exporter.snapshot import SnapshotStore
from runtime.settings import MqttBroker

if TYPE_CHECKING:
    from runtime.settings import Settings

logger = logging.getLogger(__name__)

KEEPALIVE = 30  # seconds; the broker sends the last will after 1.5 x this without a packet from a live host
RECONNECT_MIN, RECONNECT_MAX = 1, 60  # seconds of backoff between connection attempts (doubling)
TICK = 30.0  # seconds: re-check freshness (site availability) even when no new Snapshot arrives
MAX_QUEUED = 1000  # messages paho may hold unsent; a full round is about 40 per site
QOS = 1


class MqttPublisher:
    def __init__(
        self,
        store: SnapshotStore,
        broker: MqttBroker,
        topics: Topics,
        *,
        username: str | None = None,
        password: Secret | None = None,
        stale_after: float = 900.0,
        loads: Sequence[Load] = (),
        keepalive: int = KEEPALIVE,
        tick: float = TICK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._broker, self._topics = store, broker, topics
        self._stale_after, self._keepalive, self._tick, self._clock = stale_after, keepalive, tick, clock
        self._loads = tuple(loads)  # AMBER_LOADS: each gets its cheap-window entities per site
        self._wake, self._stop = threading.Event(), threading.Event()
        self._connected = threading.Event()
        self._resync = True  # publish everything on the next pass (set on every connect)
        self._sent: dict[str, str] = {}  # topic -> payload the broker has (retained) since the last connect
        self._watched: set[str] = set()  # sites whose plan topics we subscribed to since the last connect
        self._retained: set[str] = set()  # plan topics the broker held when we subscribed (paho's thread adds)
        self._retained_lock = threading.Lock()
        self._outage_logged = False
        self._thread: threading.Thread | None = None
        self.published = 0  # messages handed to paho (amber_mqtt_messages_published_total)

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"amber-home-{secrets.token_hex(4)}",
                             protocol=mqtt.MQTTv311)  # fmt: skip
        if username:
            client.username_pw_set(username, password.reveal() if password else None)
        if broker.tls:
            client.tls_set()  # the system's CA certificates; the host name is checked
        client.will_set(topics.availability, OFFLINE, qos=QOS, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings, store: SnapshotStore) -> MqttPublisher | None:
        if settings.mqtt_url is None:
            return None
        return cls(
            store, settings.mqtt_url, Topics(settings.mqtt_topic_prefix, settings.mqtt_discovery_prefix),
            username=settings.mqtt_username, password=settings.mqtt_password,
            stale_after=settings.exporter_stale_seconds, loads=settings.loads or (),
        )  # fmt: skip

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        logger.info("MQTT: publishing to %s under %s/ (discovery under %s/)", self._broker, self._topics.prefix,
                    self._topics.discovery_prefix)  # fmt: skip
        self._store.subscribe(lambda _snapshot: self._wake.set())
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._keepalive)
        self._client.loop_start()  # paho's thread: connects, retries with backoff, keeps alive
        self._thread = threading.Thread(target=self._run, name="exporter-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (a clean stop sends no last will), disconnect, end both threads."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._connected.is_set():
            info = self._client.publish(self._topics.availability, OFFLINE, qos=QOS, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):  # the connection went meanwhile
                pass
        self._client.disconnect()
        self._client.loop_stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._tick)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.publish_once()
            except Exception as exc:  # noqa: BLE001 - a bug must not end the thread; one line, no traceback
                logger.warning("MQTT: publishing failed (%s: %s); trying again on the next update",
                               type(exc).__name__, exc)  # fmt: skip

    # -- publishing -----------------------------------------------------------------------------------

    def publish_once(self) -> int:
        """Send what the broker does not have yet; returns how many messages. Nothing while disconnected."""
        if not self._connected.is_set():
            return 0
        if self._resync:
            self._resync = False
            self._sent.clear()
            self._watched.clear()  # a clean session: the broker forgot our subscriptions
        snapshot, topics, loads = self._store.get(), self._topics, self._loads
        messages = {
            **discovery_messages(snapshot, topics, loads),  # entities first, then their values,
            **state_messages(snapshot, topics, now=self._clock(), stale_after=self._stale_after, loads=loads),
            topics.availability: ONLINE,  # then online: HA shows the entities with values at once
        }
        live = {entry.site.id for entry in snapshot.sites if entry.polled}
        for site_id in live - self._watched:
            self._client.subscribe([(f, QOS) for f in topics.plan_subscriptions(site_id)])
            self._watched.add(site_id)
        with self._retained_lock:
            known = self._sent.keys() | self._retained
        # Sites no longer polled, loads no longer configured: an empty retained payload deletes each topic,
        # and HA drops the entity (the device, when it was a site's last).
        for topic in known:
            if topic not in messages and (topics.site_of(topic) not in (None, *live) or topics.is_plan(topic)):
                messages[topic] = ""
        sent = 0
        for topic, payload in messages.items():
            if self._sent.get(topic) == payload:
                continue
            info = self._client.publish(topic, payload, qos=QOS, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:  # disconnected or queue full: all again after reconnecting
                self._resync = True
                break
            if payload:
                self._sent[topic] = payload
            else:
                self._sent.pop(topic, None)
                with self._retained_lock:
                    self._retained.discard(topic)
            sent += 1
        self.published += sent
        return sent

    # -- paho callbacks (paho's network thread: keep them short) -------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._outage(f"the broker refused the connection ({reason_code})")
            return
        logger.info("MQTT: connected to %s", self._broker)
        self._outage_logged = False
        self._resync = True
        with self._retained_lock:
            self._retained.clear()
        self._connected.set()
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        # Only what the broker held when we subscribed (retain flag); our own publishes echo without it.
        if message.retain and message.payload and self._topics.is_plan(message.topic):
            with self._retained_lock:
                self._retained.add(message.topic)
            self._wake.set()  # clear it now rather than at the next tick

    def _on_connect_fail(self, client, userdata) -> None:
        self._outage("cannot reach the broker")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            self._outage(f"lost the connection ({reason_code})")

    def _outage(self, why: str) -> None:
        if not self._outage_logged:  # one line per outage, not one per retry
            self._outage_logged = True
            logger.warning("MQTT: %s at %s; retrying with backoff up to %d s; /metrics is unaffected", why,
                           self._broker, RECONNECT_MAX)  # fmt: skip


class MqttCollector(Collector):
    """The publisher's health for Prometheus, read from its in-process state (no I/O)."""

    def __init__(self, publisher: MqttPublisher) -> None:  # anything with .connected and .published
        self._publisher = publisher

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("amber_mqtt_connected", "1 while the exporter is connected to the MQTT broker "
                                "(MQTT_URL).", value=1 if self._publisher.connected else 0)  # fmt: skip
        yield CounterMetricFamily("amber_mqtt_messages_published", "MQTT messages handed to the broker "
                                  "connection (only changed payloads, and everything after a reconnect).",
                                  value=self._publisher.published)  # fmt: skip
