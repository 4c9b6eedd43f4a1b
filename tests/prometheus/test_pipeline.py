"""End to end with the real servers: a fake exporter's gauges -> Prometheus (the real rules, 1 s scrape
and evaluation) -> Alertmanager (the real alertmanager.yml, relay address and waits shortened) -> the
Apprise relay (exporter/alerts.py, with a bearer token) -> Apprise json:// -> a local receiver.

Also checks what the running Prometheus loaded: exactly the expected alerts, each with severity and
annotations, which `promtool check config` alone does not prove."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.alerts import AlertRelay, AppriseNotifier, serve
from tests.exporter.receiver import Receiver
from tests.prometheus.test_rules import EXPECTED_ALERTS
from tests.prometheus.tools import PROMETHEUS_DIR

SYDNEY = ZoneInfo("Australia/Sydney")
TOKEN = "pipeline-test-token"
LABELS = 'site_id="S1",channel="general"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeExporter:
    """Serves /metrics from a dict of exposition lines that tests replace as a whole."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = "".join(f"{k} {v!r}\n" for k, v in dict(exporter.metrics).items()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calm(self, **extra: float) -> None:
        """A normal interval: 25 c/kWh, no spike, polls succeeding; `extra` adds or overrides lines."""
        now = time.time()
        self.metrics = {
            "amber_up": 1,
            "amber_last_poll_success_timestamp_seconds": now,
            "amber_rate_limit_remaining": 40,
            "amber_rate_limit_limit": 50,
            f"amber_price_dollars_per_kwh{{{LABELS}}}": 0.25,
            f'amber_spike_status{{{LABELS},status="none"}}': 1,
            f'amber_spike_status{{{LABELS},status="potential"}}': 0,
            f'amber_spike_status{{{LABELS},status="spike"}}': 0,
            f"amber_interval_end_timestamp_seconds{{{LABELS}}}": now + 300,
            **extra,
        }


@dataclass
class Stack:
    exporter: FakeExporter
    receiver: Receiver
    prometheus_url: str
    alertmanager_url: str


def start(command: list[str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(ready_url, timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{Path(command[0]).name} did not start; its log:\n{log.read_text()[-3000:]}", pytrace=False)


def alertmanager_config(relay_port: int) -> str:
    """The real alertmanager.yml with the relay on loopback, the token set and short waits."""
    text = (PROMETHEUS_DIR / "alertmanager.yml").read_text()
    swaps = {
        "http://exporter:9847/alerts": f"http://127.0.0.1:{relay_port}/alerts",
        "group_wait: 10s": "group_wait: 1s",
        "group_interval: 1m": "group_interval: 1s",
        "credentials_file: /run/amber-secrets/relay_token": f"credentials: {TOKEN}",
    }
    for old, new in swaps.items():
        assert old in text, f"alertmanager.yml no longer contains {old!r}; update this test"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def stack(prometheus_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("pipeline")
    receiver = Receiver()
    relay = AlertRelay(AppriseNotifier([receiver.url("/phone")]), token=TOKEN, tz=SYDNEY)
    relay_server = serve(relay, "127.0.0.1", 0)
    threading.Thread(target=relay_server.serve_forever, daemon=True).start()
    exporter = FakeExporter()
    exporter.calm()

    am_port, prom_port = free_port(), free_port()
    (tmp / "alertmanager.yml").write_text(alertmanager_config(relay_server.server_address[1]))
    (tmp / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{PROMETHEUS_DIR}/rules/*.rules.yml"]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
scrape_configs:
  - job_name: amber-exporter
    static_configs: [{{targets: ["127.0.0.1:{exporter.port}"]}}]
"""
    )
    processes = [
        start(
            [
                str(prometheus_bin / "prometheus-alertmanager"),
                f"--config.file={tmp}/alertmanager.yml",
                f"--storage.path={tmp}/am-data",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
            f"http://127.0.0.1:{am_port}/-/ready",
        ),
    ]
    try:
        processes.append(
            start(
                [
                    str(prometheus_bin / "prometheus"),
                    f"--config.file={tmp}/prometheus.yml",
                    f"--storage.tsdb.path={tmp}/prom-data",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                tmp / "prometheus.log",
                f"http://127.0.0.1:{prom_port}/-/ready",
            )
        )
        yield Stack(exporter, receiver, f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        relay_server.shutdown()
        relay_server.server_close()
        exporter.server.shutdown()
        receiver.close()


def titled(title: str):
    return lambda item: item.get("title") == title


def test_running_prometheus_loaded_exactly_the_expected_alerts(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.prometheus_url}/api/v1/rules?type=alert", timeout=5) as response:
        groups = json.load(response)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert sorted(rule["name"] for rule in rules) == sorted(EXPECTED_ALERTS)
    for rule in rules:
        assert rule["labels"]["severity"] == EXPECTED_ALERTS[rule["name"]], rule["name"]
        assert {"title", "summary", "description", "runbook"} <= rule["annotations"].keys(), rule["name"]


def test_spike_reaches_the_phone_and_mutes_the_threshold_alert(stack: Stack) -> None:
    interval_end = time.time() + 240
    stack.exporter.calm(
        **{
            f"amber_price_dollars_per_kwh{{{LABELS}}}": 1.873,
            f'amber_spike_status{{{LABELS},status="none"}}': 0,
            f'amber_spike_status{{{LABELS},status="spike"}}': 1,
            f"amber_interval_end_timestamp_seconds{{{LABELS}}}": interval_end,
            "amber_alert_price_threshold_dollars_per_kwh": 0.40,
        }
    )
    note = stack.receiver.wait_for(titled("⚡ Price spike — 187.3 c/kWh"), timeout=30)
    local_end = f"{datetime.fromtimestamp(interval_end, SYDNEY):%H:%M}"
    assert note["type"] == "failure"
    assert f"interval ending {local_end} AE" in note["message"]
    assert "What to do: Stop or delay big loads now" in note["message"]
    # The threshold alert fired too, but AmberPriceSpike inhibits it for the same site and channel.
    threshold = wait_for_alertmanager_alert(stack, "AmberPriceAboveThreshold", timeout=10)
    assert threshold["status"]["state"] == "suppressed", threshold["status"]
    assert threshold["status"]["inhibitedBy"], threshold["status"]
    time.sleep(3)  # longer than group_wait: a notification would have arrived by now
    titles = [item["title"] for item in stack.receiver.received]
    assert not any(title.startswith("💸") for title in titles), titles


def wait_for_alertmanager_alert(stack: Stack, name: str, timeout: float) -> dict[str, Any]:
    query = urllib.parse.urlencode({"filter": f'alertname="{name}"'})
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{stack.alertmanager_url}/api/v2/alerts?{query}", timeout=5) as response:
            alerts = json.load(response)
        if alerts or time.monotonic() > deadline:
            assert alerts, f"Alertmanager never received {name}"
            return alerts[0]
        time.sleep(0.2)


def test_rate_limit_fires_then_resolves(stack: Stack) -> None:
    stack.exporter.calm(amber_rate_limit_remaining=3)
    firing = stack.receiver.wait_for(titled("🚦 Amber API rate limit"), timeout=30)
    assert firing["type"] == "warning"
    assert "requests left in the current window: 3 of 50" in firing["message"]
    stack.exporter.calm()
    resolved = stack.receiver.wait_for(titled("✅ Resolved: Amber API rate limit"), timeout=30)
    assert resolved["type"] == "success"
    assert resolved["message"].startswith("Ended ")


def test_failed_delivery_is_retried_by_alertmanager(stack: Stack) -> None:
    # The phone service fails once: Apprise reports it, the relay answers 502, Alertmanager retries.
    stack.receiver.fail_next = 1
    stack.exporter.calm(**{f"amber_price_dollars_per_kwh{{{LABELS}}}": -0.05})
    note = stack.receiver.wait_for(titled("💰 Negative price — -5.0 c/kWh"), timeout=45)
    assert note["type"] == "info"
    assert stack.receiver.fail_next == 0
