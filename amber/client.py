"""Typed client for the Amber public API; the only module that imports httpx.

One `AmberClient` per process holds one connection pool. Each call: validate arguments (refusing
locally what Amber would answer with 422), wait for the shared `RateBudget`, send, map the status to
the exception tree in `amber.errors`, parse with `amber.parse`. Unavailable (5xx, timeout, connection)
is retried with capped exponential backoff and full jitter, bounded in count and total sleep; a 429
waits for the reset, a bounded number of times; 4xx are never retried. Counters per endpoint and
outcome are kept for the exporter to publish.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Self, TypeVar
from urllib.parse import quote

# httpx imports its optional command-line client (click, rich, pygments: ~15 MB resident on a Pi)
# whenever those are installed, and rich is (amber-home's terminal output). None in sys.modules makes
# that optional import fail at once, which httpx handles; it only helps if amber is imported first.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx

from amber.errors import (
    KEY_HELP_URL,
    AmberAuthError,
    AmberBadRequestError,
    AmberError,
    AmberNotFoundError,
    AmberRateLimitedError,
    AmberResponseError,
    AmberUnavailableError,
)
from amber.models import RESOLUTIONS, STATES, PriceInterval, Renewable, Site, Usage
from amber.parse import (
    BAD_OPTIONAL,
    DROPPED_INTERVAL,
    EXTRA_FIELD,
    SKIPPED_ITEM,
    UNKNOWN_TYPE,
    UNKNOWN_VALUE,
    ParseWarnings,
    parse_price_intervals,
    parse_renewables,
    parse_sites,
    parse_usage,
)
from amber.ratelimit import RateBudget, RateLimitHeaders, parse_rate_limit_headers
from amber.secret import mask

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.amber.com.au/v1"
DEFAULT_TIMEOUT = 30.0  # seconds for read/write/pool; connecting gets at most 10
MAX_RANGE_DAYS = 7  # Amber answers 422 for longer startDate..endDate ranges (inclusive)
MAX_INTERVALS = 2048  # Amber's cap on next + previous

ENDPOINTS = ("sites", "prices", "current_prices", "usage", "current_renewables")
OUTCOMES = ("ok", "auth", "not_found", "bad_request", "rate_limited", "unavailable", "bad_response")

_WARNING_TEMPLATES = {
    UNKNOWN_VALUE: "Amber %s: unknown value for %s: %s (first at %s); kept as received",
    UNKNOWN_TYPE: "Amber %s: unknown %s %s (first at %s); kept as received",
    EXTRA_FIELD: "Amber %s: new field %s%s (first at %s); kept in raw",
    BAD_OPTIONAL: "Amber %s: optional field %s has unexpected value %s (first at %s); read as missing, kept in raw",
    SKIPPED_ITEM: "Amber %s: skipped an item of unknown type (field %s unreadable, type %s, first at %s)",
    DROPPED_INTERVAL: "Amber %s: dropped an interval whose %s is %s (first at %s); the others are kept",
}


def _user_agent() -> str:
    try:
        version = importlib.metadata.version("amber-home")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"amber-home/{version}"


class AmberClient:
    """Amber API client. Thread-safe; use as a context manager or call `close()`.

    `api_key` is a plain string (config and secret handling live elsewhere) and never appears in
    logs, exceptions or repr. `transport`, `clock`, `sleeper` and `rng` are injectable for tests.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        budget: RateBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], Any] = time.sleep,
        max_retries: int = 4,
        max_retry_seconds: float = 120.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        max_rate_limit_waits: int = 2,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError(f"api_key must be a non-empty string; create one at {KEY_HELP_URL}")
        if max_retries < 0 or max_rate_limit_waits < 0:
            raise ValueError("max_retries and max_rate_limit_waits must be >= 0")
        # Keys read from files often end in a newline, which is not part of the key.
        self.__key = api_key.strip()
        self._base_url = base_url
        self._sleeper = sleeper
        self._budget = budget if budget is not None else RateBudget(clock=clock, sleeper=sleeper)
        self._max_retries = max_retries
        self._max_retry_seconds = max_retry_seconds
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_rate_limit_waits = max_rate_limit_waits
        self._rng = rng if rng is not None else random.Random()
        self._http = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {self.__key}",
                "User-Agent": _user_agent(),
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._lock = threading.Lock()
        self._counts = {e: dict.fromkeys(OUTCOMES, 0) for e in ENDPOINTS}
        self._retries = dict.fromkeys(ENDPOINTS, 0)
        self._parse_warnings = dict.fromkeys(ENDPOINTS, 0)
        self._dropped = dict.fromkeys(ENDPOINTS, 0)
        self._warned: set[tuple[str, str, str]] = set()

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AmberClient(base_url={self._base_url!r}, api_key='***')"

    # -- public API ---------------------------------------------------------------------------------

    @property
    def budget(self) -> RateBudget:
        return self._budget

    def sites(self) -> list[Site]:
        """`GET /sites`: every site on the account."""
        return self._fetch("sites", "/sites", {}, parse_sites)

    def prices(self, site_id: str, start: dt.date, end: dt.date, resolution: int | None = None) -> list[PriceInterval]:
        """`GET /sites/{id}/prices` for NEM dates start..end inclusive (at most 7 days)."""
        endpoint = "prices"
        params = _date_range(endpoint, start, end) | _resolution(endpoint, resolution)
        return self._fetch(endpoint, f"{_site_path(endpoint, site_id)}/prices", params, parse_price_intervals)

    def current_prices(
        self, site_id: str, next: int = 0, previous: int = 0, resolution: int | None = None
    ) -> list[PriceInterval]:
        """`GET /sites/{id}/prices/current`: the current interval plus `next` forecast and `previous`
        actual intervals per channel."""
        endpoint = "current_prices"
        params = _window(endpoint, next, previous) | _resolution(endpoint, resolution)
        path = f"{_site_path(endpoint, site_id)}/prices/current"
        return self._fetch(endpoint, path, params, parse_price_intervals)

    def usage(self, site_id: str, start: dt.date, end: dt.date, resolution: int | None = None) -> list[Usage]:
        """`GET /sites/{id}/usage` for NEM dates start..end inclusive (at most 7 days)."""
        endpoint = "usage"
        params = _date_range(endpoint, start, end) | _resolution(endpoint, resolution)
        return self._fetch(endpoint, f"{_site_path(endpoint, site_id)}/usage", params, parse_usage)

    def current_renewables(
        self, state: str, next: int = 0, previous: int = 0, resolution: int | None = None
    ) -> list[Renewable]:
        """`GET /state/{state}/renewables/current` for nsw, vic, qld or sa."""
        endpoint = "current_renewables"
        if not isinstance(state, str) or state.lower() not in STATES:
            raise AmberBadRequestError(
                f"Amber {endpoint}: state must be one of {', '.join(sorted(STATES))}, got {state!r}",
                endpoint=endpoint,
            )
        params = _window(endpoint, next, previous) | _resolution(endpoint, resolution)
        return self._fetch(endpoint, f"/state/{state.lower()}/renewables/current", params, parse_renewables)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters since creation, all keys present from the start (for `_total` metrics):
        `requests[endpoint][outcome]` counts HTTP attempts by outcome, `retries[endpoint]` the
        backoff retries, `parse_warnings[endpoint]` lenient-parse warnings, `dropped_intervals[endpoint]`
        intervals dropped because their data was impossible (NaN, reversed, …)."""
        with self._lock:
            return {
                "requests": {e: dict(o) for e, o in self._counts.items()},
                "retries": dict(self._retries),
                "parse_warnings": dict(self._parse_warnings),
                "dropped_intervals": dict(self._dropped),
            }

    # -- plumbing -----------------------------------------------------------------------------------

    def _count(self, endpoint: str, outcome: str) -> None:
        with self._lock:
            self._counts[endpoint][outcome] += 1

    def _redact(self, text: str) -> str:
        return mask(text, (self.__key,))

    def _fetch(self, endpoint: str, path: str, params: dict[str, str], parser: Callable[..., list[T]]) -> list[T]:
        data = self._request(endpoint, path, params)
        warnings = ParseWarnings()
        try:
            items = parser(data, endpoint=endpoint, warnings=warnings)
        except AmberResponseError:
            self._count(endpoint, "bad_response")
            raise
        self._count(endpoint, "ok")
        self._report(endpoint, warnings)
        return items

    def _report(self, endpoint: str, warnings: ParseWarnings) -> None:
        with self._lock:
            self._parse_warnings[endpoint] += len(warnings)
            self._dropped[endpoint] += sum(1 for w in warnings if w.kind == DROPPED_INTERVAL)
            fresh = [w for w in warnings.distinct() if w.key not in self._warned]
            self._warned.update(w.key for w in fresh)
        for w in fresh:
            value = "" if w.kind == EXTRA_FIELD else w.value if w.kind == DROPPED_INTERVAL else _short(w.value)
            logger.warning(_WARNING_TEMPLATES.get(w.kind, "Amber %s: %s %s at %s"), endpoint, w.field, value, w.where)

    def _request(self, endpoint: str, path: str, params: dict[str, str]) -> Any:
        """Send with retries; return the decoded JSON body of a 2xx response."""
        failures = 0
        slept = 0.0
        rate_limit_waits = 0
        while True:
            self._budget.acquire()
            cause: Exception | None = None
            status: int | None = None
            try:
                response = self._http.get(path, params=params)
            except httpx.TimeoutException as exc:
                cause = exc
                problem = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                cause = exc
                problem = f"connection failed ({type(exc).__name__}: {self._redact(str(exc))[:200]})"
            else:
                logger.debug("Amber %s: GET %s -> HTTP %d", endpoint, response.request.url.path, response.status_code)
                status = response.status_code
                headers = parse_rate_limit_headers(response.headers)
                if status == 429:
                    self._wait_for_reset(endpoint, headers, rate_limit_waits)
                    rate_limit_waits += 1
                    continue  # the budget now blocks acquire() until the reset
                self._budget.observe(headers)
                if 200 <= status < 300:
                    return self._decode(endpoint, response)
                if status < 500:
                    raise self._client_error(endpoint, response)
                problem = f"HTTP {status}: {self._api_message(response)}"

            self._count(endpoint, "unavailable")
            delay = self._rng.uniform(0.0, min(self._backoff_cap, self._backoff_base * 2**failures))
            if failures >= self._max_retries or slept + delay > self._max_retry_seconds:
                raise AmberUnavailableError(
                    f"Amber {endpoint}: unavailable after {failures + 1} attempts; last: {problem}",
                    endpoint=endpoint,
                    status=status,
                ) from cause
            failures += 1
            slept += delay
            with self._lock:
                self._retries[endpoint] += 1
            logger.warning(
                "Amber %s: %s; retry %d of %d in %.1f s", endpoint, problem, failures, self._max_retries, delay
            )
            self._sleeper(delay)

    def _wait_for_reset(self, endpoint: str, headers: RateLimitHeaders, waits_so_far: int) -> None:
        """Handle a 429: block the budget until the reset, or raise once the waits are used up."""
        self._count(endpoint, "rate_limited")
        wait = self._budget.rate_limited(headers)
        if waits_so_far >= self._max_rate_limit_waits:
            raise AmberRateLimitedError(
                f"Amber {endpoint}: rate limited (HTTP 429) after {waits_so_far} waits; "
                f"the account's budget resets in {wait:.0f} s",
                endpoint=endpoint,
                reset_seconds=headers.reset_seconds,
                remaining=headers.remaining,
                limit=headers.limit,
                policy=headers.policy,
                retry_after=headers.retry_after,
            )
        logger.warning(
            "Amber %s: rate limited (HTTP 429, policy %s); waiting %.0f s for the reset (wait %d of %d)",
            endpoint,
            headers.policy,
            wait,
            waits_so_far + 1,
            self._max_rate_limit_waits,
        )

    def _decode(self, endpoint: str, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            self._count(endpoint, "bad_response")
            raise AmberResponseError(
                f"Amber {endpoint}: HTTP {response.status_code} body is not valid JSON "
                f"({response.headers.get('content-type', 'no content-type')}, {len(response.content)} bytes): "
                f"{self._redact(response.text[:120])!r}",
                endpoint=endpoint,
                status=response.status_code,
            ) from exc

    def _api_message(self, response: httpx.Response) -> str:
        """The API's own explanation, if any, trimmed and with the key removed."""
        text = response.text
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for name in ("message", "error", "errors", "detail"):
                if name in body:
                    value = body[name]
                    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                    break
        text = re.sub(r"\s+", " ", text).strip()
        return self._redact(text)[:300] or "(empty body)"

    def _client_error(self, endpoint: str, response: httpx.Response) -> AmberError:
        status = response.status_code
        message = self._api_message(response)
        if status in (401, 403):
            self._count(endpoint, "auth")
            return AmberAuthError(
                f"Amber API refused the API key (HTTP {status}) on {endpoint}: {message}. "
                f"Check the configured key, or create a new one at {KEY_HELP_URL}",
                endpoint=endpoint,
                status=status,
            )
        if status == 404:
            self._count(endpoint, "not_found")
            return AmberNotFoundError(
                f"Amber {endpoint}: not found (HTTP 404) at {response.request.url.path}: {message}",
                endpoint=endpoint,
                status=status,
            )
        if status >= 400:
            self._count(endpoint, "bad_request")
            return AmberBadRequestError(
                f"Amber {endpoint}: request refused (HTTP {status}): {message}",
                endpoint=endpoint,
                status=status,
                api_message=message,
            )
        # 1xx/3xx: redirects are not followed, so the API moved or a proxy is in the way.
        self._count(endpoint, "bad_response")
        return AmberResponseError(
            f"Amber {endpoint}: unexpected HTTP {status} at {response.request.url.path}",
            endpoint=endpoint,
            status=status,
        )


# -- argument checks (raise before any request is sent) -------------------------------------------


def _bad(endpoint: str, problem: str) -> AmberBadRequestError:
    return AmberBadRequestError(f"Amber {endpoint}: {problem}", endpoint=endpoint)


def _site_path(endpoint: str, site_id: str) -> str:
    if not isinstance(site_id, str) or not site_id.strip():
        raise _bad(endpoint, f"site_id must be a non-empty string, got {site_id!r}")
    return f"/sites/{quote(site_id, safe='')}"


def _date_range(endpoint: str, start: dt.date, end: dt.date) -> dict[str, str]:
    for name, value in (("start", start), ("end", end)):
        # datetime is a date subclass; its time part would be silently dropped.
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise _bad(endpoint, f"{name} must be a datetime.date, got {type(value).__name__}")
    if end < start:
        raise _bad(endpoint, f"end {end} is before start {start}")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise _bad(endpoint, f"{start}..{end} spans {days} days; Amber allows at most {MAX_RANGE_DAYS} per request")
    return {"startDate": start.isoformat(), "endDate": end.isoformat()}


def _window(endpoint: str, next: int, previous: int) -> dict[str, str]:
    for name, value in (("next", next), ("previous", previous)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _bad(endpoint, f"{name} must be a non-negative integer, got {value!r}")
    if next + previous > MAX_INTERVALS:
        raise _bad(endpoint, f"next + previous is {next + previous}; Amber allows at most {MAX_INTERVALS}")
    params = {}
    if next:
        params["next"] = str(next)
    if previous:
        params["previous"] = str(previous)
    return params


def _resolution(endpoint: str, resolution: int | None) -> dict[str, str]:
    if resolution is None:
        return {}  # the API's default (30)
    if isinstance(resolution, bool) or resolution not in RESOLUTIONS:
        raise _bad(endpoint, f"resolution must be one of {sorted(RESOLUTIONS)} minutes, got {resolution!r}")
    return {"resolution": str(resolution)}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
