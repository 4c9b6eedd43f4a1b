"""Amber's HTTP API as a function: (method, target, headers) -> Response, with no sockets.

Order of checks for each request, as a real gateway would apply them:
route (404) -> method (405) -> Bearer key (401; `/state/.../renewables` needs none) -> rate limit
(429) -> injected faults (5xx) -> parameters and site (422/404) -> 200 JSON. Requests that pass the
key check count against the budget; every counted response carries the RateLimit-* headers. Unknown
query parameters are ignored, as Amber does. One DEBUG line per request, without the key.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from simulator import render
from simulator.nemtime import nem_midnight
from simulator.simulation import Simulation
from simulator.weather import REGIONS

logger = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^\d{1,9}$")
_ROUTES: list[tuple[re.Pattern, str, bool]] = [
    (re.compile(r"^/v1/sites$"), "sites", True),
    (re.compile(r"^/v1/sites/(?P<site>[^/]+)/prices$"), "prices", True),
    (re.compile(r"^/v1/sites/(?P<site>[^/]+)/prices/current$"), "prices_current", True),
    (re.compile(r"^/v1/sites/(?P<site>[^/]+)/usage$"), "usage", True),
    (re.compile(r"^/v1/state/(?P<state>[^/]+)/renewables/current$"), "renewables_current", False),
]
ENDPOINTS = tuple(name for _, name, _ in _ROUTES)


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay_seconds: float = 0.0
    endpoint: str = "other"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()



class Headers(Protocol):
    """What the API reads of request headers: a dict in tests, the server's case-insensitive
    email.message.Message (not a Mapping) on the wire."""

    def get(self, name: str, /) -> str | None: ...


def _message(status: int, message: str, headers: list[tuple[str, str]] | None = None, **kw) -> Response:
    return Response(status, _json({"message": message}), [("Content-Type", "application/json"), *(headers or [])], **kw)


class Api:
    def __init__(self, simulation: Simulation) -> None:
        self.sim = simulation
        self._handlers: dict[str, Callable[[dict, dict, float], object]] = {
            "sites": self._sites,
            "prices": self._prices,
            "prices_current": self._prices_current,
            "usage": self._usage,
            "renewables_current": self._renewables_current,
        }

    def handle(self, method: str, target: str, headers: Headers) -> Response:
        response = self._handle(method, target, headers)
        self.sim.stats.record(response.endpoint, response.status)
        logger.debug('"%s %s" %d %d bytes', method, urlsplit(target).path, response.status, len(response.body))
        return response

    def _handle(self, method: str, target: str, headers: Headers) -> Response:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        for pattern, endpoint, needs_key in _ROUTES:  # noqa: B007 - the matching route's, read after the loop
            match = pattern.match(path)
            if match:
                break
        else:
            return _message(404, "Not Found")
        if method != "GET":
            return _message(405, "Method Not Allowed", [("Allow", "GET")], endpoint=endpoint)

        token = _bearer(headers.get("Authorization"))
        if needs_key and not _same_key(token, self.sim.config.api_key):
            return _message(401, "Unauthorized", endpoint=endpoint)

        decision = self.sim.limiter.check(token if token is not None else "anonymous")
        limit_headers = decision.headers()
        if not decision.allowed:
            return _message(429, "Too Many Requests", limit_headers, endpoint=endpoint)

        fault = self.sim.faults.draw(endpoint)
        delay = fault.delay_seconds
        if fault.status is not None:
            error = "Internal server error"
            return _message(fault.status, error, limit_headers, delay_seconds=delay, endpoint=endpoint)

        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        now = self.sim.clock.timestamp()
        try:
            payload = self._handlers[endpoint](match.groupdict(), query, now)
        except ApiError as exc:
            return _message(exc.status, exc.message, limit_headers, delay_seconds=delay, endpoint=endpoint)
        body = _json(payload)
        if fault.truncate:
            body = body[: len(body) // 2]
        return Response(
            200,
            body,
            [("Content-Type", "application/json"), *limit_headers],
            delay_seconds=delay,
            endpoint=endpoint,
        )

    # -- endpoints ----------------------------------------------------------------------------------

    def _sites(self, _params: dict, _query: dict, now: float) -> list:
        today = self.sim.today(now)
        return [render.site(site, today) for site in self.sim.sites()]

    def _prices(self, params: dict, query: dict, now: float) -> list:
        site = self._site(params["site"])
        today = self.sim.today(now)
        first, last = self._date_range(query, default=today, required=False)
        minutes = _resolution(query, default=site.interval_length)
        starts = range(nem_midnight(first), nem_midnight(last) + 86400, minutes * 60)
        return self.sim.price_records(site, starts, minutes, now)

    def _prices_current(self, params: dict, query: dict, now: float) -> list:
        site = self._site(params["site"])
        following, previous = self._next_previous(query)
        minutes = _resolution(query, default=site.interval_length)
        return self.sim.price_records(site, self.sim.around_now(now, minutes, previous, following), minutes, now)

    def _usage(self, params: dict, query: dict, now: float) -> list:
        site = self._site(params["site"])
        first, last = self._date_range(query, default=None, required=True)
        minutes = _resolution(query, default=30)
        return self.sim.usage_records(site, first, last, minutes, now)

    def _renewables_current(self, params: dict, query: dict, now: float) -> list:
        state = params["state"].lower()
        if state not in REGIONS:
            raise ApiError(404, "State not found")
        following, previous = self._next_previous(query)
        minutes = _resolution(query, default=30)
        return self.sim.renewable_records(state, self.sim.around_now(now, minutes, previous, following), minutes, now)

    # -- parameters ---------------------------------------------------------------------------------

    def _site(self, site_id: str):
        site = self.sim.site(site_id)
        if site is None:
            raise ApiError(404, "Site not found")
        return site

    def _date_range(self, query: dict, *, default: dt.date | None, required: bool) -> tuple[dt.date, dt.date]:
        first = _date(query, "startDate", default, required)
        last = _date(query, "endDate", default, required)
        if last < first:
            raise ApiError(422, "endDate must be on or after startDate")
        limit = self.sim.config.max_range_days
        if (last - first).days > limit:
            raise ApiError(422, f"The date range (endDate - startDate) must be {limit} days or less")
        return first, last

    def _next_previous(self, query: dict) -> tuple[int, int]:
        following = _count(query, "next")
        previous = _count(query, "previous")
        limit = self.sim.config.max_intervals
        if following + previous > limit:
            raise ApiError(422, f"next + previous must be {limit} or less")
        return following, previous


def _same_key(token: str | None, key: str) -> bool:
    return token is not None and hmac.compare_digest(token.encode(), key.encode())


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _date(query: dict, name: str, default: dt.date | None, required: bool) -> dt.date:
    raw = query.get(name)
    if raw is None:
        if required or default is None:
            raise ApiError(422, f"{name} is required (YYYY-MM-DD)")
        return default
    if not _DATE.match(raw):
        raise ApiError(422, f"{name} must be a date formatted YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{name} is not a valid date") from None


def _resolution(query: dict, *, default: int) -> int:
    raw = query.get("resolution")
    if raw is None:
        return default
    if raw not in ("5", "30"):
        raise ApiError(422, "resolution must be 5 or 30")
    return int(raw)


def _count(query: dict, name: str) -> int:
    raw = query.get(name)
    if raw is None:
        return 0
    if not _INT.match(raw):
        raise ApiError(422, f"{name} must be a non-negative integer")
    return int(raw)
