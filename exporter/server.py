"""The exporter's HTTP server: a WSGI app on a threaded wsgiref server.

    app = ExporterApp(registry, store, alerts=relay.wsgi)      # alerts: any WSGI app, or None
    server = ExporterServer(app, host="127.0.0.1", port=0)      # port 0 picks a free port
    server.start(); server.port; server.stop()

Routes
    GET  /          landing page: up, last poll, links to the others
    GET  /metrics   Prometheus exposition from `registry` (prometheus_client's own WSGI app: content
                    negotiation incl. OpenMetrics, gzip, `name[]` filters)
    GET  /healthz   200 while the process runs; JSON {"status", "up", "last_poll", "last_success", ...}
    POST /alerts    the Alertmanager -> Apprise relay (exporter/alerts.py), when configured; else 202
                    and dropped (one INFO line), so Alertmanager does not retry

Every answer is built from the Snapshot and the registry's in-process collectors: nothing here calls
the Amber API or the database, and an upstream failure never turns into a 5xx.

Bounds (a LAN visitor must not be able to exhaust the process): at most MAX_WORKERS connections are
served at once, each by its own thread (one more is answered 503 and closed at once), and a connection
that sends nothing for REQUEST_TIMEOUT_S is closed. A request that raises is one log line and a 500
without a traceback.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from exporter.snapshot import Snapshot, SnapshotStore

logger = logging.getLogger(__name__)

MAX_WORKERS = 16
REQUEST_TIMEOUT_S = 10.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def health(snapshot: Snapshot) -> dict[str, Any]:
    """The /healthz body: the process answers, and what the poll loop last saw (no secrets)."""
    return {
        "status": "ok",
        "up": snapshot.up,
        "last_poll": _iso(snapshot.last_poll),
        "last_success": _iso(snapshot.last_success),
        "last_error": snapshot.last_error,
        "consecutive_failures": snapshot.consecutive_failures,
        "sites": len([s for s in snapshot.sites if s.polled]),
    }


def landing_page(snapshot: Snapshot) -> str:
    h = health(snapshot)
    rows = []
    for site_id, prices in sorted(snapshot.prices.items()):
        for view in prices.channels:
            cur = view.current
            rows.append(
                f"<tr><td>{html.escape(site_id)}</td><td>{html.escape(view.channel)}</td>"
                f"<td>{cur.per_kwh:.2f}</td><td>{html.escape(cur.descriptor)}</td>"
                f"<td>{html.escape(cur.spike_status)}</td><td>{'yes' if cur.estimate else 'no'}</td>"
                f"<td>{html.escape(_iso(cur.end_time.timestamp()) or '')}</td></tr>"
            )
    table = (
        "<table><tr><th>site</th><th>channel</th><th>c/kWh</th><th>descriptor</th><th>spike</th>"
        "<th>estimate</th><th>interval ends (UTC)</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No prices yet.</p>"
    )
    error = f"<p>Last error: {html.escape(h['last_error'])}</p>" if h["last_error"] else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Amber-Home exporter</title></head><body>"
        "<h1>Amber-Home exporter</h1>"
        f"<p>Amber API: <b>{'up' if h['up'] else 'DOWN'}</b>; last poll {h['last_poll'] or 'never'}, "
        f"last success {h['last_success'] or 'never'} (UTC).</p>{error}{table}"
        "<p><a href='/metrics'>/metrics</a> &middot; <a href='/healthz'>/healthz</a></p>"
        "</body></html>"
    )


class _NoRelay:
    """POST /alerts without a notification target (no APPRISE_URLS or APPRISE_CONFIG): accepted and
    dropped, so Alertmanager does not retry and log an error every minute; one INFO line says so."""

    BODY = b"no notification target configured (APPRISE_URLS, APPRISE_CONFIG): alert dropped\n"

    def __init__(self) -> None:
        self._told = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._told:
            self._told = True
            logger.info("alerts from Alertmanager are dropped: no notification target is configured "
                        "(set APPRISE_URLS or APPRISE_CONFIG to get them on your phone)")  # fmt: skip
        start_response("202 Accepted", [("Content-Type", "text/plain; charset=utf-8"),
                                        ("Content-Length", str(len(self.BODY)))])  # fmt: skip
        return [self.BODY]


class ExporterApp:
    """WSGI routing for the exporter. `alerts` is the relay's WSGI app (AlertRelay.wsgi) or None."""

    def __init__(self, registry: CollectorRegistry, store: SnapshotStore, *, alerts: WsgiApp | None = None) -> None:
        self._metrics = make_wsgi_app(registry)
        self._store = store
        self._alerts = alerts or _NoRelay()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self._route(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback to the client or a log full of them
            logger.error("%s %s failed: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), type(exc).__name__)
            return self._answer(start_response, 500, "text/plain; charset=utf-8", b"internal error\n",
                                exc_info=sys.exc_info())  # fmt: skip

    def _route(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/alerts":
            return self._alerts(environ, start_response)
        if method not in ("GET", "HEAD"):
            return self._answer(start_response, 405, "text/plain; charset=utf-8", b"GET only (POST /alerts)\n",
                                [("Allow", "GET, HEAD")])  # fmt: skip
        if path == "/metrics":
            return self._metrics(environ, start_response)
        if path == "/healthz":
            body = json.dumps(health(self._store.get()), separators=(",", ":")).encode() + b"\n"
            return self._answer(start_response, 200, "application/json", body)
        if path == "/":
            return self._answer(start_response, 200, "text/html; charset=utf-8", landing_page(self._store.get()).encode())
        return self._answer(start_response, 404, "text/plain; charset=utf-8", b"not found: try /metrics\n")

    @staticmethod
    def _answer(start_response, status: int, content_type: str, body: bytes, extra=(), exc_info=None) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers, *([exc_info] if exc_info else []))
        return [body]


class BoundedThreads:
    """socketserver mix-in: a thread per connection, at most `max_workers` at once. Beyond that a
    connection is answered 503 and closed at once, so stalled clients cannot pile up threads."""

    max_workers = MAX_WORKERS
    _BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def process_request(self: Any, request: Any, client_address: Any) -> None:  # request: a TCP server's socket
        if "_slots" not in self.__dict__:
            self._slots = threading.BoundedSemaphore(self.max_workers)
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(self._BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True).start()

    def _serve_one(self: Any, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own rule: any error of a request goes to handle_error
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's default prints a traceback to stderr; a dropped or timed-out client is routine.
        logger.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])


class _ThreadingServer(BoundedThreads, WSGIServer):
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6  # an IPv6 address such as "::"


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT_S  # per socket read: a client that stalls is dropped

    def log_message(self, format: str, *args: Any) -> None:  # `format`: the stdlib's parameter name
        # The stdlib hands over a %-format and its arguments: the prefix joins the format, not a value.
        logger.debug("%s " + format, self.address_string(), *args)  # noqa: G003


class ExporterServer:
    """Serves `app` on host:port from a background thread."""

    def __init__(self, app: WsgiApp, host: str = "0.0.0.0", port: int = 9847) -> None:
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        self._httpd = make_server(host, port, app, server_class, handler_class=_QuietHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> ExporterServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="exporter-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ExporterServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
