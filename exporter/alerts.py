"""Alertmanager -> Apprise relay: turns Alertmanager's webhook into phone notifications.

    relay = AlertRelay(AppriseNotifier(urls), token=None, tz=ZoneInfo("Australia/Sydney"))
    status, body = relay.handle(request_body, request_headers)   # framework-free core
    relay.wsgi                                                    # WSGI app; the caller routes /alerts
    serve(relay, host, port)                                      # standalone http.server
    python -m exporter.alerts                                     # entry point, configured from env

HTTP contract: path /alerts, served by the exporter on its port (9847, exporter/server.py mounts
`relay.wsgi`; prometheus/alertmanager.yml posts to http://exporter:9847/alerts) or standalone on 9848.
POST an Alertmanager webhook payload (JSON, version 4):
    200  every alert was sent (one notification per firing or resolved alert)
    400  the body is not a webhook payload; a one-line reason follows
    401  ALERT_WEBHOOK_TOKEN is set and the `Authorization: Bearer …` header is missing or wrong
    502  a notification service refused, failed or missed the deadline: Alertmanager retries the group
    503  no notification service is configured
Bounds: at most MAX_ALERTS notifications per request (the rest are summed up in one more); they are
sent concurrently on a fixed pool of threads, and the answer comes by DEADLINE_S whatever the services
do. A retried group does not notify twice: what was delivered is remembered per alert (fingerprint,
status, start) for REMEMBER_S, far below Alertmanager's repeat_interval (6 h), so repeats still notify.
Formatting lives in exporter/alert_format.py (pure). Notification URLs carry tokens: logs and
responses name only their scheme ("ntfy") and a count, and Apprise's own log lines are scrubbed
(amber.secret.LogScrubber).

Environment (validated by runtime/settings.py, see docs/configuration.md): APPRISE_URLS (or APPRISE_URLS_FILE)
and/or APPRISE_CONFIG, ALERT_WEBHOOK_TOKEN (or ALERT_WEBHOOK_TOKEN_FILE), AMBER_TIMEZONE, ALERT_RELAY_HOST,
ALERT_RELAY_PORT, LOG_LEVEL.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import tzinfo
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import apprise

from amber.secret import LogScrubber, Secret, secret_fragments
from exporter.alert_format import Alert, Notification, PayloadError, format_alert, parse_payload
from exporter.server import REQUEST_TIMEOUT_S, BoundedThreads
from runtime.logs import configure_logging
from runtime.settings import ConfigError, Settings

__all__ = [
    "ALERTS_PATH",
    "AlertRelay",
    "AppriseNotifier",
    "DeliveryError",
    "NoServicesError",
    "Notifier",
    "RelaySettings",
    "main",
    "serve",
]

logger = logging.getLogger(__name__)

ALERTS_PATH = "/alerts"
DEFAULT_PORT = 9848
MAX_BODY_BYTES = 4 * 1024 * 1024  # a webhook with hundreds of alerts is still far below this
MAX_ALERTS = 20  # notifications per request; groups are per alert name and site, so real ones are small
DEADLINE_S = 20.0  # the answer comes by then; a delivery still running counts as failed (and is retried)
DELIVERY_THREADS = 4
REMEMBER_S = 30 * 60.0


class DeliveryError(Exception):
    """A notification was not delivered; the message names no URL."""


class NoServicesError(DeliveryError):
    """No notification service is configured."""


class Notifier(Protocol):
    def send(self, notification: Notification) -> None:
        """Deliver one notification or raise DeliveryError."""


# --- Apprise -------------------------------------------------------------------------------------


def service_scheme(url: str) -> str:
    """The part of a notification URL that is safe to log: its scheme, e.g. "ntfy"."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", scheme) else "unknown"


def _guard_apprise_logs(urls: Iterable[str]) -> None:
    """Scrub the "apprise" logger's records of every token in `urls` (amber.secret.LogScrubber): one
    scrubber per process, however many notifiers are built, learning each one's URLs."""
    apprise_logger = logging.getLogger("apprise")
    scrubber = next((f for f in apprise_logger.filters if isinstance(f, LogScrubber)), None)
    if scrubber is None:
        scrubber = LogScrubber()
        apprise_logger.addFilter(scrubber)
    for url in urls:
        scrubber.fragments |= secret_fragments(url)
    # urllib3 (under requests) logs each request's path at DEBUG; webhook paths hold tokens.
    urllib3_logger = logging.getLogger("urllib3")
    if urllib3_logger.level < logging.INFO:
        urllib3_logger.setLevel(logging.INFO)


class AppriseNotifier:
    """Sends notifications to every service in `urls` and in the Apprise config file `config_path`.
    Raises ConfigError (naming a URL by position and scheme only) when Apprise rejects one."""

    def __init__(self, urls: Sequence[str | Secret] = (), config_path: str | os.PathLike[str] | None = None):
        plain = [u.reveal() if isinstance(u, Secret) else u for u in urls]
        _guard_apprise_logs(plain)
        self._apprise = apprise.Apprise()
        self.schemes = sorted(service_scheme(u) for u in plain)
        rejected = [i for i, url in enumerate(plain, 1) if not self._apprise.add(url)]
        if rejected:
            bad = ", ".join(f"#{i} ({service_scheme(plain[i - 1])})" for i in rejected)
            raise ConfigError(
                [f"APPRISE_URLS: Apprise rejected URL {bad}; check it against the Apprise docs"]
            )
        self.count = len(plain)
        if config_path is not None:
            config = apprise.AppriseConfig()
            if not config.add(str(config_path)):
                raise ConfigError([f"APPRISE_CONFIG={str(config_path)!r}: Apprise cannot load it"])
            self._apprise.add(config)
            self.schemes.append("config")
            # Counting loads the file now, so a broken one fails at start rather than at the first spike.
            self.count = len(self._apprise)

    def describe(self) -> str:
        kinds = ", ".join(dict.fromkeys(self.schemes)) or "none"
        noun = "service" if self.count == 1 else "services"
        return f"{self.count} notification {noun} ({kinds})"

    def send(self, notification: Notification) -> None:
        if self.count == 0:
            raise NoServicesError("no notification service configured; set APPRISE_URLS or APPRISE_CONFIG")
        try:
            ok = self._apprise.notify(
                title=notification.title, body=notification.body, notify_type=notification.notify_type
            )
        except Exception as exc:  # noqa: BLE001  a plugin bug must become a retry, not a crash
            # Only the type: the message may quote a URL. `from None` keeps it out of tracebacks.
            raise DeliveryError(f"Apprise raised {type(exc).__name__} sending to {self.describe()}") from None
        if not ok:
            raise DeliveryError(f"{self.describe()}: at least one did not accept the notification")


# --- the relay -----------------------------------------------------------------------------------


class AlertRelay:
    """Checks the token, parses the payload, formats and sends one notification per alert."""

    def __init__(
        self,
        notifier: Notifier,
        token: str | Secret | None = None,
        tz: tzinfo | None = None,
        *,
        deadline_s: float = DEADLINE_S,
        remember_s: float = REMEMBER_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._notifier = notifier
        secret = token.reveal() if isinstance(token, Secret) else token
        self._token = secret.encode() if secret else None
        self._tz = tz or ZoneInfo("Australia/Sydney")
        self._deadline_s = deadline_s
        self._remember_s = remember_s
        self._clock = clock
        self._pool = ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="alert-delivery")
        self._delivered: dict[tuple, float] = {}  # Alert.key -> when it was delivered (clock)
        self._lock = threading.Lock()

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Answer one POST: (HTTP status, plain-text body). `headers` keys may be any case."""
        if self._token is not None and not self._authorized(headers):
            logger.warning("rejected an alert webhook: missing or wrong bearer token")
            return 401, b"missing or wrong bearer token\n"
        try:
            alerts = parse_payload(body)
        except PayloadError as exc:
            logger.warning("rejected an alert webhook: %s", exc)
            return 400, f"{exc}\n".encode()
        todo = [(key, note) for key, note in self._notifications(alerts) if not self._was_delivered(key)]
        already = len(alerts) - len(todo) if len(alerts) <= MAX_ALERTS else 0
        futures: dict[Future, tuple] = {self._pool.submit(self._notifier.send, note): key for key, note in todo}
        done, late = wait(futures, timeout=self._deadline_s)
        failed = len(late)
        for future in late:  # a late success still counts: the retry must not send it again
            future.add_done_callback(functools.partial(self._remember_if_sent, futures[future]))
        for future in done:
            error = future.exception()
            if error is None:
                self._remember(futures[future])
            elif isinstance(error, NoServicesError):
                logger.error("cannot relay alerts: %s", error)
                return 503, f"{error}\n".encode()
            else:
                failed += 1
                reason = error if isinstance(error, DeliveryError) else type(error).__name__
                logger.warning("could not deliver a notification: %s", reason)
        names = ", ".join(sorted({f"{a.name} {a.status}" for a in alerts})) or "no alerts"
        if failed:
            logger.error(
                "%d of %d notifications failed or were late (%s); Alertmanager will retry", failed, len(todo), names
            )
            return 502, f"{failed} of {len(todo)} notifications failed; retry later\n".encode()
        logger.info("relayed %d notification(s): %s", len(todo), names)
        note = f"; {already} already sent" if already else ""
        return 200, f"sent {len(todo)} notification(s){note}\n".encode()

    def _notifications(self, alerts: list[Alert]) -> list[tuple[tuple, Notification]]:
        """(key, notification) per alert; beyond MAX_ALERTS, the rest summed up in one."""
        if len(alerts) <= MAX_ALERTS:
            return [(a.key, format_alert(a, self._tz)) for a in alerts]
        shown, rest = alerts[: MAX_ALERTS - 1], alerts[MAX_ALERTS - 1 :]
        names = ", ".join(sorted({f"{a.name or 'alert'} {a.status}" for a in rest}))
        summary = Notification(f"{len(rest)} more alerts", f"{names} (see Alertmanager for each)", "warning")
        return [(a.key, format_alert(a, self._tz)) for a in shown] + [(("more", *(a.key for a in rest)), summary)]

    def _was_delivered(self, key: tuple) -> bool:
        now = self._clock()
        with self._lock:
            for old in [k for k, at in self._delivered.items() if now - at > self._remember_s]:
                del self._delivered[old]
            return key in self._delivered

    def _remember(self, key: tuple) -> None:
        with self._lock:
            self._delivered[key] = self._clock()

    def _remember_if_sent(self, key: tuple, future: Future) -> None:
        if future.exception() is None:
            self._remember(key)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token or b"")

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI app for mounting inside another server; it answers every path, so route /alerts to it."""
        if environ.get("REQUEST_METHOD") != "POST":
            status, body = 405, b"POST an Alertmanager webhook payload\n"
        else:
            length = _body_length(environ.get("CONTENT_LENGTH"))
            if isinstance(length, tuple):
                status, body = length
            else:
                headers = {"Authorization": environ.get("HTTP_AUTHORIZATION", "")}
                status, body = self.handle(environ["wsgi.input"].read(length), headers)
        start_response(f"{status} {HTTPStatus(status).phrase}", _text_headers(body))
        return [body]


def _body_length(raw: str | None) -> int | tuple[int, bytes]:
    """The request's Content-Length, or the (status, body) that refuses it."""
    if not raw:
        return 411, b"send a Content-Length header\n"
    if not (raw.isascii() and raw.isdigit()):
        return 400, b"Content-Length is not a number\n"
    if int(raw) > MAX_BODY_BYTES:
        return 413, f"the body is larger than {MAX_BODY_BYTES} bytes\n".encode()
    return int(raw)


def _text_headers(body: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]


# --- standalone server ---------------------------------------------------------------------------


def serve(relay: AlertRelay, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> HTTPServer:
    """An http.server answering POST /alerts (and GET /-/healthy); call serve_forever() on it.
    Port 0 picks a free port: read it from server.server_address."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?", 1)[0].rstrip("/") != ALERTS_PATH:
                return self._answer(404, f"POST alerts to {ALERTS_PATH}\n".encode())
            length = _body_length(self.headers.get("Content-Length"))
            if isinstance(length, tuple):
                return self._answer(*length)
            self._answer(*relay.handle(self.rfile.read(length), dict(self.headers.items())))

        def do_GET(self) -> None:
            if self.path == "/-/healthy":
                return self._answer(200, b"ok\n")
            self._answer(405 if self.path.rstrip("/") == ALERTS_PATH else 404, b"POST alerts to /alerts\n")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            for name, value in _text_headers(body):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    Handler.timeout = REQUEST_TIMEOUT_S
    server_class = type("_RelayServer", (BoundedThreads, HTTPServer), {"allow_reuse_address": True})
    return server_class((host, port), Handler)


# --- configuration and entry point ---------------------------------------------------------------


@dataclass(frozen=True)
class RelaySettings:
    """The relay's view of the shared Settings (runtime/settings.py validates every variable)."""

    urls: tuple[Secret, ...]
    config_path: Path | None
    token: Secret | None
    timezone: ZoneInfo
    host: str
    port: int
    log_level: str

    @classmethod
    def from_settings(cls, settings: Settings) -> RelaySettings:
        urls = tuple(Secret(u) for u in split_urls(settings.apprise_urls.reveal())) if settings.apprise_urls else ()
        if not urls and settings.apprise_config is None:
            raise ConfigError(
                [
                    (
                        "APPRISE_URLS and APPRISE_CONFIG are both unset; set one so alerts reach your phone"
                        " (e.g. APPRISE_URLS=ntfy://ntfy.sh/your-secret-topic)"
                    )
                ]
            )
        return cls(
            urls=urls,
            config_path=settings.apprise_config,
            token=settings.alert_webhook_token,
            timezone=settings.timezone,
            host=settings.alert_relay_host,
            port=settings.alert_relay_port,
            log_level=settings.log_level,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RelaySettings:
        """Raises ConfigError listing every invalid variable, then the relay's own requirement."""
        return cls.from_settings(Settings.from_env(environ))


def split_urls(text: str) -> list[str]:
    """APPRISE_URLS: URLs separated by commas and/or whitespace. A comma inside a URL (mailto's
    ?to=a@x,b@y) stays: only a separator followed by a new "scheme://" splits."""
    parts = re.split(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.-]*://)", text.strip())
    return [p.strip(" \t\r\n,") for p in parts if p.strip(" \t\r\n,")]


def main(environ: Mapping[str, str] = os.environ) -> None:
    try:
        settings = RelaySettings.from_env(environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level)
    try:
        notifier = AppriseNotifier(settings.urls, settings.config_path)
    except ConfigError as exc:  # names the entry's number and scheme, never the URL
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    relay = AlertRelay(notifier, settings.token, settings.timezone)
    server = serve(relay, settings.host, settings.port)
    logger.info(
        "alert relay on %s:%d%s -> %s; bearer token %s; times in %s",
        settings.host,
        server.server_address[1],
        ALERTS_PATH,
        notifier.describe(),
        "required" if settings.token else "not required",
        settings.timezone.key,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: log lines then say "exporter.alerts".
    from exporter.alerts import main as _main

    _main()
