"""Entry point of the exporter: `amber-home export` or `python -m exporter`.

Wires the pieces together and runs until SIGTERM/SIGINT:
    AmberClient -> Poller (thread) -> SnapshotStore -> AmberCollector -> registry -> ExporterServer

Configuration comes from the environment (docs/configuration.md): AMBER_API_KEY, AMBER_API_BASE_URL,
AMBER_SITE_ID, AMBER_TIMEZONE, EXPORTER_HOST, EXPORTER_PORT, EXPORTER_STALE_SECONDS,
EXPORTER_REQUEST_SHARE, ALERT_PRICE_ABOVE, ALERT_FEED_IN_ABOVE, LOG_LEVEL, and optionally:
- DATABASE_URL (or DATABASE_URL_FILE): only when set in the environment are the loader's freshness and
  cost metrics read; the Settings default (a local database) is not enough, so a price-only setup
  does not log connection errors every minute.
- APPRISE_URLS / APPRISE_CONFIG (exporter/alerts.py's settings): mount the alert relay at POST /alerts.
- MQTT_URL (with MQTT_USERNAME, MQTT_PASSWORD, MQTT_TOPIC_PREFIX, MQTT_DISCOVERY_PREFIX): publish the
  Snapshot to an MQTT broker for Home Assistant (exporter/mqtt.py), from its own thread.

Demo mode: without AMBER_API_KEY the exporter runs only when AMBER_API_BASE_URL points somewhere other
than Amber (the simulator, `amber-home simulate`), using the simulator's demo key "sim-key".
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from amber.client import AmberClient
from amber.secret import api_location
from runtime.client import DEMO_API_KEY, client_from_settings, service_settings
from runtime.logs import configure_logging
from runtime.settings import ConfigError, Settings
from runtime.signals import stop_on_signals

logger = logging.getLogger("exporter")

REQUEST_TIMEOUT = 15.0  # seconds; a poll must finish well inside its 5-minute interval


def _is_set(environ: Mapping[str, str], name: str) -> bool:
    return bool(environ.get(name, "").strip() or environ.get(f"{name}_FILE", "").strip())


def build_client(settings: Settings) -> AmberClient:
    # No 429 waits and no retries inside the client: the poll loop skips and retries on its own schedule,
    # so it never sleeps inside a request and its request count stays what poller.py documents.
    return client_from_settings(settings, timeout=REQUEST_TIMEOUT, max_retries=0, max_rate_limit_waits=0)


def build_relay(settings: Settings):
    """The relay's WSGI app when APPRISE_URLS/APPRISE_CONFIG is set, else None. Raises ConfigError."""
    if settings.apprise_urls is None and settings.apprise_config is None:
        return None
    from exporter.alerts import AlertRelay, AppriseNotifier, RelaySettings

    relay_settings = RelaySettings.from_settings(settings)
    notifier = AppriseNotifier(relay_settings.urls, relay_settings.config_path)
    return AlertRelay(notifier, relay_settings.token, relay_settings.timezone).wsgi


@dataclasses.dataclass(frozen=True)
class Exporter:
    """The exporter's parts, wired: the poll loop fills `store`; `app` serves it (and /alerts)."""

    client: AmberClient
    store: Any
    poller: Any
    app: Any
    mqtt: Any = None  # MqttPublisher when MQTT_URL is set; the caller starts and stops it


def build_exporter(settings: Settings, *, alerts=None, database=None, clock: Callable[[], float] = time.time) -> Exporter:
    """Wire client -> Poller -> SnapshotStore -> AmberCollector -> registry -> ExporterApp, and the MQTT
    publisher on the same store when MQTT_URL is set. The caller runs `poller` (run_forever, or poll_once
    in tests), serves `app` and starts `mqtt`."""
    from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

    from exporter.collector import AmberCollector
    from exporter.poller import Poller
    from exporter.server import ExporterApp
    from exporter.snapshot import SnapshotStore

    client = build_client(settings)
    store = SnapshotStore()
    registry = CollectorRegistry()
    registry.register(AmberCollector(
        store,
        price_threshold=settings.alert_price_above,
        feed_in_threshold=settings.alert_feed_in_above,
        stale_after=settings.exporter_stale_seconds,
        api_stats=client.stats,
        budget=client.budget,
        clock=clock,
    ))  # fmt: skip
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    poller = Poller(
        client, store, site_ids=settings.site_ids, request_share=settings.exporter_request_share,
        database=database, loads=settings.loads or (), zone=settings.timezone, clock=clock,
    )  # fmt: skip
    publisher = None
    if settings.mqtt_url is not None:
        from exporter.mqtt import MqttCollector, MqttPublisher

        publisher = MqttPublisher.from_settings(settings, store)  # None only without MQTT_URL
        if publisher is not None:
            registry.register(MqttCollector(publisher))
    return Exporter(client, store, poller, ExporterApp(registry, store, alerts=alerts), publisher)


def main(argv: Sequence[str] = (), environ: Mapping[str, str] = os.environ, *, prog: str = "amber-home export") -> int:
    argparse.ArgumentParser(
        prog=prog,
        description="Run the Prometheus exporter (/metrics) and the alert relay (POST /alerts). "
        "Configuration comes from the environment; see docs/configuration.md.",
    ).parse_args(list(argv))
    loaded = service_settings(environ)
    if loaded is None:
        return 2
    settings, demo = loaded
    configure_logging(settings.log_level)
    try:
        alerts = build_relay(settings)
    except (ConfigError, ValueError) as exc:
        print(exc if isinstance(exc, ConfigError) else f"error: {exc}", file=sys.stderr)
        return 2

    from exporter.server import ExporterServer

    database = _database_reader(settings, environ)
    exporter = build_exporter(settings, alerts=alerts, database=database)
    try:
        server = ExporterServer(exporter.app, settings.exporter_host, settings.exporter_port)
    except OSError as exc:
        print(f"error: cannot listen on {settings.exporter_host}:{settings.exporter_port}: {exc.strerror}", file=sys.stderr)
        exporter.client.close()
        return 1

    stop = threading.Event()
    stop_on_signals(stop, logger)

    logger.info(
        "exporter on http://%s:%d/metrics; Amber API %s%s; database metrics %s; alert relay %s",
        settings.exporter_host, server.port, api_location(settings.api_base_url),
        f" (demo key {DEMO_API_KEY!r}: no AMBER_API_KEY)" if demo else "",
        "on" if database else "off (DATABASE_URL unset)",
        "at POST /alerts" if alerts else "off (APPRISE_URLS unset)",
    )  # fmt: skip
    _serve_until_stopped(exporter, server, stop)
    logger.info("exporter stopped")
    return 0


def _database_reader(settings: Settings, environ: Mapping[str, str]):
    """The reader of the loader's freshness and cost facts, only when DATABASE_URL is set in the
    environment (see the module docstring), else None."""
    if not _is_set(environ, "DATABASE_URL"):
        return None
    from exporter.db_metrics import DatabaseMetricsReader

    return DatabaseMetricsReader(settings.database_url, settings.timezone)


def _serve_until_stopped(exporter: Exporter, server: Any, stop: threading.Event) -> None:
    """Serve, publish and poll (in its own thread) until `stop` is set; then stop each part and close
    the client."""
    server.start()
    publisher = exporter.mqtt
    if publisher is not None:
        publisher.start()
    thread = threading.Thread(target=exporter.poller.run_forever, args=(stop,), name="exporter-poll", daemon=True)
    thread.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        if publisher is not None:
            publisher.stop()
        server.stop()
        thread.join(timeout=REQUEST_TIMEOUT + 5)  # an in-flight request finishes or times out
        exporter.client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ, prog="python -m exporter"))
