"""The follow loop of `amber-home collect`: keep the database current, forever, without manual steps.

    state = FollowState(FollowOptions(...))
    plan_cycle(now, state) -> [Action, ...]     pure: what is due at `now`
    next_wake(now, state) -> datetime           pure: when something is next due
    Follower(client, connect, options=..., clock=..., sleeper=...)
        .run_cycle() -> CycleReport             plan, execute, repeat until nothing is due (one cycle)
        .run(stop=None, until=None)             cycles, sleeping (injected sleeper) until the next wake

What a cycle does (see loader/schedule.py for when)
    RefreshSites     GET /sites at start and every 6 h; upsert sites and channels. Only AMBER_SITE_ID's
                     sites when set. Closed and pending sites are kept for healing but not polled live.
    PollPrices       GET /sites/{id}/prices/current?previous=P&next=N at each slot of an open site:
                     P = the last hour of actuals (at least 2 intervals), N = FORECAST_HOURS (48 h, the
                     top of the forecast ladder) of forecasts. Actual and current intervals go to `prices`
                     (write_prices: an actual replaces the current row, a current never downgrades an
                     actual), forecasts to `forecasts` with issued_at = now (write_forecasts keeps one
                     row per horizon bucket). To keep writes small, the whole horizon is written every
                     30 minutes (slots on :00 and :30) and the next NEAR_FORECAST (2 h) at other slots,
                     so buckets up to 1 h keep 5-minute precision and longer ones 30-minute precision.
                     Re-polls (while the current price is an estimate) ask for previous=1, next=0 and are
                     skipped, not delayed, when the account has REPOLL_HEADROOM requests or fewer left
                     above the exporter's reserve.
    RefetchUsage     hourly: GET /usage for the last USAGE_REFETCH_DAYS NEM days up to yesterday (today is
                     empty by design), so late meter data arrives and 'estimated' rows become 'billable'.
    HealGaps         at start, hourly, and after every outage: loader.gaps.heal over GAP_HEAL_DAYS. Days
                     Amber did not serve when asked are not asked again for UNSERVED_RETRY (24 h).
    RefreshAggregates
                     In the cycle that wrote prices or usage. Timescale license: exactly the buckets the
                     written rows touch (loader.aggregates.refresh_written: a few day- and month-wide
                     windows, cheap), the current hour, day and month included; the refresh policies only
                     catch up on what the loader could not do. Apache build (materialized views, refreshed
                     whole): right away after usage or healing writes, at most every AGGREGATES_EVERY
                     (5 minutes) for price writes. A failed refresh keeps its spans and is tried again
                     after AGGREGATES_RETRY.
    PruneForecasts   Apache build: SELECT amber_prune_forecasts() at start and daily.

Request arithmetic (Amber: 50 requests per 5 minutes per account, shared with the exporter)
    The loader's client keeps EXPORTER_REQUEST_SHARE (default 12) in reserve: it never sends more than
    50 - 12 = 38 in any 5 minutes, and the RateLimit-* headers (which count the whole account) stop it
    earlier when the exporter has used more. Per site and 5 minutes:
        5-minute site    1 poll + at most 4 re-polls (usually 0: the first poll comes after the final
                         price) + 1/12 usage + 1/72 sites + healing (0 when nothing is missing)
                         = about 1.1, at most 5.1
        30-minute site   2 polls per 30 minutes (+ at most 4 re-polls in the last 5 minutes) + 1/12
                         usage = about 0.45, at most 4.5 in its busiest 5 minutes
    Healing costs one request per missing window (at most 7 NEM dates): after an outage of a week
    (GAP_HEAL_DAYS=7), 2 for prices (8 dates up to today) and 1 for usage per site, once. One 5-minute
    site: 1-6 of the loader's 38 in any 5 minutes; the exporter adds 2-12 of its own.

Resilience: the loop never dies on API errors (unavailable, rate limited, bad response: one log line,
back off exponentially from 30 s to 5 min, or until the rate-limit reset) or database errors (one line,
reconnect with backoff from 5 s to 5 min). Nothing is polled while the database is down (it could not be
written); after any outage the next cycle heals what was missed. An authentication error is fatal:
`AmberAuthError` propagates to the caller, which exits with the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import psycopg

from amber.client import MAX_RANGE_DAYS, AmberClient
from amber.errors import (
    AmberAuthError,
    AmberBadRequestError,
    AmberError,
    AmberNotFoundError,
    AmberRateLimitedError,
)
from amber.models import CURRENT_INTERVAL, FORECAST_INTERVAL, PriceInterval, Site
from amber.nemtime import day_range, floor_time, nem_today
from amber.ratelimit import can_spare
from amber.secret import first_line
from loader.aggregates import CONTINUOUS, MATERIALIZED_VIEW, Span, aggregate_kind_or_none, merge_spans, refresh_written
from loader.gaps import date_windows, heal
from loader.schedule import (
    AGGREGATES_EVERY,
    HEAL_EVERY,
    PRUNE_EVERY,
    SITES_EVERY,
    USAGE_EVERY,
    Slot,
    backoff,
    last_slot,
    next_repoll,
    next_slot,
)

__all__ = [
    "Action",
    "CycleReport",
    "FatalError",
    "FollowOptions",
    "FollowState",
    "Follower",
    "HealGaps",
    "PollPrices",
    "PruneForecasts",
    "RefetchUsage",
    "RefreshAggregates",
    "RefreshSites",
    "SkipRepoll",
    "next_wake",
    "plan_cycle",
    "usage_windows",
]

logger = logging.getLogger(__name__)

FORECAST_HOURS = 48  # the forecast ladder's top bucket (2880 min)
NEAR_FORECAST = dt.timedelta(hours=2)
FULL_FORECAST_EVERY = dt.timedelta(minutes=30)
PREVIOUS_MINUTES = 60
REPOLL_HEADROOM = 3  # re-poll only while the account has more than reserve + this many requests left
UNSERVED_RETRY = dt.timedelta(hours=24)
AGGREGATES_RETRY = dt.timedelta(minutes=1)
API_BACKOFF = (30.0, 300.0)  # base, cap seconds
DB_BACKOFF = (5.0, 300.0)
MAX_ROUNDS = 5  # plan/execute rounds per cycle (sites, then polls, then aggregates need three)
ONE_SECOND = dt.timedelta(seconds=1)


class FatalError(RuntimeError):
    """A problem the loop cannot outlive; the message says how to fix it."""


# -- options and state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowOptions:
    site_ids: tuple[str, ...] | None = None  # None: every site on the account
    usage_refetch_days: int = 3
    gap_heal_days: int = 7
    reserve: int = 12  # the exporter's share of the account's requests per 5 minutes
    history_start: dt.date | None = None  # HISTORICAL_START_DATE: gap healing never asks for older days

    @classmethod
    def from_settings(cls, settings) -> FollowOptions:
        return cls(
            site_ids=settings.site_ids,
            usage_refetch_days=settings.usage_refetch_days,
            gap_heal_days=settings.gap_heal_days,
            history_start=settings.historical_start_date,
            reserve=settings.exporter_request_share,
        )


@dataclass
class SitePolls:
    done: Slot | None = None  # the latest slot polled successfully
    last_poll_at: dt.datetime | None = None
    estimate: bool = False  # the current interval was an estimate at the last poll
    repolls: int = 0  # re-polls spent (or skipped) on `done`
    failures: int = 0
    retry_at: dt.datetime | None = None  # after a failure of this site only (e.g. 404)


@dataclass
class FollowState:
    options: FollowOptions = field(default_factory=FollowOptions)
    sites: dict[str, Site] = field(default_factory=dict)
    polls: dict[str, SitePolls] = field(default_factory=dict)
    # Due times; None means "now".
    sites_due: dt.datetime | None = None
    usage_due: dt.datetime | None = None
    heal_due: dt.datetime | None = None
    prune_due: dt.datetime | None = None
    # Aggregates.
    aggregate_kind: str | None = None
    written: list[Span] = field(default_factory=list)  # prices and usage written since the last refresh
    written_urgent: bool = False  # ... of which usage or healed rows
    refreshed_at: dt.datetime | None = None
    refresh_retry_at: dt.datetime | None = None  # after a failed refresh

    def note_written(self, span: Span | None, *, urgent: bool = False) -> None:
        """Rows were written into [start, end) of prices or usage: their buckets need a refresh."""
        if span is not None:
            self.written = merge_spans([*self.written, span])
            self.written_urgent = self.written_urgent or urgent
    # Failures.
    api_failures: int = 0
    api_retry_at: dt.datetime | None = None
    db_failures: int = 0
    db_retry_at: dt.datetime | None = None
    budget_remaining: int | None = None  # requests the account has left, as the client last knew
    unserved: dict[tuple[str, str], tuple[frozenset[dt.date], dt.datetime]] = field(default_factory=dict)

    def live_sites(self, today: dt.date) -> list[Site]:
        return [s for s in self.sites.values() if s.is_live(today)]


# -- actions -----------------------------------------------------------------------------------------------


# Each action says, in one place, how the Follower runs it (`run`), how a log line names it (`what`),
# whether it needs the API (`uses_api`: skipped while API requests are paused) and when to try it again
# after a failure that is not an outage (`defer`, on the normal cadence rather than at once).


@dataclass(frozen=True)
class RefreshSites:
    uses_api: ClassVar[bool] = True
    what: ClassVar[str] = "reading /sites"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._refresh_sites(now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        state.sites_due = now + backoff(1, base=API_BACKOFF[1])


@dataclass(frozen=True)
class PollPrices:
    site_id: str
    slot: Slot
    repoll: bool = False
    uses_api: ClassVar[bool] = True

    @property
    def what(self) -> str:
        return f"{'re-poll' if self.repoll else 'poll'} of current prices for site {self.site_id}"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._poll(self, now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        polls = state.polls.setdefault(self.site_id, SitePolls())
        polls.failures += 1
        polls.retry_at = now + backoff(polls.failures, base=API_BACKOFF[0], cap=3600.0)


@dataclass(frozen=True)
class SkipRepoll:
    site_id: str
    uses_api: ClassVar[bool] = False
    what: ClassVar[str] = "SkipRepoll"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._skip_repoll(self, now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        pass  # nothing was due that could be tried again


@dataclass(frozen=True)
class RefetchUsage:
    windows: tuple[tuple[str, dt.date, dt.date], ...]  # (site_id, first, last) NEM dates
    uses_api: ClassVar[bool] = True
    what: ClassVar[str] = "usage re-fetch"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._refetch_usage(self, now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        state.usage_due = now + USAGE_EVERY


@dataclass(frozen=True)
class HealGaps:
    uses_api: ClassVar[bool] = True
    what: ClassVar[str] = "gap healing"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._heal(now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        state.heal_due = now + HEAL_EVERY


@dataclass(frozen=True)
class RefreshAggregates:
    spans: tuple[Span, ...]  # the buckets to refresh (the Apache build refreshes everything anyway)
    uses_api: ClassVar[bool] = False
    what: ClassVar[str] = "refreshing the aggregates"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._refresh_aggregates(self, now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        state.refresh_retry_at = now + AGGREGATES_RETRY  # the spans stay: the buckets are still stale


@dataclass(frozen=True)
class PruneForecasts:
    uses_api: ClassVar[bool] = False
    what: ClassVar[str] = "pruning forecasts"

    def run(self, follower: Follower, now: dt.datetime) -> None:
        follower._prune(now)

    def defer(self, state: FollowState, now: dt.datetime) -> None:
        state.prune_due = now + PRUNE_EVERY


Action = RefreshSites | PollPrices | SkipRepoll | RefetchUsage | HealGaps | RefreshAggregates | PruneForecasts


# -- the pure plan -------------------------------------------------------------------------------------------


def _due(when: dt.datetime | None, now: dt.datetime) -> bool:
    return when is None or when <= now


def usage_windows(sites: Iterable[Site], *, today: dt.date, days: int) -> list[tuple[str, dt.date, dt.date]]:
    """(site_id, first, last) windows re-fetching the last `days` NEM days of usage up to yesterday,
    within each site's supply period, at most 7 days each."""
    out = []
    for site in sites:
        span = site.supplied(today - dt.timedelta(days=days), today - dt.timedelta(days=1))
        if span is not None:
            out += [(site.id, a, b) for a, b in date_windows(day_range(*span), max_days=MAX_RANGE_DAYS)]
    return out


def _repoll_allowed(state: FollowState) -> bool:
    return can_spare(state.budget_remaining, state.options.reserve + REPOLL_HEADROOM)


def plan_cycle(now: dt.datetime, state: FollowState) -> list[Action]:
    """Everything due at `now`, in the order to do it: sites, price polls (time-critical), usage,
    healing, then database-only work. Pure: reads `state`, changes nothing."""
    if state.db_retry_at is not None and now < state.db_retry_at:
        return []
    actions: list[Action] = []
    api_ok = state.api_retry_at is None or now >= state.api_retry_at
    if api_ok:
        if not state.sites or _due(state.sites_due, now):
            actions.append(RefreshSites())
            if not state.sites:
                return actions  # nothing else is known until /sites answers
        today = nem_today(now)
        for site in state.live_sites(today):
            polls = state.polls.get(site.id, SitePolls())
            if polls.retry_at is not None and now < polls.retry_at:
                continue
            slot = last_slot(now, site.interval_minutes)
            if polls.done is None or polls.done.at < slot.at:
                actions.append(PollPrices(site.id, slot))
            elif polls.estimate and polls.last_poll_at is not None:
                when = next_repoll(polls.done, polls.repolls, polls.last_poll_at)
                if when is not None and when <= now:
                    allowed = _repoll_allowed(state)
                    actions.append(PollPrices(site.id, polls.done, repoll=True) if allowed else SkipRepoll(site.id))
        if _due(state.usage_due, now):
            days = state.options.usage_refetch_days
            actions.append(RefetchUsage(tuple(usage_windows(state.sites.values(), today=today, days=days))))
        if _due(state.heal_due, now):
            actions.append(HealGaps())
    refresh_at = _aggregates_due(state)
    if refresh_at is not None and refresh_at <= now:
        actions.append(RefreshAggregates(tuple(state.written)))
    if state.aggregate_kind == MATERIALIZED_VIEW and _due(state.prune_due, now):
        actions.append(PruneForecasts())
    return actions


def _aggregates_due(state: FollowState) -> dt.datetime | None:
    """When the written spans are next due for a refresh; None when there is nothing to refresh."""
    if not state.written or state.aggregate_kind not in (CONTINUOUS, MATERIALIZED_VIEW):
        return None
    due = dt.datetime.min.replace(tzinfo=dt.UTC)  # at once
    if state.aggregate_kind == MATERIALIZED_VIEW and not state.written_urgent and state.refreshed_at is not None:
        due = state.refreshed_at + AGGREGATES_EVERY  # a whole refresh per price poll would be too much
    if state.refresh_retry_at is not None:
        due = max(due, state.refresh_retry_at)
    return due


def next_wake(now: dt.datetime, state: FollowState) -> dt.datetime:
    """When the next action falls due (at least one second after `now`)."""
    floor = now + ONE_SECOND
    if state.db_retry_at is not None and now < state.db_retry_at:
        return max(state.db_retry_at, floor)
    api: list[dt.datetime] = []
    other: list[dt.datetime] = []
    today = nem_today(now)
    for site in state.live_sites(today):
        polls = state.polls.get(site.id, SitePolls())
        if polls.done is None or polls.done.at < last_slot(now, site.interval_minutes).at:
            due = now  # its latest slot is still to poll
        else:
            due = next_slot(now, site.interval_minutes).at
            if polls.estimate and polls.last_poll_at is not None:
                repoll = next_repoll(polls.done, polls.repolls, polls.last_poll_at)
                due = min(due, repoll) if repoll is not None else due
        if polls.retry_at is not None:
            due = max(due, polls.retry_at)
        api.append(due)
    api += [d for d in (state.sites_due, state.usage_due, state.heal_due) if d is not None]
    if not state.sites or any(d is None for d in (state.sites_due, state.usage_due, state.heal_due)):
        api.append(now)
    if state.api_retry_at is not None:
        api = [max(a, state.api_retry_at) for a in api]
    refresh_at = _aggregates_due(state)
    if refresh_at is not None:
        other.append(max(refresh_at, now))
    if state.aggregate_kind == MATERIALIZED_VIEW:
        other.append(now if state.prune_due is None else state.prune_due)
    wake = min(api + other, default=now + SITES_EVERY)
    return max(wake, floor)


# -- results --------------------------------------------------------------------------------------------------


@dataclass
class CycleReport:
    started: dt.datetime
    requests: int = 0
    polls: int = 0
    prices_written: int = 0
    forecasts_written: int = 0
    usage_written: int = 0
    healed_windows: int = 0
    aggregates_refreshed: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return (
            f"{self.requests} request(s), {self.polls} price poll(s); written: {self.prices_written} price, "
            f"{self.forecasts_written} forecast and {self.usage_written} usage row(s); "
            f"{self.healed_windows} window(s) healed"
        )


class _StopCycle(Exception):
    """The database went away: end the cycle, reconnect later."""



# -- the executor -----------------------------------------------------------------------------------------------


class Follower:
    """Runs the plan against the API and the database. `connect()` returns a new psycopg connection
    (autocommit on: each write path call commits on its own); `clock()` returns aware UTC now;
    `sleeper(seconds)` waits (tests advance a simulated clock instead)."""

    def __init__(
        self,
        client: AmberClient,
        connect: Callable[[], psycopg.Connection],
        *,
        options: FollowOptions | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        sleeper: Callable[[float], object] = time.sleep,
        log_problems: bool = True,
    ) -> None:
        self._client = client
        self._connect = connect
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._sleeper = sleeper
        self._log_problems = log_problems
        self.state = FollowState(options or FollowOptions())
        self._conn: psycopg.Connection | None = None
        self._report: CycleReport | None = None
        self._warned_missing: set[str] = set()

    # -- lifecycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def run(self, stop=None, until: dt.datetime | None = None) -> None:
        """Cycle until `stop` (a threading.Event) is set or the clock reaches `until`. Raises
        AmberAuthError or FatalError; everything else is logged and outlived."""
        while not (stop is not None and stop.is_set()):
            now = self._clock()
            if until is not None and now >= until:
                break
            self.run_cycle()
            now = self._clock()
            wake = next_wake(now, self.state)
            if until is not None:
                wake = min(wake, until)
            delay = (wake - now).total_seconds()
            logger.debug("next wake at %s (in %.0f s)", wake.isoformat(timespec="seconds"), delay)
            if delay > 0:
                self._sleeper(delay)

    def run_cycle(self) -> CycleReport:
        """Do everything due now; return what was done and the problems met (each logged as one line)."""
        report = self._report = CycleReport(self._clock())
        sent_before = self._client.budget.requests_sent
        try:
            if self._ensure_db(report.started):
                for _ in range(MAX_ROUNDS):
                    now = self._clock()
                    self.state.budget_remaining = self._client.budget.remaining
                    actions = plan_cycle(now, self.state)
                    if not actions:
                        break
                    for action in actions:
                        if action.uses_api and not self._api_open(now):
                            continue
                        self._execute(action, now)
        except _StopCycle:
            pass
        finally:
            report.requests = self._client.budget.requests_sent - sent_before
            self._report = None
        logger.debug("cycle: %s", report.summary())
        return report

    # -- problems -------------------------------------------------------------------------------------

    def _problem(self, message: str, *args: object) -> None:
        text = message % args if args else message
        if self._log_problems:
            logger.warning("%s", text)
        if self._report is not None:
            self._report.problems.append(text)

    def _api_open(self, now: dt.datetime) -> bool:
        return self.state.api_retry_at is None or now >= self.state.api_retry_at

    def _api_succeeded(self, now: dt.datetime) -> None:
        state = self.state
        if state.api_failures:
            logger.info("Amber API answering again after %d failed attempt(s); healing gaps", state.api_failures)
            state.heal_due = now
        state.api_failures = 0
        state.api_retry_at = None

    def _api_failed(self, exc: AmberError, now: dt.datetime, what: str) -> None:
        state = self.state
        if isinstance(exc, AmberRateLimitedError):
            # Until the client's budget sends again (no hint: one window), so no request then waits in it.
            wait = dt.timedelta(seconds=self._client.budget.rate_limit_wait(exc.wait_seconds))
            state.api_retry_at = now + wait
            self._problem("Amber API rate limit reached (%s); pausing API requests for %.0f s", what, wait.total_seconds())
            return
        state.api_failures += 1
        delay = backoff(state.api_failures, base=API_BACKOFF[0], cap=API_BACKOFF[1])
        state.api_retry_at = now + delay
        self._problem("%s failed: %s; retrying in %.0f s", what, exc, delay.total_seconds())

    def _ensure_db(self, now: dt.datetime) -> bool:
        state = self.state
        if self._conn is not None and not self._conn.closed:
            return True
        if state.db_retry_at is not None and now < state.db_retry_at:
            return False
        try:
            conn = self._connect()
            state.aggregate_kind = aggregate_kind_or_none(conn)
        except psycopg.Error as exc:
            self._db_failed(exc, now, "connecting to the database")
            return False
        self._conn = conn
        if state.db_failures:
            logger.info("database reachable again after %d failed attempt(s); healing gaps", state.db_failures)
            state.heal_due = now
        state.db_failures = 0
        state.db_retry_at = None
        return True

    def _db_failed(self, exc: psycopg.Error, now: dt.datetime, what: str) -> None:
        state = self.state
        self.close()
        state.db_failures += 1
        delay = backoff(state.db_failures, base=DB_BACKOFF[0], cap=DB_BACKOFF[1])
        state.db_retry_at = now + delay
        self._problem("database unavailable (%s): %s; reconnecting in %.0f s", what, first_line(exc), delay.total_seconds())

    def _db(self) -> psycopg.Connection:
        if self._conn is None:
            raise _StopCycle
        return self._conn

    # -- actions --------------------------------------------------------------------------------------

    def _execute(self, action: Action, now: dt.datetime) -> None:
        try:
            action.run(self, now)
        except AmberAuthError:
            raise
        except (AmberBadRequestError, AmberNotFoundError) as exc:
            # A request this loop built was refused: a bug or a vanished site, not an outage.
            self._refused(action, exc, now)
        except AmberError as exc:
            self._api_failed(exc, now, action.what)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or self._conn is None or self._conn.closed:
                self._db_failed(exc, now, action.what)
                raise _StopCycle from exc
            # The statement failed but the connection is fine (e.g. a constraint): report, carry on.
            self._problem("%s failed in the database: %s", action.what, first_line(exc))
            action.defer(self.state, now)
        except (FatalError, _StopCycle):
            raise
        except Exception as exc:  # a bug, or data no one expected: the loop must outlive it
            logger.debug("%s failed", action.what, exc_info=True)
            self._problem("%s failed unexpectedly: %s: %s", action.what, type(exc).__name__, first_line(exc))
            action.defer(self.state, now)

    def _refused(self, action: Action, exc: AmberError, now: dt.datetime) -> None:
        self._problem("%s refused by the Amber API: %s", action.what, exc)
        action.defer(self.state, now)
        if isinstance(exc, AmberNotFoundError) and not isinstance(action, RefreshSites):
            # A site may have left the account: read /sites again soon rather than in hours.
            soon = now + dt.timedelta(minutes=5)
            self.state.sites_due = soon if self.state.sites_due is None else min(self.state.sites_due, soon)

    def _refresh_sites(self, now: dt.datetime) -> None:
        state = self.state
        listed = self._client.sites()
        self._api_succeeded(now)
        wanted = state.options.site_ids
        sites = [s for s in listed if wanted is None or s.id in wanted]
        if wanted is not None:
            missing = [i for i in wanted if i not in {s.id for s in listed}]
            if missing and not sites:
                raise FatalError(
                    f"none of the sites in AMBER_SITE_ID ({', '.join(wanted)}) is on this Amber account; "
                    f"it has: {', '.join(s.id for s in listed) or 'no sites'}. Fix AMBER_SITE_ID or unset it"
                )
            for site_id in missing:
                if site_id not in self._warned_missing:
                    self._warned_missing.add(site_id)
                    self._problem("AMBER_SITE_ID lists %s, which is not on this Amber account; ignoring it", site_id)
        from loader.db import upsert_sites

        upsert_sites(self._db(), sites)
        before = {s.id: (s.status, s.closed_on, s.interval_length, s.channels) for s in state.sites.values()}
        state.sites = {s.id: s for s in sites}
        state.sites_due = now + SITES_EVERY
        after = {s.id: (s.status, s.closed_on, s.interval_length, s.channels) for s in sites}
        if after != before:
            today = nem_today(now)
            logger.info(
                "following %d site(s): %s",
                len(sites),
                "; ".join(_site_line(s, today) for s in sites) or "none",
            )

    def _poll(self, action: PollPrices, now: dt.datetime) -> None:
        from loader.db import write_forecasts, write_prices

        state = self.state
        site = state.sites.get(action.site_id)
        if site is None:  # gone from /sites since the plan was made
            return
        minutes = site.interval_minutes
        polls = state.polls.setdefault(site.id, SitePolls())
        full = polls.done is None or action.slot.boundary == floor_time(action.slot.boundary, FULL_FORECAST_EVERY)
        previous = 1 if action.repoll else max(2, PREVIOUS_MINUTES // minutes)
        horizon = dt.timedelta(0) if action.repoll else dt.timedelta(hours=FORECAST_HOURS) if full else NEAR_FORECAST
        following = horizon // dt.timedelta(minutes=minutes)
        intervals = self._client.current_prices(site.id, next=following, previous=previous)
        self._api_succeeded(now)
        forecasts = _forecasts_to_keep(intervals, now, full=full)
        conn = self._db()
        with conn.transaction():
            prices = write_prices(conn, site.id, intervals, fetched_at=now)
            written_forecasts = write_forecasts(conn, site.id, forecasts, issued_at=now) if forecasts else None
        estimate = any(i.interval_type == CURRENT_INTERVAL and i.estimate for i in intervals)
        polls.repolls = polls.repolls + 1 if action.repoll and polls.done == action.slot else 0
        polls.done = action.slot
        polls.last_poll_at = now
        polls.estimate = estimate
        polls.failures = 0
        polls.retry_at = None
        report = self._report
        if report is not None:
            report.polls += 1
            report.prices_written += prices.written
            report.forecasts_written += written_forecasts.written if written_forecasts is not None else 0
        state.note_written(prices.span)
        logger.debug(
            "site %s: %s %s: %d price row(s) written, current %s",
            site.id, "re-poll" if action.repoll else "poll", action.slot.at.isoformat(timespec="seconds"),
            prices.written, "estimate" if estimate else "final",
        )  # fmt: skip

    def _skip_repoll(self, action: SkipRepoll, now: dt.datetime) -> None:
        polls = self.state.polls.setdefault(action.site_id, SitePolls())
        polls.repolls += 1
        polls.last_poll_at = now
        logger.info(
            "site %s: estimate re-poll skipped: the account has %s request(s) left in this window and %d are "
            "kept for the exporter", action.site_id, self.state.budget_remaining, self.state.options.reserve,
        )  # fmt: skip

    def _refetch_usage(self, action: RefetchUsage, now: dt.datetime) -> None:
        from loader.sync import load_usage_window

        state = self.state
        written = 0
        for site_id, first, last in action.windows:
            site = state.sites.get(site_id)
            if site is None:
                continue
            result = load_usage_window(self._client, self._db(), site, first, last, now=now)
            self._api_succeeded(now)
            if result.usage is not None:
                written += result.usage.written
                state.note_written(result.usage.span, urgent=True)
        state.usage_due = now + USAGE_EVERY
        if self._report is not None:
            self._report.usage_written += written
        if written:
            logger.info("usage re-fetched (%d window(s)): %d row(s) new or revised", len(action.windows), written)

    def _heal(self, now: dt.datetime) -> None:
        state = self.state
        options = state.options
        skip = {key: dates for key, (dates, until) in state.unserved.items() if until > now}
        state.unserved = {key: value for key, value in state.unserved.items() if value[1] > now}
        today = nem_today(now)
        report = heal(
            self._client,
            self._db(),
            list(state.sites.values()),
            now=now,
            days=options.gap_heal_days,
            usage_settled_before=today - dt.timedelta(days=options.usage_refetch_days),
            skip=skip,
            since=options.history_start,
        )
        if report.requests:
            self._api_succeeded(now)
        state.heal_due = now + HEAL_EVERY
        for key, dates in report.unserved.items():
            state.unserved[key] = (frozenset(dates), now + UNSERVED_RETRY)
            logger.info(
                "site %s: Amber served no %s for part of %s; not asking again for %d h",
                key[0], key[1], _dates_text(dates), UNSERVED_RETRY.total_seconds() // 3600,
            )  # fmt: skip
        if self._report is not None:
            self._report.healed_windows += len(report.windows)
            self._report.usage_written += report.usage_written
            self._report.prices_written += report.written - report.usage_written
        if report.windows:
            logger.info(
                "healed %d gap(s) with %d window(s) (%s): %d row(s) written, %d interval(s) still missing",
                report.gaps_before, len(report.windows),
                ", ".join(f"{s} {st} {a}..{b}" for s, st, a, b in report.windows), report.written, report.gaps_after,
            )  # fmt: skip
        for span in report.spans:
            state.note_written(span, urgent=True)

    def _refresh_aggregates(self, action: RefreshAggregates, now: dt.datetime) -> None:
        state = self.state
        names = refresh_written(self._db(), action.spans)
        state.refreshed_at = now
        state.refresh_retry_at = None
        state.written = []
        state.written_urgent = False
        if self._report is not None:
            self._report.aggregates_refreshed = True
        logger.debug("refreshed %s", ", ".join(names))

    def _prune(self, now: dt.datetime) -> None:
        from loader.db import prune_forecasts

        dropped = prune_forecasts(self._db(), now)
        self.state.prune_due = now + PRUNE_EVERY
        if dropped:
            logger.info("pruned %d forecast chunk(s) older than 90 days", dropped)


def _forecasts_to_keep(intervals: Sequence[PriceInterval], now: dt.datetime, *, full: bool) -> list[PriceInterval]:
    forecasts = [i for i in intervals if i.interval_type == FORECAST_INTERVAL]
    if full:
        return forecasts
    horizon = now + NEAR_FORECAST
    return [i for i in forecasts if i.start_time < horizon]


def _site_line(site: Site, today: dt.date) -> str:
    minutes = site.interval_minutes
    if site.is_live(today):
        state = "polled live"
    elif site.status == "closed" or (site.closed_on is not None and site.closed_on < today):
        state = f"closed on {site.closed_on}, history only"
    else:
        state = f"{site.status}, not polled"
    return f"{site.id} ({minutes}-minute, {state})"


def _dates_text(dates: Iterable[dt.date]) -> str:
    ordered = sorted(dates)
    return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]} ({len(ordered)} day(s))"
