"""compose.yaml's optional mosquitto service: its start script and healthcheck run here against Debian's
real Mosquitto (paths moved from /mosquitto to a temporary directory, port to a free loopback one), and
the resolved Compose model with the mqtt profile on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.stack.test_compose import COMPOSE_FILE, compose_config
from tests.support.servers import MOSQUITTO_HINT, free_port

pytestmark = pytest.mark.mqtt
PASSWORD = "broker-pw-fake-7Hq"


def service() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]["mosquitto"]


def local(text: str, directory: Path, port: int) -> str:
    """The container's shell text for this machine: Compose's $$ unescaped, its paths and port moved."""
    text = text.replace("$$", "$").replace("/mosquitto/", f"{directory}/")
    return text.replace("'listener 1883'", f"'listener {port} 127.0.0.1'").replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {port}")


def login(port: int, username: str, password: str) -> mqtt.ReasonCode:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set(username, password)
    result = {}
    client.on_connect = lambda c, u, f, reason, p: result.setdefault("reason", reason)
    client.connect("127.0.0.1", port, keepalive=5)
    deadline = time.monotonic() + 10
    while "reason" not in result and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    return result["reason"]


@pytest.fixture
def broker_dir():
    """Like the image's /mosquitto: reachable by the `mosquitto` user the broker drops to (pytest's own
    temporary directories are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="amber-mosquitto-"))
    directory.chmod(0o755)
    for sub in ("data", "config"):
        (directory / sub).mkdir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_the_broker_script_starts_mosquitto_with_authentication_on(broker_dir):
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail(f"mosquitto_passwd is missing — {MOSQUITTO_HINT}", pytrace=False)
    tmp_path = broker_dir
    port = free_port()
    env = {**os.environ, "MQTT_USERNAME": "amber-home", "MQTT_PASSWORD": PASSWORD,
           "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}  # fmt: skip
    process = subprocess.Popen(["/bin/sh", "-c", local(service()["command"][0], tmp_path, port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
                time.sleep(0.05)
        assert login(port, "amber-home", PASSWORD).value == 0
        assert login(port, "amber-home", "wrong").is_failure
        assert login(port, "someone", PASSWORD).is_failure
        assert PASSWORD not in (tmp_path / "data" / "passwd").read_text()  # hashed
        health = local(service()["healthcheck"]["test"][1], tmp_path, port)
        assert subprocess.run(["/bin/sh", "-c", health], env=env).returncode == 0
        wrong = {**env, "MQTT_PASSWORD": "wrong"}
        assert subprocess.run(["/bin/sh", "-c", health], env=wrong, capture_output=True).returncode != 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_broker_script_refuses_to_start_without_a_password(tmp_path):
    result = subprocess.run(["/bin/sh", "-c", local(service()["command"][0], tmp_path, free_port())],
                            env={**os.environ, "MQTT_USERNAME": "amber-home", "MQTT_PASSWORD": ""},
                            capture_output=True, text=True, timeout=10)  # fmt: skip
    assert result.returncode == 1 and result.stderr.strip() == "mosquitto: set MQTT_PASSWORD in .env"


def test_with_the_mqtt_profile_the_broker_runs_and_the_exporter_points_at_it(tmp_path):
    env = f"MQTT_URL=mqtt://mosquitto:1883\nMQTT_PASSWORD={PASSWORD}\n"
    services = compose_config(tmp_path, env, profiles=("demo", "mqtt"))["services"]
    broker = services["mosquitto"]
    assert broker["image"].startswith("eclipse-mosquitto:2.0.") and broker["profiles"] == ["mqtt"]
    assert broker["environment"] == {"MQTT_USERNAME": "amber-home", "MQTT_PASSWORD": PASSWORD}
    assert [p["target"] for p in broker["ports"]] == [1883] and broker["restart"] == "unless-stopped"
    exporter = services["exporter"]["environment"]
    assert exporter["MQTT_URL"] == "mqtt://mosquitto:1883" and exporter["MQTT_USERNAME"] == "amber-home"
    assert exporter["MQTT_PASSWORD"] == PASSWORD
    assert "mosquitto" not in compose_config(tmp_path)["services"]  # off without the profile
