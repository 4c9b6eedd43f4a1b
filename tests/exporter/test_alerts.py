"""The Alertmanager -> Apprise relay: pure formatting, the HTTP contract, and real Apprise deliveries
to a local receiver (tests/exporter/receiver.py). No notification URL may reach the logs."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.alert_format import Alert, Notification, PayloadError, format_alert, parse_payload
from exporter.alerts import AlertRelay, AppriseNotifier, DeliveryError, RelaySettings, serve, split_urls
from runtime.settings import ConfigError
from tests.exporter.receiver import Receiver

SYDNEY = ZoneInfo("Australia/Sydney")
SECRET_PATH = "/hook/s3cr3t-t0ken-4321"

# What prometheus/rules/prices.rules.yml produces for a spike (see prices_test.yml).
SPIKE_ANNOTATIONS = {
    "title": "Price spike",
    "emoji": "⚡",
    "price_c_per_kwh": "187.3",
    "summary": "Price spike: 187.3 c/kWh",
    "description": "Amber reports a price spike: the general (import) price is 187.3 c/kWh"
    " for the 5-minute interval ending 05:30 UTC (site S1).",
    "time_unix": "1717219800",  # 2024-06-01 05:30 UTC = 15:30 AEST
    "time_label": "interval ends",
    "runbook": "Stop or delay big loads now.",
}
SPIKE_LABELS = {"alertname": "AmberPriceSpike", "severity": "critical", "site_id": "S1", "channel": "general"}


def webhook(*alerts: dict[str, Any], version: str = "4") -> bytes:
    return json.dumps(
        {"version": version, "status": "firing", "receiver": "apprise-relay", "alerts": list(alerts)}
    ).encode()


def spike(status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": SPIKE_LABELS,
        "annotations": SPIKE_ANNOTATIONS,
        "startsAt": "2024-06-01T05:25:30.123456789Z",
        "endsAt": "2024-06-01T05:42:10Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    }


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Everything, including Apprise's and urllib3's DEBUG lines, so a leaked URL would show.
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def assert_no_url_in(text: str, receiver: Receiver) -> None:
    assert receiver.url(SECRET_PATH) not in text
    assert "s3cr3t-t0ken" not in text


# --- formatting (pure) ---------------------------------------------------------------------------


def test_firing_spike_title_body_and_type() -> None:
    (alert,) = parse_payload(webhook(spike()))
    note = format_alert(alert, SYDNEY)
    assert note == Notification(
        "⚡ Price spike — 187.3 c/kWh",
        "Amber reports a price spike: the general (import) price is 187.3 c/kWh for the 5-minute"
        " interval ending 15:30 AEST (site S1).\nWhat to do: Stop or delay big loads now.",
        "failure",
    )
    _title, _body, notify_type = note  # a plain (title, body, type) tuple too
    assert notify_type == "failure"


def test_resolved_spike() -> None:
    (alert,) = parse_payload(webhook(spike("resolved")))
    assert format_alert(alert, SYDNEY) == Notification(
        "✅ Resolved: Price spike",
        "Ended 15:42 AEST, Sat 1 Jun; started 15:25 AEST.\nWas: Price spike: 187.3 c/kWh",
        "success",
    )


def test_threshold_alert_is_a_warning_with_the_price_in_the_title() -> None:
    alert = Alert(
        "firing",
        {"alertname": "AmberPriceAboveThreshold", "severity": "warning"},
        {
            "title": "Price above your threshold",
            "emoji": "💸",
            "price_c_per_kwh": "45.0",
            "description": "The general (import) price is 45.0 c/kWh, above your threshold of 40.0 c/kWh,"
            " for the 5-minute interval ending 05:30 UTC (site S1).",
            "time_unix": "1717219800",
            "runbook": "Delay flexible loads.",
        },
    )
    title, body, notify_type = format_alert(alert, SYDNEY)
    assert title == "💸 Price above your threshold — 45.0 c/kWh"
    assert "ending 15:30 AEST (site S1)" in body and "UTC" not in body
    assert body.endswith("What to do: Delay flexible loads.")
    assert notify_type == "warning"


def test_local_time_follows_daylight_saving() -> None:
    # 2024-01-15 05:30 UTC is 16:30 in Sydney's summer (AEDT) and 13:30 in Perth (no DST).
    ann = {
        **SPIKE_ANNOTATIONS,
        "time_unix": "1705296600",
        "description": "Spike for the interval ending 05:30 UTC.",
    }
    alert = Alert("firing", SPIKE_LABELS, ann)
    assert "ending 16:30 AEDT." in format_alert(alert, SYDNEY).body
    assert "ending 13:30 AWST." in format_alert(alert, ZoneInfo("Australia/Perth")).body


def test_time_line_added_when_the_text_does_not_show_it() -> None:
    ann = {
        "summary": "No successful Amber API poll for 11m 0s",
        "time_unix": "1717219800",
        "time_label": "last successful poll",
    }
    alert = Alert("firing", {"alertname": "AmberDataStale", "severity": "warning"}, ann)
    title, body, _notify_type = format_alert(alert, SYDNEY)
    assert title == "⚠️ Data stale"
    assert body == "No successful Amber API poll for 11m 0s\nLast successful poll: 15:30 AEST, Sat 1 Jun."


def test_bare_alert_still_reads_well() -> None:
    # No annotations, unknown severity: the title comes from the alert name, the time from startsAt.
    (alert,) = parse_payload(
        webhook(
            {
                "status": "firing",
                "labels": {"alertname": "AmberExporterDown"},
                "startsAt": "2024-06-01T05:30:00Z",
            }
        )
    )
    assert format_alert(alert, SYDNEY) == Notification(
        "🔔 Exporter down", "Exporter down\nSince 15:30 AEST, Sat 1 Jun.", "warning"
    )


@pytest.mark.parametrize(
    "severity, notify_type", [("critical", "failure"), ("warning", "warning"), ("info", "info")]
)
def test_severity_maps_to_apprise_type(severity: str, notify_type: str) -> None:
    alert = Alert("firing", {"alertname": "X", "severity": severity}, {"summary": "s"})
    assert format_alert(alert, SYDNEY).notify_type == notify_type


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "must be a JSON object"),
        (webhook(version="3"), 'unsupported payload version "3"'),
        (json.dumps({"version": "4", "alerts": {}}).encode(), '"alerts" must be a list'),
        (webhook({"status": "pending", "labels": {}}), 'alerts[0].status must be "firing" or "resolved"'),
        (webhook({"status": "firing", "labels": {"a": 1}}), "alerts[0].labels must be an object of strings"),
    ],
)
def test_malformed_payloads_are_rejected_with_one_line(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as exc:
        parse_payload(body)
    assert reason in str(exc.value) and "\n" not in str(exc.value)
    status, answer = AlertRelay(FailingNotifier()).handle(body, {})
    assert status == 400 and answer.decode().count("\n") == 1 and reason in answer.decode()


def test_unreadable_times_are_dropped_not_fatal() -> None:
    (alert,) = parse_payload(
        webhook(
            {
                "status": "resolved",
                "labels": {"alertname": "AmberPriceSpike"},
                "startsAt": "yesterday",
                "endsAt": 5,
            }
        )
    )
    assert alert.starts_at is None and alert.ends_at is None
    assert format_alert(alert, SYDNEY).title == "✅ Resolved: Price spike"


# --- real Apprise deliveries ---------------------------------------------------------------------


def test_real_apprise_delivery(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), tz=SYDNEY)
    status, body = relay.handle(webhook(spike(), spike("resolved")), {"Content-Type": "application/json"})
    assert (status, body) == (200, b"sent 2 notification(s)\n")
    # Sent concurrently: in any order.
    resolved, firing = sorted(receiver.received, key=lambda r: r["title"].startswith("⚡"))
    assert receiver.paths == [SECRET_PATH, SECRET_PATH]
    assert firing["title"] == "⚡ Price spike — 187.3 c/kWh"
    assert "interval ending 15:30 AEST" in firing["message"]
    assert firing["type"] == "failure"
    assert (resolved["title"], resolved["type"]) == ("✅ Resolved: Price spike", "success")
    assert "AmberPriceSpike firing, AmberPriceSpike resolved" in caplog.text
    assert_no_url_in(caplog.text, receiver)


def test_service_error_answers_502(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.fail_next = 1
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]))
    status, body = relay.handle(webhook(spike()), {})
    assert status == 502 and body == b"1 of 1 notifications failed; retry later\n"
    assert "1 notification service (json)" in caplog.text
    assert_no_url_in(caplog.text + body.decode(), receiver)


def test_closed_port_answers_502(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    url = f"json://127.0.0.1:{port}{SECRET_PATH}"
    status, body = AlertRelay(AppriseNotifier([url])).handle(webhook(spike()), {})
    assert status == 502
    assert url not in caplog.text and "s3cr3t-t0ken" not in caplog.text + body.decode()


def test_apprise_exception_answers_502(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = AppriseNotifier([receiver.url(SECRET_PATH)])

    def boom(**kwargs: Any) -> bool:
        raise RuntimeError(f"cannot reach {receiver.url(SECRET_PATH)}")

    monkeypatch.setattr(notifier._apprise, "notify", boom)
    status, body = AlertRelay(notifier).handle(webhook(spike()), {})
    assert status == 502
    assert "Apprise raised RuntimeError" in caplog.text
    assert_no_url_in(caplog.text + body.decode(), receiver)


def test_apprise_config_file(receiver: Receiver, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "apprise.txt"
    config.write_text(f"{receiver.url(SECRET_PATH)}\n")
    notifier = AppriseNotifier([], config_path=config)
    assert notifier.describe() == "1 notification service (config)"
    assert AlertRelay(notifier).handle(webhook(spike()), {})[0] == 200
    assert receiver.received[0]["title"] == "⚡ Price spike — 187.3 c/kWh"
    assert_no_url_in(caplog.text, receiver)


def test_no_service_configured_answers_503() -> None:
    status, body = AlertRelay(AppriseNotifier([])).handle(webhook(spike()), {})
    assert status == 503 and b"APPRISE_URLS" in body


def test_empty_alert_list_is_fine() -> None:
    assert AlertRelay(FailingNotifier()).handle(webhook(), {}) == (200, b"sent 0 notification(s)\n")


def test_apprise_log_lines_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    # ntfy's plugin logs its topic URL at INFO; the topic is the secret.
    AppriseNotifier(["ntfy://ntfy.sh/my-secret-topic-77"])
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.info("Sent ntfy notification to 'https://ntfy.sh/my-secret-topic-77'.")
    apprise_logger.warning("Failed to send ntfy notification to topic 'my-secret-topic-77'.")
    apprise_logger.debug("ntfy POST URL: https://ntfy.sh/my-secret-topic-77")
    assert "my-secret-topic-77" not in caplog.text
    assert "Sent ntfy notification to 'https://ntfy.sh/***'." in caplog.text
    assert "ntfy POST URL" not in caplog.text


def test_rejected_url_is_named_by_position_and_scheme_only() -> None:
    with pytest.raises(ConfigError) as exc:
        AppriseNotifier(["json://127.0.0.1/ok", "tgram://not-a-valid-t0ken-9999"])
    assert "#2 (tgram)" in str(exc.value) and "t0ken-9999" not in str(exc.value)


# --- bearer token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2VjcmV0"}, {"authorization": "Bearer"}],
)
def test_missing_or_wrong_token_answers_401(headers: dict[str, str]) -> None:
    notifier = RecordingNotifier()
    status, body = AlertRelay(notifier, token="s3cret-token").handle(webhook(spike()), headers)
    assert (status, body) == (401, b"missing or wrong bearer token\n")
    assert notifier.sent == []


def test_right_token_in_any_header_case_is_accepted() -> None:
    notifier = RecordingNotifier()
    relay = AlertRelay(notifier, token="s3cret-token")
    assert relay.handle(webhook(spike()), {"authorization": "bearer s3cret-token"})[0] == 200
    assert len(notifier.sent) == 1


# --- HTTP wrappers -------------------------------------------------------------------------------


def test_standalone_server_contract(receiver: Receiver) -> None:
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), token="tok")
    server = serve(relay, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert post(f"{base}/alerts", webhook(spike()), {"Authorization": "Bearer tok"}) == (
            200,
            "sent 1 notification(s)\n",
        )
        assert post(f"{base}/alerts", webhook(spike()), {})[0] == 401
        assert post(f"{base}/alerts", b"nope", {"Authorization": "Bearer tok"})[0] == 400
        assert post(f"{base}/other", webhook(spike()), {})[0] == 404
        with urllib.request.urlopen(f"{base}/-/healthy") as response:
            assert response.read() == b"ok\n"
    finally:
        server.shutdown()
        server.server_close()
    assert len(receiver.received) == 1


def test_wsgi_app() -> None:
    notifier = RecordingNotifier()
    relay = AlertRelay(notifier)
    body = webhook(spike())
    assert call_wsgi(relay, "POST", body) == ("200 OK", b"sent 1 notification(s)\n")
    assert call_wsgi(relay, "GET", b"")[0] == "405 Method Not Allowed"
    assert call_wsgi(relay, "POST", body, length="")[0] == "411 Length Required"
    assert call_wsgi(relay, "POST", body, length=str(10**9))[0].startswith("413 ")
    assert len(notifier.sent) == 1


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def call_wsgi(relay: AlertRelay, method: str, body: bytes, length: str | None = None) -> tuple[str, bytes]:
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": io.BytesIO(body),
    }
    chunks = relay.wsgi(environ, lambda status, headers: started.append(status))
    return started[0], b"".join(chunks)


# --- configuration -------------------------------------------------------------------------------


def test_settings_from_env(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-t0ken\n")
    settings = RelaySettings.from_env(
        {
            "APPRISE_URLS": "ntfy://ntfy.sh/topic-one, json://10.0.0.2/hook mailto://u:p@x.com?to=a@x.com,b@x.com",
            "ALERT_WEBHOOK_TOKEN_FILE": str(token_file),
            "AMBER_TIMEZONE": "Australia/Perth",
        }
    )
    assert [u.reveal() for u in settings.urls] == [
        "ntfy://ntfy.sh/topic-one",
        "json://10.0.0.2/hook",
        "mailto://u:p@x.com?to=a@x.com,b@x.com",
    ]
    assert settings.token is not None and settings.token.reveal() == "file-t0ken"
    assert (settings.timezone.key, settings.host, settings.port) == ("Australia/Perth", "0.0.0.0", 9848)
    assert "topic-one" not in repr(settings)


def test_settings_report_every_problem_without_secrets() -> None:
    with pytest.raises(ConfigError) as exc:
        RelaySettings.from_env(
            {
                "ALERT_WEBHOOK_TOKEN": "t0p-secret",
                "ALERT_WEBHOOK_TOKEN_FILE": "/nope",
                "AMBER_TIMEZONE": "Mars/Olympus",
                "ALERT_RELAY_PORT": "99999",
            }
        )
    problems = exc.value.problems
    assert len(problems) == 3, problems  # token set twice, time zone, port: all in one message
    assert "t0p-secret" not in str(exc.value)


def test_settings_need_somewhere_to_send() -> None:
    with pytest.raises(ConfigError, match="APPRISE_URLS and APPRISE_CONFIG are both unset"):
        RelaySettings.from_env({})


def test_split_urls() -> None:
    assert split_urls(" a://x ,b://y\n c://z?to=1,2 ") == ["a://x", "b://y", "c://z?to=1,2"]
    assert split_urls("") == []


# --- doubles -------------------------------------------------------------------------------------


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


class FailingNotifier:
    def send(self, notification: Notification) -> None:
        raise DeliveryError("test double always fails")


# --- bounds and retries (an attacker on the LAN, a slow service, Alertmanager retrying) -----------------


def alert(n: int, status: str = "firing") -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": f"Flood{n}", "site_id": "S1"}, "fingerprint": f"fp{n:04d}",
            "annotations": {"summary": f"flood {n}"}, "startsAt": "2024-06-01T05:25:30Z"}


def test_a_retry_after_a_partial_failure_notifies_only_what_failed(receiver: Receiver) -> None:
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), tz=SYDNEY)
    payload = webhook(alert(1), alert(2), alert(3))
    receiver.fail_next = 1
    assert relay.handle(payload, {})[0] == 502
    assert len(receiver.received) == 2
    assert relay.handle(payload, {}) == (200, b"sent 1 notification(s); 2 already sent\n")
    assert relay.handle(payload, {}) == (200, b"sent 0 notification(s); 3 already sent\n")
    titles = sorted(r["title"] for r in receiver.received)
    assert len(titles) == 3 and len(set(titles)) == 3  # each alert exactly once
    # The same alert resolved is news; the repeat after REMEMBER_S (Alertmanager's repeat_interval) too.
    assert relay.handle(webhook(alert(1, "resolved")), {})[1] == b"sent 1 notification(s)\n"


def test_a_repeat_after_the_memory_expires_notifies_again(receiver: Receiver) -> None:
    now = [1000.0]
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), remember_s=60, clock=lambda: now[0])
    assert relay.handle(webhook(alert(1)), {})[1] == b"sent 1 notification(s)\n"
    now[0] += 61
    assert relay.handle(webhook(alert(1)), {})[1] == b"sent 1 notification(s)\n"
    assert len(receiver.received) == 2


def test_a_flood_of_alerts_sends_a_bounded_number_of_notifications(receiver: Receiver) -> None:
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), tz=SYDNEY)
    status, body = relay.handle(webhook(*(alert(n) for n in range(500))), {})
    assert (status, body) == (200, b"sent 20 notification(s)\n")
    assert len(receiver.received) == 20
    assert sum(r["title"] == "481 more alerts" for r in receiver.received) == 1


def test_slow_services_are_notified_concurrently_and_the_answer_keeps_its_deadline(receiver: Receiver) -> None:
    receiver.delay = 1.0
    relay = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), tz=SYDNEY)
    started = time.monotonic()
    assert relay.handle(webhook(*(alert(n) for n in range(8))), {})[0] == 200
    assert time.monotonic() - started < 4.0  # one after another: 8 s

    receiver.delay = 3.0
    quick = AlertRelay(AppriseNotifier([receiver.url(SECRET_PATH)]), tz=SYDNEY, deadline_s=0.5)
    started = time.monotonic()
    assert quick.handle(webhook(alert(100)), {})[0] == 502
    assert time.monotonic() - started < 1.5
    receiver.wait_for(lambda r: "Flood100" in r["title"] + r["message"], timeout=10)  # the late delivery lands…
    time.sleep(0.2)
    assert quick.handle(webhook(alert(100)), {})[1] == b"sent 0 notification(s); 1 already sent\n"  # …once


def test_deeply_nested_json_is_a_400_in_one_line() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    status, answer = AlertRelay(FailingNotifier()).handle(body, {})
    assert status == 400 and answer == b"body is not a webhook payload (JSON nested too deeply)\n"
