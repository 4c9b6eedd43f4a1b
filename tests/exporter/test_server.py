"""The exporter's HTTP server over real HTTP on 127.0.0.1 (port 0), the alert relay mount, scrapes that never
reach the Amber API (counted at the simulator), and `amber-home export` as a process that stops on SIGTERM."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from amber_home import cli
from exporter.__main__ import build_relay, main
from exporter.alerts import AlertRelay
from exporter.collector import AmberCollector
from exporter.server import ExporterApp, ExporterServer
from exporter.snapshot import Snapshot, SnapshotStore
from tests.exporter.test_collector import SCRAPED_AT, SITE, fixture_snapshot
from tests.exporter.test_poller import BOUNDARY, rig

ROOT = Path(__file__).parents[2]


@contextmanager
def serving(store: SnapshotStore, *, alerts=None, api_stats=None, budget=None, now: float = SCRAPED_AT):
    registry = CollectorRegistry()
    registry.register(AmberCollector(store, price_threshold=30.0, feed_in_threshold=0.0, api_stats=api_stats,
                                     budget=budget, clock=lambda: now))  # fmt: skip
    with (
        ExporterServer(ExporterApp(registry, store, alerts=alerts), "127.0.0.1", 0) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http,
    ):
        yield http


# --- endpoints ---------------------------------------------------------------------------------------------


def test_metrics_are_served_in_the_prometheus_text_format():
    with serving(SnapshotStore(fixture_snapshot())) as http:
        response = http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert f'amber_price_dollars_per_kwh{{channel="general",site_id="{SITE}"}} 0.27063' in response.text
        assert "amber_up 1.0" in response.text
        om = http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.endswith("# EOF\n")


def test_healthz_answers_200_with_the_poll_state_even_when_down():
    with serving(SnapshotStore(fixture_snapshot())) as http:
        response = http.get("/healthz")
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["status"] == "ok" and body["up"] is True and body["sites"] == 1
        assert body["last_success"] == "2021-05-05T02:05:05+00:00"
    down = Snapshot(up=False, last_error="site X: Amber current_prices: unavailable", consecutive_failures=3)
    with serving(SnapshotStore(down)) as http:
        body = http.get("/healthz").json()
        assert body["up"] is False and body["last_success"] is None and body["consecutive_failures"] == 3


def test_landing_page_links_metrics_and_escapes_what_it_shows():
    snap = dataclasses.replace(fixture_snapshot(), up=False, last_error="<script>alert(1)</script>")
    with serving(SnapshotStore(snap)) as http:
        response = http.get("/")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "href='/metrics'" in response.text and "DOWN" in response.text
        assert "<script>" not in response.text and "&lt;script&gt;" in response.text
        assert "27.06" in response.text  # the general price in c/kWh


def test_unknown_paths_and_methods():
    with serving(SnapshotStore()) as http:
        assert http.get("/nope").status_code == 404
        assert http.post("/metrics", content=b"x").status_code == 405


def test_alerts_without_a_notification_target_are_accepted_and_dropped_quietly(caplog):
    caplog.set_level(logging.INFO, logger="exporter.server")
    with serving(SnapshotStore()) as http:
        for _ in range(3):
            response = http.post("/alerts", content=b"{}")
            # 2xx: Alertmanager neither retries nor logs an error per group every minute.
            assert response.status_code == 202 and "APPRISE_URLS" in response.text
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 1


class FakeNotifier:
    def __init__(self) -> None:
        self.sent = []

    def send(self, notification) -> None:
        self.sent.append(notification)


WEBHOOK = {
    "version": "4",
    "status": "firing",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "AmberPriceSpike", "site_id": SITE, "channel": "general", "severity": "critical"},
        "annotations": {"title": "Price spike", "summary": "Price spike: 312.4 c/kWh"},
        "startsAt": "2025-01-15T07:05:10Z",
    }],
}  # fmt: skip


def test_alerts_are_relayed_at_post_alerts():
    notifier = FakeNotifier()
    relay = AlertRelay(notifier, token="hook-token")
    with serving(SnapshotStore(), alerts=relay.wsgi) as http:
        assert http.post("/alerts", json=WEBHOOK).status_code == 401  # token required
        response = http.post("/alerts", json=WEBHOOK, headers={"Authorization": "Bearer hook-token"})
        assert response.status_code == 200, response.text
        assert len(notifier.sent) == 1


def test_bad_bodies_are_4xx_in_one_line_without_a_traceback(capfd):
    relay = AlertRelay(FakeNotifier())
    with serving(SnapshotStore(), alerts=relay.wsgi) as http:
        for body in (b"[" * 200_000 + b"]" * 200_000, b'{"version": "4", "alerts": [{"status": 7}]}',
                     b'{"version": "4", "alerts": {"a": 1}}', b"\xff\xfe"):
            response = http.post("/alerts", content=body)
            assert response.status_code == 400 and response.text.count("\n") == 1, response.text
    assert "Traceback" not in capfd.readouterr().err


def test_stalled_connections_cannot_pile_up_threads_and_are_dropped(monkeypatch):
    """170 connections that send nothing (a slowloris from the LAN) once held 170 threads for ever."""
    import exporter.server as server_module

    monkeypatch.setattr(server_module._QuietHandler, "timeout", 1.0)
    before = threading.active_count()
    with serving(SnapshotStore()) as http:
        port = int(str(http.base_url).rsplit(":", 1)[1].strip("/"))
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(170)]
        try:
            time.sleep(0.3)
            assert threading.active_count() <= before + 2 + server_module.MAX_WORKERS
            for sock in stalled:  # each one is answered 503 at once or dropped after the timeout
                sock.settimeout(5)
                assert sock.recv(100) in (b"", ExporterServerBusy)
            assert http.get("/metrics").status_code == 200
        finally:
            for sock in stalled:
                sock.close()


ExporterServerBusy = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def test_the_relay_is_mounted_only_when_notification_urls_are_set(tmp_path):
    from runtime.settings import ConfigError, Settings

    assert build_relay(Settings.from_env({})) is None
    assert callable(build_relay(Settings.from_env({"APPRISE_URLS": "json://127.0.0.1:9/hook"})))
    with pytest.raises(ConfigError, match="APPRISE_CONFIG"):
        Settings.from_env({"APPRISE_CONFIG": str(tmp_path / "missing.yml")})


# --- scrapes never reach the API ------------------------------------------------------------------------------


def test_many_concurrent_scrapes_send_no_request_to_the_amber_api():
    with rig(sites=2) as r:
        r.at(BOUNDARY)
        before_sim = r.sim.stats.total
        before_client = r.client.stats()["requests"]
        with serving(r.store, api_stats=r.client.stats, budget=r.client.budget, now=BOUNDARY.timestamp()) as http:

            def scrape(_: int) -> int:
                response = http.get("/metrics")
                assert "amber_price_dollars_per_kwh{" in response.text
                return response.status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(scrape, range(200)))
        assert statuses == [200] * 200
        assert r.sim.stats.total == before_sim  # counted at the simulator: 0 requests from scrapes
        assert r.client.stats()["requests"] == before_client


def test_an_api_failure_still_scrapes_200_with_last_values_and_up_0():
    with rig(estimate_seconds=0) as r:
        wake = r.at(BOUNDARY)
        r.sim.faults.fail_next(100, 502, endpoint="prices_current")
        r.at(wake)
        site_id = r.sim.site_ids[0]
        with serving(r.store, api_stats=r.client.stats, budget=r.client.budget, now=wake + 30) as http:
            response = http.get("/metrics")
        assert response.status_code == 200
        assert "amber_up 0.0" in response.text
        assert f'amber_price_dollars_per_kwh{{channel="general",site_id="{site_id}"}}' in response.text
        assert 'amber_api_requests_total{endpoint="current_prices",outcome="unavailable"} 1.0' in response.text


# --- the entry point -------------------------------------------------------------------------------------------


def test_export_refuses_to_start_without_an_api_key(capsys):
    assert main([], {}) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AMBER_API_KEY is not set" in err and "simulator" in err
    assert cli.main(["export"], {}) == 2


def test_export_reports_every_configuration_problem(capsys):
    assert main([], {"ALERT_PRICE_ABOVE": "lots", "EXPORTER_PORT": "0"}) == 2
    err = capsys.readouterr().err
    assert "ALERT_PRICE_ABOVE" in err and "EXPORTER_PORT" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_amber_home_export_serves_the_simulator_and_stops_on_sigterm():
    from simulator import SimulatorConfig, SimulatorServer

    port = _free_port()
    with SimulatorServer(SimulatorConfig(seed=3, sites=1, resolution=5, speed=0.0, start=BOUNDARY)) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMBER_", "DATABASE_URL", "APPRISE_"))}
        env.update(AMBER_API_BASE_URL=sim.base_url, EXPORTER_HOST="127.0.0.1", EXPORTER_PORT=str(port),
                   LOG_LEVEL="INFO")  # fmt: skip
        process = subprocess.Popen([sys.executable, "-m", "amber_home.cli", "export"], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            health = None
            while time.monotonic() < deadline:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                    if health["up"]:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            assert health and health["up"], health
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert "amber_price_dollars_per_kwh{" in metrics and "process_resident_memory_bytes" in metrics
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log = process.stderr.read()
        assert "demo key 'sim-key'" in log and "received SIGTERM" in log and "exporter stopped" in log
