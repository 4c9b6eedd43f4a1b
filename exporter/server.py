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
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from exporter.snapshot import Snapshot, SnapshotStore

logger = logging.getLogger(__name__)

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
    def _answer(start_response, status: int, content_type: str, body: bytes, extra=()) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up shutdown
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        logger.debug("%s " + format, self.address_string(), *args)


class ExporterServer:
    """Serves `app` on host:port from a background thread."""

    def __init__(self, app: WsgiApp, host: str = "0.0.0.0", port: int = 9847) -> None:
        server_class = _ThreadingServer
        if ":" in host:  # an IPv6 address such as "::"
            server_class = type("_ThreadingServer6", (_ThreadingServer,), {"address_family": socket.AF_INET6})
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
