"""`amber-home backfill`: load each site's price and usage history into the database, resumably.

    run_backfill(client, database, *, start_date=None, site_ids=None, ...) -> BackfillResult
    prepare_backfill(client, database, *, start_date=None, site_ids=None, ...) -> Plan   (dry run)
    backfill_client(settings, *, reserve=None, **options) -> AmberClient

What it does
    1. GET /sites; keep AMBER_SITE_ID's sites (or all); upsert them and their channels.
    2. Read the completed windows from backfill_progress and plan the rest (loader.windows: windows of
       at most 7 NEM days, consecutive, oldest first; prices to today, usage to yesterday).
    3. Per window: fetch (one request), keep only the window's own NEM days, then write the rows and
       the window's backfill_progress row in ONE transaction (loader.db's upserts nest as savepoints).
       The fetch happens before the transaction (as in loader.sync, whose routing it follows: actual
       and current -> prices, forecast -> forecasts), so no transaction waits on the rate limit, and
       a write retried after a lost connection reuses the response instead of spending a request.
       A window killed at any point — even kill -9 — either committed with its progress row or left
       nothing, so the next run fetches exactly the days that are missing: no gap, no duplicate, no
       repeated request for a completed window. Windows touching yesterday or today are written but
       left open (completed_at NULL) and fetched again by the next run; see loader.windows.
    4. Refresh the aggregates every `refresh_every` windows and once at the end (loader.aggregates:
       whole materialized views on the Apache build, only the buckets of the rows written since the last
       refresh on TimescaleDB TSL). A periodic refresh waits, for up to another `refresh_every` windows, for a
       moment when the rate limit makes the next request wait anyway, so it adds no time.

Pacing
    The client's RateBudget spaces the requests by the RateLimit-* headers and keeps `reserve` requests
    per window for the exporter (EXPORTER_REQUEST_SHARE); `backfill_client` builds it. A backfill by
    itself therefore never meets a 429 and runs as fast as the limit allows. If another program on the
    account exhausts the budget anyway, the client waits for the reset and retries; when it gives up
    (AmberRateLimitedError) the backfill waits for the reset too and fetches the window again.

Failures (each logged as one line, never with the API key)
    - 5xx/timeouts outlasting the client's retries, and unusable bodies (e.g. truncated JSON): the window
      is fetched again after a pause, up to `RetryPolicy.window_attempts` times; then it is reported as
      failed and the backfill goes on (a rerun retries it). Several windows failing in a row stop it.
    - The database going away (restart, pg_terminate_backend): reconnect with backoff for up to
      `RetryPolicy.db_retry_seconds` and write the already-fetched window again — no extra request.
    - A rejected key (AmberAuthError) or anything unexpected stops the backfill at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg

from amber.client import AmberClient
from amber.errors import AmberNotFoundError, AmberRateLimitedError, AmberResponseError, AmberUnavailableError
from amber.models import Site
from loader import db
from loader.aggregates import AggregateError, Span, merge_spans, refresh_written
from loader.progress import NullProgress, ProgressReporter, RateState, WindowEvent, eta_seconds
from loader.windows import (
    PRICES,
    Plan,
    SiteDays,
    Window,
    nem_today,
    plan_backfill,
    site_days,
    window_is_final,
)
from runtime.database import connect

__all__ = [
    "APPLICATION_NAME",
    "REFRESH_EVERY",
    "BackfillError",
    "BackfillResult",
    "RetryPolicy",
    "backfill_client",
    "completed_windows",
    "prepare_backfill",
    "run_backfill",
    "select_sites",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

APPLICATION_NAME = "amber-home backfill"
REFRESH_EVERY = 50  # windows between aggregate refreshes (about 7 minutes at 38 requests per 5 minutes)


class _GaveUp(Exception):
    def __init__(self, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts")
        self.attempts = attempts


class BackfillError(RuntimeError):
    """The backfill cannot go on; the message is one line saying why and what to do. Everything
    committed so far stays, so running again continues where it stopped."""


@dataclass(frozen=True)
class RetryPolicy:
    window_attempts: int = 5  # fetches of one window when Amber is unavailable or its body unusable
    retry_delay: float = 20.0  # seconds before the 2nd fetch of a window; grows linearly with attempts
    rate_limited_attempts: int = 30  # times in a row the client may give up on 429s for one window
    consecutive_failures: int = 3  # failed windows in a row that stop the backfill (Amber is down)
    db_retry_seconds: float = 300.0  # how long to keep reconnecting to the database
    db_retry_delay: float = 0.5  # first reconnect pause; doubles up to db_retry_max_delay
    db_retry_max_delay: float = 15.0


@dataclass(frozen=True)
class BackfillResult:
    plan: Plan
    requests: int = 0  # window fetches (each one API request, plus the client's own retries)
    windows_done: int = 0
    windows_complete: int = 0  # recorded as complete
    windows_open: int = 0  # written but left open (touch yesterday/today, or usage not final yet)
    failed: tuple[Window, ...] = ()
    rows: int = 0  # rows the API returned for the windows' days
    rows_written: int = 0  # rows inserted or updated
    rate_limited: int = 0  # times the backfill waited for a rate-limit reset
    refreshes: int = 0  # aggregate refreshes
    elapsed: float = 0.0  # seconds

    @property
    def windows_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Tally:
    requests: int = 0
    windows_done: int = 0
    windows_complete: int = 0
    windows_open: int = 0
    failed: list[Window] = field(default_factory=list)
    rows: int = 0
    rows_written: int = 0
    rate_limited: int = 0
    refreshes: int = 0
    work_seconds: float = 0.0  # time of windows fetched without waiting for the budget
    work_windows: int = 0


def backfill_client(settings: Any, *, reserve: int | None = None, **options: Any) -> AmberClient:
    """The client for a backfill: its budget keeps the exporter's share (`settings.
    exporter_request_share`) per window unless `reserve` says otherwise (a benchmark passes 0)."""
    from amber.ratelimit import DEFAULT_LIMIT
    from runtime.client import client_from_settings

    keep = settings.exporter_request_share if reserve is None else reserve
    if keep >= DEFAULT_LIMIT:
        logger.warning(
            "EXPORTER_REQUEST_SHARE=%d leaves the backfill nothing of Amber's %d requests per 5 minutes;"
            " it keeps %d in reserve instead",
            keep,
            DEFAULT_LIMIT,
            DEFAULT_LIMIT - 1,
        )
        keep = DEFAULT_LIMIT - 1
    return client_from_settings(settings, reserve=keep, **options)


def select_sites(sites: Sequence[Site], site_ids: Sequence[str] | None) -> list[Site]:
    """`sites` limited to `site_ids` (all when None), or BackfillError naming the unknown ids."""
    if not site_ids:
        return list(sites)
    by_id = {s.id: s for s in sites}
    unknown = [i for i in site_ids if i not in by_id]
    if unknown:
        seen = ", ".join(by_id) or "none"
        raise BackfillError(
            f"site {', '.join(unknown)} is not on this Amber account (the API key sees: {seen});"
            " check AMBER_SITE_ID or --site"
        )
    return [by_id[i] for i in dict.fromkeys(site_ids)]


def completed_windows(conn: psycopg.Connection, site_ids: Sequence[str]) -> dict[tuple[str, str], list]:
    """Completed windows per (site_id, stream), as (first, last) NEM dates."""
    done: dict[tuple[str, str], list] = {}
    if not site_ids:
        return done
    rows = conn.execute(
        "SELECT site_id, stream, window_start, window_end FROM backfill_progress"
        " WHERE site_id = ANY(%s) AND completed_at IS NOT NULL ORDER BY 1, 2, 3",
        (list(site_ids),),
    ).fetchall()
    for site_id, stream, start, end in rows:
        done.setdefault((site_id, stream), []).append((start, end))
    return done


# Clear stale open rows inside the window (left by an earlier plan on another grid), then record it.
_CLEAR_OPEN = (
    "DELETE FROM backfill_progress WHERE site_id = %s AND stream = %s AND completed_at IS NULL"
    " AND window_start > %s AND window_start <= %s"
)
_RECORD = (
    "INSERT INTO backfill_progress AS p (site_id, stream, window_start, window_end, completed_at, rows)"
    " VALUES (%s, %s, %s, %s, CASE WHEN %s THEN now() END, %s)"
    " ON CONFLICT (site_id, stream, window_start) DO UPDATE"
    " SET window_end = EXCLUDED.window_end, completed_at = EXCLUDED.completed_at, rows = EXCLUDED.rows"
    " WHERE p.completed_at IS NULL OR EXCLUDED.completed_at IS NOT NULL"
)


def _record_progress(conn: psycopg.Connection, window: Window, *, rows: int, complete: bool) -> None:
    conn.execute(_CLEAR_OPEN, (window.site_id, window.stream, window.start, window.end))
    conn.execute(_RECORD, (window.site_id, window.stream, window.start, window.end, complete, rows))


_STATUS = (
    "INSERT INTO backfill_status AS s (site_id, done_days, remaining_days, eta_seconds, updated_at, finished_at)"
    " VALUES (%s, %s, %s, %s, now(), CASE WHEN %s THEN now() END)"
    " ON CONFLICT (site_id) DO UPDATE SET done_days = EXCLUDED.done_days,"
    " remaining_days = EXCLUDED.remaining_days, eta_seconds = EXCLUDED.eta_seconds,"
    " updated_at = EXCLUDED.updated_at, finished_at = EXCLUDED.finished_at"
)


def _record_status(conn: psycopg.Connection, status: SiteDays, eta: float | None, *, finished: bool) -> None:
    """backfill_status for the exporter's progress metrics (sql/012); skipped before that migration."""
    if conn.execute("SELECT to_regclass('backfill_status') IS NOT NULL").fetchone()[0]:
        for site_id, (done, remaining) in status.items():
            conn.execute(_STATUS, (site_id, done, remaining, eta, finished))


def _event_eta(event: WindowEvent) -> float:
    """The ETA the log line shows (loader.progress), for backfill_status."""
    return eta_seconds(event.requests_total - event.requests_done, event.rate, event.seconds_per_request)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Backfill:
    def __init__(
        self,
        client: AmberClient,
        database: Any,
        *,
        clock: Callable[[], dt.datetime],
        monotonic: Callable[[], float],
        sleeper: Callable[[float], Any],
        progress: ProgressReporter,
        refresh_every: int,
        retry: RetryPolicy,
        connect_db: Callable[[], psycopg.Connection] | None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.monotonic = monotonic
        self.sleeper = sleeper
        self.progress = progress
        self.refresh_every = refresh_every
        self.retry = retry
        self._connect_db = connect_db or (lambda: connect(database, application_name=APPLICATION_NAME, autocommit=True))
        self._conn: psycopg.Connection | None = None
        self.tally = _Tally()
        self._pending: list[Span] = []  # spans of the rows written since the last refresh
        self._since_refresh = 0
        self._aggregates_missing = False

    # -- database, with reconnects ------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def db(self, doing: str, work: Callable[[psycopg.Connection], T]) -> T:
        """Run `work(conn)`; if the connection fails, reconnect with backoff and run it again."""
        deadline: float | None = None
        delay = self.retry.db_retry_delay
        lost_at = 0.0
        while True:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self.close()
                    self._conn = self._connect_db()
                result = work(self._conn)
            except psycopg.OperationalError as exc:
                self.close()
                now = self.monotonic()
                if deadline is None:
                    deadline, lost_at = now + self.retry.db_retry_seconds, now
                    logger.warning(
                        "database connection failed while %s (%s); reconnecting for up to %.0f s",
                        doing,
                        _first_line(exc),
                        self.retry.db_retry_seconds,
                    )
                else:
                    logger.debug("database still unreachable: %s", _first_line(exc))
                if now >= deadline:
                    raise BackfillError(
                        f"the database was unreachable for {self.retry.db_retry_seconds:.0f} s while {doing}"
                        f" ({_first_line(exc)}); everything committed before is kept: run the backfill"
                        " again when the database is back"
                    ) from exc
                self.sleeper(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, self.retry.db_retry_max_delay)
                continue
            if deadline is not None:
                logger.info("database reachable again after %.1f s; %s", self.monotonic() - lost_at, doing)
            return result

    # -- the run ------------------------------------------------------------------------------------

    def prepare(self, start_date: dt.date | None, site_ids: Sequence[str] | None) -> Plan:
        try:
            sites = select_sites(self.api("Amber /sites", "asking", self.client.sites), site_ids)
        except _GaveUp as exc:
            raise BackfillError(
                f"cannot list the sites: Amber failed {exc.attempts} times ({exc.__cause__}); run the backfill"
                " again later"
            ) from exc.__cause__
        self.db("saving sites and channels", lambda conn: db.upsert_sites(conn, sites))
        done = self.db("reading backfill progress", lambda conn: completed_windows(conn, [s.id for s in sites]))
        plan = plan_backfill(sites, start_date=start_date, today=nem_today(self.clock()), done=done)
        for skipped in plan.skipped:
            logger.warning("site %s skipped: %s", skipped.site_id, skipped.reason)
        self.sites = {s.id: s for s in sites}
        return plan

    def run(self, plan: Plan) -> BackfillResult:
        started = self.monotonic()
        self.progress.start(plan)
        fetched: list[Window] = []
        self._status(site_days(plan, fetched), None, finished=not plan.windows)
        consecutive_failures = 0
        for window in plan.windows:
            site = self.sites[window.site_id]
            window_started = self.monotonic()
            budget_free = self._rate_state().remaining - self.client.budget.reserve > 0
            attempts_before = self.tally.requests + self._client_retries()
            try:
                outcome = self._window(site, window)
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                # The database refused this window's data (the parser drops what it knows to be impossible;
                # this is whatever it does not know yet): skip it, keep going, a rerun retries it.
                logger.error("%s: the database refused its data (%s); skipped — run the backfill again to retry it",
                             window, _first_line(exc))  # fmt: skip
                self.tally.failed.append(window)
                continue
            if outcome is None:
                self.tally.failed.append(window)
                consecutive_failures += 1
                if consecutive_failures >= self.retry.consecutive_failures:
                    raise BackfillError(
                        f"{consecutive_failures} windows in a row could not be fetched (last: {window});"
                        " the Amber API seems to be down — everything committed is kept: run the backfill"
                        " again later"
                    )
                continue
            consecutive_failures = 0
            rows, written, span, complete = outcome
            took = self.monotonic() - window_started
            # A fair sample of the work speed: no wait for the rate limit and no retry inside.
            if budget_free and self.tally.requests + self._client_retries() == attempts_before + 1:
                self.tally.work_seconds += took
                self.tally.work_windows += 1
            self.tally.windows_done += 1
            self.tally.rows += rows
            self.tally.rows_written += written
            if complete:
                self.tally.windows_complete += 1
            else:
                self.tally.windows_open += 1
            self._note_written(span)
            fetched.append(window)
            event = WindowEvent(
                    window=window,
                    rows=rows,
                    written=written,
                    complete=complete,
                    requests_done=self.tally.windows_done + len(self.tally.failed),
                    requests_total=plan.requests,
                    rows_written=self.tally.rows_written,
                    elapsed=self.monotonic() - started,
                    seconds_per_request=(
                        self.tally.work_seconds / self.tally.work_windows if self.tally.work_windows else took
                    ),
                    rate=self._rate_state(),
                )
            self.progress.window_done(event)
            self._status(site_days(plan, fetched), _event_eta(event), finished=False)
            if self._refresh_due():
                self._refresh()
        if self._pending:
            self._refresh()
        if plan.windows:
            self._status(site_days(plan, fetched), 0.0, finished=not self.tally.failed)
        t = self.tally
        result = BackfillResult(
            plan=plan,
            requests=t.requests,
            windows_done=t.windows_done,
            windows_complete=t.windows_complete,
            windows_open=t.windows_open,
            failed=tuple(t.failed),
            rows=t.rows,
            rows_written=t.rows_written,
            rate_limited=t.rate_limited,
            refreshes=t.refreshes,
            elapsed=self.monotonic() - started,
        )
        self.progress.finish(result)
        return result

    def _status(self, status: SiteDays, eta: float | None, *, finished: bool) -> None:
        """Progress for monitoring; a failure to write it never stops the backfill."""
        try:
            self.db("recording backfill status", lambda conn: _record_status(conn, status, eta, finished=finished))
        except psycopg.Error as exc:
            logger.warning("backfill status not recorded: %s", _first_line(exc))

    def _client_retries(self) -> int:
        return sum(self.client.stats()["retries"].values())

    def _refresh_due(self) -> bool:
        """After `refresh_every` windows, refresh while the next request would wait for the rate limit
        anyway (the refresh then costs no time); after twice as many, refresh regardless."""
        if not self.refresh_every or self._since_refresh < self.refresh_every:
            return False
        if self._since_refresh >= 2 * self.refresh_every:
            return True
        rate = self._rate_state()
        return bool(rate.blocked_for) or rate.remaining - rate.reserve <= 0

    def _rate_state(self) -> RateState:
        budget = self.client.budget
        now = time.monotonic()  # the budget's own clock (the client's default)
        reset_at, blocked = budget.reset_at, budget.blocked_until
        return RateState(
            limit=budget.limit,
            window=budget.window,
            reserve=budget.reserve,
            remaining=budget.remaining,
            reset_in=None if reset_at is None else max(0.0, reset_at - now),
            blocked_for=None if blocked is None else max(0.0, blocked - now),
        )

    # -- one window ---------------------------------------------------------------------------------

    def _window(self, site: Site, window: Window) -> tuple[int, int, Span | None, bool] | None:
        """Fetch and write one window; (rows, written, span of the prices or usage written, complete), or
        None when it failed."""
        items = self._fetch(site, window)
        if items is None:
            return None
        fetched_at = self.clock()
        kept = [i for i in items if window.start <= i.date <= window.end]
        if len(kept) != len(items):
            logger.debug("%s: dropped %d intervals outside the window's days", window, len(items) - len(kept))
        if window.stream == PRICES:
            complete = window_is_final(window, today=nem_today(fetched_at))
        else:
            complete = window_is_final(
                window,
                today=nem_today(fetched_at),
                estimated_rows=sum(1 for u in kept if u.quality == "estimated"),
                empty_days=window.days - len({u.date for u in kept}),
            )

        def write(conn: psycopg.Connection) -> tuple[int, Span | None]:
            with conn.transaction():
                if window.stream == PRICES:
                    aggregated = db.write_prices(conn, site.id, kept, fetched_at=fetched_at)
                    written = aggregated.written + db.write_forecasts(conn, site.id, kept, issued_at=fetched_at).written
                else:
                    aggregated = db.write_usage(conn, site.id, kept, fetched_at=fetched_at)
                    written = aggregated.written
                _record_progress(conn, window, rows=len(kept), complete=complete)
            return written, aggregated.span

        written, span = self.db(f"writing {window}", write)
        return len(kept), written, span, complete

    def _fetch(self, site: Site, window: Window) -> list | None:
        """The window's items, or None when Amber kept failing (reported; a rerun retries it)."""

        def request() -> list:
            self.tally.requests += 1
            if window.stream == PRICES:
                return self.client.prices(site.id, window.start, window.end, resolution=site.interval_length)
            return self.client.usage(site.id, window.start, window.end)

        try:
            return self.api(str(window), "fetching the window", request)
        except _GaveUp as exc:
            logger.error("%s: FAILED after %d attempts (%s); skipped — run the backfill again to retry it",
                         window, exc.attempts, exc.__cause__)  # fmt: skip
            return None
        except AmberNotFoundError as exc:
            raise BackfillError(
                f"{window}: Amber no longer knows site {site.id} ({exc}); run the backfill again to"
                " reload the site list"
            ) from exc

    def api(self, what: str, action: str, request: Callable[[], T]) -> T:
        """`request()`, surviving rate limits (wait for the reset, try again) and, up to
        `window_attempts` times, Amber being unavailable or answering with an unusable body. Raises
        _GaveUp (with the last error as its cause) when the attempts are used up."""
        attempts = 0
        rate_limited = 0
        while True:
            try:
                return request()
            except AmberRateLimitedError as exc:
                rate_limited += 1
                self.tally.rate_limited += 1
                if rate_limited > self.retry.rate_limited_attempts:
                    raise BackfillError(
                        f"{what}: still rate limited after waiting {rate_limited - 1} times; another program"
                        " is using up this API key's requests — stop it or run the backfill later"
                    ) from exc
                wait = exc.wait_seconds if exc.wait_seconds is not None else self.client.budget.window
                logger.warning(
                    "%s: rate limited by Amber (HTTP 429: another program is using this API key's requests);"
                    " waiting %.0f s for the reset, then %s again",
                    what,
                    wait,
                    action,
                )
                # The client's budget now blocks until the reset, so the next request waits there.
                if self.client.budget.blocked_until is None:
                    self.sleeper(wait)
            except (AmberUnavailableError, AmberResponseError) as exc:
                attempts += 1
                if attempts >= self.retry.window_attempts:
                    raise _GaveUp(attempts) from exc
                delay = self.retry.retry_delay * attempts
                logger.warning(
                    "%s: %s; %s again in %.0f s (attempt %d of %d)",
                    what,
                    exc,
                    action,
                    delay,
                    attempts + 1,
                    self.retry.window_attempts,
                )
                self.sleeper(delay)

    # -- aggregates ---------------------------------------------------------------------------------

    def _note_written(self, span: Span | None) -> None:
        if span is not None:
            self._pending = merge_spans([*self._pending, span])
        self._since_refresh += 1

    def _refresh(self) -> None:
        if not self._pending or self._aggregates_missing:
            return
        spans = self._pending
        try:
            self.db("refreshing the aggregates", lambda conn: refresh_written(conn, spans))
        except AggregateError as exc:
            self._aggregates_missing = True
            logger.warning("aggregates not refreshed: %s", exc)
            return
        logger.debug("aggregates refreshed for %s", ", ".join(f"{a} .. {b}" for a, b in spans))
        self.tally.refreshes += 1
        self._pending = []
        self._since_refresh = 0


def _make(client: AmberClient, database: Any, **kwargs: Any) -> _Backfill:
    return _Backfill(
        client,
        database,
        clock=kwargs.pop("clock", None) or _utc_now,
        monotonic=kwargs.pop("monotonic", None) or time.monotonic,
        sleeper=kwargs.pop("sleeper", None) or time.sleep,
        progress=kwargs.pop("progress", None) or NullProgress(),
        refresh_every=kwargs.pop("refresh_every", REFRESH_EVERY),
        retry=kwargs.pop("retry", None) or RetryPolicy(),
        connect_db=kwargs.pop("connect_db", None),
    )


def run_backfill(
    client: AmberClient,
    database: Any,
    *,
    start_date: dt.date | None = None,
    site_ids: Sequence[str] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    monotonic: Callable[[], float] | None = None,
    sleeper: Callable[[float], Any] | None = None,
    progress: ProgressReporter | None = None,
    refresh_every: int = REFRESH_EVERY,
    retry: RetryPolicy | None = None,
    connect_db: Callable[[], psycopg.Connection] | None = None,
) -> BackfillResult:
    """Backfill `site_ids` (None: every site of the key) from `start_date` (None: each site's
    activeFrom) into the migrated database at `database` (URL or Secret). `clock` gives aware "now"
    (NEM today derives from it), `sleeper` the backfill's own pauses (the client's budget sleeps on its
    own), `connect_db` overrides how connections are opened. Raises BackfillError (one-line message)
    when it has to stop; Amber auth errors propagate as AmberAuthError."""
    runner = _make(
        client,
        database,
        clock=clock,
        monotonic=monotonic,
        sleeper=sleeper,
        progress=progress,
        refresh_every=refresh_every,
        retry=retry,
        connect_db=connect_db,
    )
    try:
        plan = runner.prepare(start_date, site_ids)
        return runner.run(plan)
    finally:
        runner.progress.close()
        runner.close()


def prepare_backfill(
    client: AmberClient,
    database: Any,
    *,
    start_date: dt.date | None = None,
    site_ids: Sequence[str] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    connect_db: Callable[[], psycopg.Connection] | None = None,
) -> Plan:
    """The plan a backfill would run now, for --dry-run: one /sites request, reads backfill_progress
    once (a database that cannot be reached or is not migrated yet counts as nothing loaded), writes
    nothing."""
    clock = clock or _utc_now
    sites = select_sites(client.sites(), site_ids)
    done: dict = {}
    try:
        open_db = connect_db or (lambda: connect(database, application_name=APPLICATION_NAME, autocommit=True))
        with open_db() as conn:
            done = completed_windows(conn, [s.id for s in sites])
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable) as exc:
        logger.warning("backfill progress not read (%s); planning as if nothing was loaded yet", _first_line(exc))
    plan = plan_backfill(sites, start_date=start_date, today=nem_today(clock()), done=done)
    for skipped in plan.skipped:
        logger.warning("site %s skipped: %s", skipped.site_id, skipped.reason)
    return plan
