"""Fetch one window of Amber history and write it through the shared write path (loader.db).

    load_window(client, conn, site, stream, start, end, *, now, resolution=None) -> WindowResult
    load_prices_window(client, conn, site, start, end, *, now, resolution=None) -> WindowResult
    load_usage_window(client, conn, site, start, end, *, now, resolution=None) -> WindowResult

A window is NEM dates `start`..`end` inclusive, at most 7 days apart (the client refuses more before
sending); one request each. Prices: Actual and Current intervals go to `prices` (fetched_at = now),
Forecast intervals to `forecasts` (issued_at = now). Usage goes to `usage`; a window that has no usage
yet (today, or a day Amber has not published) is an empty, successful write.

The HTTP request happens before any database work, so no transaction is held open while waiting on
Amber. The window's writes then run in one `conn.transaction()`: on their own they commit together;
inside a caller's open transaction they are a savepoint of it, so a caller can add its bookkeeping
(backfill_progress) and commit both at once. API errors (amber.errors) and database errors propagate;
a failed window writes nothing.

`now` is when the response was fetched (aware; the caller's clock, so tests and the simulator agree).
`resolution` goes to the API as given: None asks for its default (the site's interval length for
prices, 30 minutes for usage).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

import psycopg

from amber.models import PriceInterval, Site, Usage
from amber.nemtime import aware
from loader.db import WriteResult, write_forecasts, write_prices, write_usage
from loader.windows import PRICES, USAGE

__all__ = ["PRICES", "USAGE", "WindowResult", "load_prices_window", "load_usage_window", "load_window"]

logger = logging.getLogger(__name__)


class _Client(Protocol):
    def prices(
        self, site_id: str, start: dt.date, end: dt.date, resolution: int | None = None
    ) -> list[PriceInterval]: ...

    def usage(self, site_id: str, start: dt.date, end: dt.date, resolution: int | None = None) -> list[Usage]: ...


@dataclass(frozen=True)
class WindowResult:
    """What one window did: API requests made, and per table the write's result (None: the stream was
    not part of this window)."""

    requests: int = 1
    prices: WriteResult | None = None
    forecasts: WriteResult | None = None
    usage: WriteResult | None = None

    @property
    def written(self) -> int:
        """Rows inserted or updated across the tables."""
        return sum(r.written for r in (self.prices, self.forecasts, self.usage) if r is not None)

    @property
    def rows(self) -> int:
        """Rows the API returned for the window (forecasts included)."""
        return sum(r.rows for r in (self.prices, self.forecasts, self.usage) if r is not None)

    def of(self, stream: str) -> WriteResult | None:
        """The write of `stream`'s own table (prices or usage)."""
        return self.prices if stream == PRICES else self.usage


def load_window(
    client: _Client,
    conn: psycopg.Connection,
    site: Site,
    stream: str,
    start: dt.date,
    end: dt.date,
    *,
    now: dt.datetime,
    resolution: int | None = None,
) -> WindowResult:
    """GET one window of `stream` (PRICES or USAGE) of the site for NEM dates start..end and write it."""
    aware(now)  # ValueError before any request when `now` is naive
    if stream == PRICES:
        return _load_prices(client, conn, site, start, end, now=now, resolution=resolution)
    if stream == USAGE:
        return _load_usage(client, conn, site, start, end, now=now, resolution=resolution)
    raise ValueError(f"unknown stream {stream!r}")


def load_prices_window(client: _Client, conn: psycopg.Connection, site: Site, start: dt.date, end: dt.date,
                       *, now: dt.datetime, resolution: int | None = None) -> WindowResult:  # fmt: skip
    """GET the site's prices for NEM dates start..end and write them: actual/current -> prices,
    forecast -> forecasts."""
    return load_window(client, conn, site, PRICES, start, end, now=now, resolution=resolution)


def load_usage_window(client: _Client, conn: psycopg.Connection, site: Site, start: dt.date, end: dt.date,
                      *, now: dt.datetime, resolution: int | None = None) -> WindowResult:  # fmt: skip
    """GET the site's usage for NEM dates start..end and write it to `usage` (an empty answer writes
    nothing)."""
    return load_window(client, conn, site, USAGE, start, end, now=now, resolution=resolution)


def _load_prices(client: _Client, conn: psycopg.Connection, site: Site, start: dt.date, end: dt.date,
                 *, now: dt.datetime, resolution: int | None) -> WindowResult:  # fmt: skip
    intervals = client.prices(site.id, start, end, resolution=resolution)
    with conn.transaction():
        prices = write_prices(conn, site.id, intervals, fetched_at=now)
        forecasts = write_forecasts(conn, site.id, intervals, issued_at=now)
    logger.debug(
        "site %s prices %s..%s: %d intervals; prices %d written, %d kept; forecasts %d written, %d kept",
        site.id, start, end, len(intervals), prices.written, prices.kept, forecasts.written, forecasts.kept,
    )  # fmt: skip
    return WindowResult(requests=1, prices=prices, forecasts=forecasts)


def _load_usage(client: _Client, conn: psycopg.Connection, site: Site, start: dt.date, end: dt.date,
                *, now: dt.datetime, resolution: int | None) -> WindowResult:  # fmt: skip
    rows = client.usage(site.id, start, end, resolution=resolution)
    result = write_usage(conn, site.id, rows, fetched_at=now)
    logger.debug(
        "site %s usage %s..%s: %d rows; %d written, %d kept",
        site.id, start, end, len(rows), result.written, result.kept,
    )  # fmt: skip
    return WindowResult(requests=1, usage=result)
