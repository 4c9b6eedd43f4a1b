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
from amber.nemtime import nem_today
from amber.ratelimit import DEFAULT_LIMIT, usable_reserve
from amber.secret import first_line
from loader import db
from loader.aggregates import AggregateError, Span, merge_spans, refresh_written
from loader.db import completed_windows
from loader.progress import NullProgress, ProgressReporter, RateState, WindowEvent, eta_seconds
from loader.windows import (
    PRICES,
    Plan,
    SiteDays,
    Window,
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
    "prepare_backfill",
    "run_backfill",
    "select_sites",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

APPLICATION_NAME = "amber-home backfill"
REFRESH_EVERY = 50  # windows between aggregate refreshes (about 7 minutes at 38 requests per 5 minutes)


# What one window did: (rows, written, span of the prices or usage written, complete).
_Outcome = tuple[int, int, Span | None, bool]
# How one window of the plan ended (_Backfill._step).
_DONE, _UNFETCHED, _REFUSED = "done", "unfetched", "refused"


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
    from runtime.client import client_from_settings

    share = settings.exporter_request_share if reserve is None else reserve
    keep = usable_reserve(share)
    if keep != share:
        logger.warning(
            "EXPORTER_REQUEST_SHARE=%d leaves the backfill nothing of Amber's %d requests per 5 minutes;"
            " it keeps %d in reserve instead",
            share,
            DEFAULT_LIMIT,
            keep,
        )
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


def _event_eta(event: WindowEvent) -> float:
    """The ETA the log line shows (loader.progress), for backfill_status."""
    return eta_seconds(event.requests_total - event.requests_done, event.rate, event.seconds_per_request)



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
                        first_line(exc),
                        self.retry.db_retry_seconds,
                    )
                else:
                    logger.debug("database still unreachable: %s", first_line(exc))
                if now >= deadline:
                    raise BackfillError(
                        f"the database was unreachable for {self.retry.db_retry_seconds:.0f} s while {doing}"
                        f" ({first_line(exc)}); everything committed before is kept: run the backfill"
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
        """Fetch and write every window of `plan`, newest first; stop when Amber seems down."""
        started = self.monotonic()
        self.progress.start(plan)
        fetched: list[Window] = []
        self._status(site_days(plan, fetched), None, finished=not plan.windows)
        unfetched_in_a_row = 0
        for window in plan.windows:
            step = self._step(plan, window, started, fetched)
            if step == _UNFETCHED:
                unfetched_in_a_row += 1
                self._stop_if_amber_is_down(unfetched_in_a_row, window)
            elif step == _DONE:
                unfetched_in_a_row = 0
        if self._pending:
            self._refresh()
        if plan.windows:
            self._status(site_days(plan, fetched), 0.0, finished=not self.tally.failed)
        result = self._result(plan, started)
        self.progress.finish(result)
        return result

    def _step(self, plan: Plan, window: Window, started: float, fetched: list[Window]) -> str:
        """One window: fetch, write, count, report; _DONE, _UNFETCHED (Amber kept failing) or _REFUSED
        (the database refused its data)."""
        window_started = self.monotonic()
        budget_free = self.client.budget.can_spare()
        attempts_before = self._attempts()
        try:
            outcome = self._window(self.sites[window.site_id], window)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            # The database refused this window's data (the parser drops what it knows to be impossible;
            # this is whatever it does not know yet): skip it, keep going, a rerun retries it.
            logger.error("%s: the database refused its data (%s); skipped — run the backfill again to retry it",
                         window, first_line(exc))  # fmt: skip
            self.tally.failed.append(window)
            return _REFUSED
        if outcome is None:
            self.tally.failed.append(window)
            return _UNFETCHED
        took = self.monotonic() - window_started
        # A fair sample of the work speed: no wait for the rate limit and no retry inside.
        self._count(outcome, took, sample=budget_free and self._attempts() == attempts_before + 1)
        fetched.append(window)
        self._report(plan, window, outcome, took, started, fetched)
        if self._refresh_due():
            self._refresh()
        return _DONE

    def _stop_if_amber_is_down(self, unfetched_in_a_row: int, window: Window) -> None:
        if unfetched_in_a_row >= self.retry.consecutive_failures:
            raise BackfillError(
                f"{unfetched_in_a_row} windows in a row could not be fetched (last: {window});"
                " the Amber API seems to be down — everything committed is kept: run the backfill"
                " again later"
            )

    def _count(self, outcome: _Outcome, took: float, *, sample: bool) -> None:
        rows, written, span, complete = outcome
        t = self.tally
        if sample:
            t.work_seconds += took
            t.work_windows += 1
        t.windows_done += 1
        t.rows += rows
        t.rows_written += written
        if complete:
            t.windows_complete += 1
        else:
            t.windows_open += 1
        self._note_written(span)

    def _report(
        self, plan: Plan, window: Window, outcome: _Outcome, took: float, started: float, fetched: list[Window]
    ) -> None:
        """The window's progress line (loader.progress) and backfill_status."""
        rows, written, _span, complete = outcome
        t = self.tally
        event = WindowEvent(
            window=window,
            rows=rows,
            written=written,
            complete=complete,
            requests_done=t.windows_done + len(t.failed),
            requests_total=plan.requests,
            rows_written=t.rows_written,
            elapsed=self.monotonic() - started,
            seconds_per_request=t.work_seconds / t.work_windows if t.work_windows else took,
            rate=self._rate_state(),
        )
        self.progress.window_done(event)
        self._status(site_days(plan, fetched), _event_eta(event), finished=False)

    def _result(self, plan: Plan, started: float) -> BackfillResult:
        t = self.tally
        return BackfillResult(
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

    def _status(self, status: SiteDays, eta: float | None, *, finished: bool) -> None:
        """Progress for monitoring; a failure to write it never stops the backfill."""
        try:
            self.db("recording backfill status", lambda conn: db.record_status(conn, status, eta, finished=finished))
        except psycopg.Error as exc:
            logger.warning("backfill status not recorded: %s", first_line(exc))

    def _attempts(self) -> int:
        """Requests sent so far: window fetches plus the client's own retries."""
        return self.tally.requests + sum(self.client.stats()["retries"].values())

    def _refresh_due(self) -> bool:
        """After `refresh_every` windows, refresh while the next request would wait for the rate limit
        anyway (the refresh then costs no time); after twice as many, refresh regardless."""
        if not self.refresh_every or self._since_refresh < self.refresh_every:
            return False
        if self._since_refresh >= 2 * self.refresh_every:
            return True
        return not self.client.budget.can_spare()

    def _rate_state(self) -> RateState:
        budget = self.client.budget
        return RateState(
            limit=budget.limit,
            window=budget.window,
            reserve=budget.reserve,
            remaining=budget.remaining,
            reset_in=budget.reset_in,
            blocked_for=budget.blocked_for,
        )

    # -- one window ---------------------------------------------------------------------------------

    def _window(self, site: Site, window: Window) -> _Outcome | None:
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
                db.record_progress(conn, window, rows=len(kept), complete=complete)
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
                wait = self.client.budget.rate_limit_wait(exc.wait_seconds)
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
        logger.warning("backfill progress not read (%s); planning as if nothing was loaded yet", first_line(exc))
    plan = plan_backfill(sites, start_date=start_date, today=nem_today(clock()), done=done)
    for skipped in plan.skipped:
        logger.warning("site %s skipped: %s", skipped.site_id, skipped.reason)
    return plan
