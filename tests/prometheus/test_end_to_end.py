"""A price spike from the Amber API reaches the phone, and so does its end — every part real but Amber:

simulator (scripted spike) → the exporter (its client, poll loop, cache, collector, HTTP server and
/alerts relay, built by exporter.__main__.build_exporter) → Prometheus (the repository's rules) →
Alertmanager (the repository's alertmanager.yml) → the exporter's /alerts → Apprise → json:// receiver.

The test drives the poll loop's clock (poll_once) instead of waiting for real 5-minute boundaries, and
shortens the rules' keep_firing_for and Alertmanager's waits so the resolved message comes in seconds.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import urllib.request
from pathlib import Path

from exporter.__main__ import build_exporter, build_relay
from exporter.server import ExporterServer
from runtime.settings import Settings
from simulator import SimulatorConfig, SimulatorServer
from tests.exporter.receiver import Receiver
from tests.prometheus.test_pipeline import TOKEN, alertmanager_config, free_port, start
from tests.prometheus.tools import PROMETHEUS_DIR


def rules_with_short_keep_firing(target: Path) -> None:
    target.mkdir()
    for path in (PROMETHEUS_DIR / "rules").glob("*.rules.yml"):
        text = path.read_text()
        assert "keep_firing_for: 2m" in text or path.name != "prices.rules.yml"
        (target / path.name).write_text(text.replace("keep_firing_for: 2m", "keep_firing_for: 1s"))


def general_price(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    match = re.search(r'^amber_price_dollars_per_kwh\{channel="general",site_id="[^"]+"\} (\S+)$', text, re.MULTILINE)
    assert match, "the exporter publishes no general price"
    return float(match.group(1))


def test_spike_and_its_end_reach_the_phone(prometheus_bin: Path, tmp_path: Path) -> None:
    receiver = Receiver()
    now = [time.time()]
    with SimulatorServer(SimulatorConfig(seed=11, sites=1, resolution=5, spike_probability=0.0)) as sim:
        sim.clock.speed = 0  # the test moves Amber's time
        site_id = sim.site_ids[0]
        interval_start = dt.datetime.fromtimestamp(now[0] // 300 * 300, dt.UTC)
        sim.script_spike(site_id, interval_start, interval_start + dt.timedelta(minutes=5), spot_per_kwh=1500.0)

        settings = Settings.from_env({
            "AMBER_API_KEY": sim.api_key,
            "AMBER_API_BASE_URL": sim.base_url,
            "APPRISE_URLS": receiver.url("/phone"),
            "ALERT_WEBHOOK_TOKEN": TOKEN,
            "AMBER_TIMEZONE": "Australia/Sydney",
        })  # fmt: skip
        exporter = build_exporter(settings, alerts=build_relay(settings), clock=lambda: now[0])
        server = ExporterServer(exporter.app, "127.0.0.1", 0)
        server.start()
        processes = []
        try:
            exporter.poller.poll_once(now[0])
            price = general_price(f"http://127.0.0.1:{server.port}/metrics")
            assert price > 1.0, "the scripted spike should put the general price above $1/kWh"

            rules_with_short_keep_firing(tmp_path / "rules")
            am_port, prom_port = free_port(), free_port()
            (tmp_path / "alertmanager.yml").write_text(alertmanager_config(server.port))
            (tmp_path / "prometheus.yml").write_text(
                f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{tmp_path}/rules/*.rules.yml"]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
scrape_configs:
  - job_name: amber-exporter
    static_configs: [{{targets: ["127.0.0.1:{server.port}"]}}]
"""
            )
            processes.append(start(
                [str(prometheus_bin / "prometheus-alertmanager"), f"--config.file={tmp_path}/alertmanager.yml",
                 f"--storage.path={tmp_path}/am", f"--web.listen-address=127.0.0.1:{am_port}",
                 "--cluster.listen-address="],
                tmp_path / "alertmanager.log", f"http://127.0.0.1:{am_port}/-/ready",
            ))  # fmt: skip
            processes.append(start(
                [str(prometheus_bin / "prometheus"), f"--config.file={tmp_path}/prometheus.yml",
                 f"--storage.tsdb.path={tmp_path}/prom", f"--web.listen-address=127.0.0.1:{prom_port}"],
                tmp_path / "prometheus.log", f"http://127.0.0.1:{prom_port}/-/ready",
            ))  # fmt: skip

            title = f"⚡ Price spike — {price * 100:.1f} c/kWh"
            firing = receiver.wait_for(lambda n: n.get("title") == title, timeout=45)
            assert firing["type"] == "failure"
            interval_end = interval_start + dt.timedelta(minutes=5)
            local_end = interval_end.astimezone(settings.timezone)
            assert f"ending {local_end:%H:%M} {local_end.tzname()}" in firing["message"], firing["message"]
            assert "What to do:" in firing["message"]

            # The next interval has no spike: Amber's clock and the poll loop's move on together.
            sim.clock.advance(310)
            now[0] += 310
            exporter.poller.poll_once(now[0])
            assert general_price(f"http://127.0.0.1:{server.port}/metrics") < 1.0
            resolved = receiver.wait_for(lambda n: n.get("title") == "✅ Resolved: Price spike", timeout=45)
            assert resolved["type"] == "success"
            assert sim.api_key not in firing["message"] + resolved["message"]
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
            server.stop()
            exporter.client.close()
            receiver.close()
